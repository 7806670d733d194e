"""Group commit for SQLite: the hot writes of one process share transactions.

SQLite has one writer at a time per file. Writing each request in its own transaction costs, in
that one writer's time, a trip through the write gate (a wake-up of another process or thread),
`BEGIN IMMEDIATE`, and a `COMMIT` that writes the changed pages to the WAL and syncs it. Under
load most of that is per transaction, not per write, and a writer in a worker thread also waits
for the event loop to let go of the GIL while every other writer waits for it.

So a process queues its hot writes and a drain task on the event loop writes all that are queued
at once: the gate is taken (waiting for it in a thread when another process holds it, during
which more writes queue up), then one transaction runs each write in its own savepoint, in the
order they came, and commits once. A write that raises rolls back to its savepoint and gets its
own error; the others are untouched. Nobody hears of success before the one `COMMIT` is done, so
a 2xx still means the write is on disk (with `synchronous=FULL`), and each write sees exactly
what the ones before it did, as if they had run one after the other."""

from __future__ import annotations

import asyncio
import sqlite3
import time
import weakref
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar
from weakref import WeakKeyDictionary

from anyio import to_thread
from sqlalchemy import Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from custody.db.engine import Database, WriteGate

T = TypeVar("T")
# Writes per transaction at most: bounds how long one process holds the gate while the other
# processes' writers wait.
MAX_BATCH = 64
# ... and seconds of writing per transaction at most (large writes, e.g. report batches).
MAX_HOLD = 0.02
# The page cache of the group commit's own connection (SQLite's default is 2 MB). At a million
# devices the index pages a take or a release walks no longer fit in 2 MB, and each page missed is
# a read from the OS: with 32 MB take/release ran 373 -> 726 ops/s. One connection per process has
# it; given to every pooled connection, it took workers to 210-230 MB.
PAGE_CACHE_KIB = 32 * 1024
Outcome = tuple[bool, Any]  # (succeeded, result or exception)
Queued = tuple[Callable[[Session], Any], "asyncio.Future[Any]"]


class GroupCommit:
    """The group commit of one SQLite database in one event loop (see the module)."""

    def __init__(self, db: Database, gate: WriteGate) -> None:
        self._db = db
        self._gate = gate
        self._queue: list[Queued] = []
        self._drain_task: asyncio.Task[None] | None = None
        self._connection: Connection | None = None  # kept for every batch, with its larger cache

    def _writer(self, *, patient: bool) -> Connection:
        if self._connection is None:
            self._connection = self._db.write_connection()
            # On the driver's connection: SQLAlchemy's would begin a transaction for the PRAGMA.
            self._connection.connection.driver_connection.execute(f"PRAGMA cache_size = -{PAGE_CACHE_KIB}")  # type: ignore[union-attr]
            weakref.finalize(self, _retire, self._connection)
        return self._connection.execution_options(custody_impatient=not patient)

    async def run(self, work: Callable[[Session], T]) -> T:
        """Run `work` in a savepoint of the next group transaction; return its result once that
        transaction has committed, or raise what `work` raised (nothing of it is kept)."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append((work, future))
        if self._drain_task is None:
            # A task, not a call: it starts after the requests already runnable have queued too.
            self._drain_task = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            taken_last = False
            while self._queue:
                # Right after its own commit, a process waits its turn like everyone else: a waiter
                # of another process, woken by that commit, must not lose the gate to it again.
                if taken_last or not self._gate.take(wait=False):
                    await to_thread.run_sync(self._gate.take)  # writes keep queueing meanwhile
                taken_last = True
                batch = self._queue[:MAX_BATCH]
                del self._queue[:MAX_BATCH]
                try:
                    try:
                        outcomes = self._write(batch, patient=False)
                    except _Busy:  # wait for that writer in a thread; the loop goes on serving
                        outcomes = await to_thread.run_sync(partial(self._write, batch, patient=True))
                except BaseException:  # interrupted (e.g. shutdown): nothing was kept, nobody waits for ever
                    for _, future in batch + self._queue:
                        future.cancel()
                    raise
                finally:
                    self._gate.give_back()
                # Next in line: the writes to run again, and what the time limit left.
                again = [queued for queued, outcome in zip(batch, outcomes, strict=False) if outcome is None]
                self._queue[:0] = again + batch[len(outcomes) :]
                for (_, future), outcome in zip(batch, outcomes, strict=False):
                    if outcome is None or future.done():  # to run again, or its request was cancelled
                        continue
                    ok, value = outcome
                    if ok:
                        future.set_result(value)
                    else:
                        future.set_exception(value)
        finally:
            self._drain_task = None

    def _write(self, batch: list[Queued], *, patient: bool) -> list[Outcome | None]:
        """Write the batch, or as much of it as fits in `MAX_HOLD` seconds (at least one), in one
        transaction: the outcome of each write it ran, in order; None for a write to run again (a
        later one's failure took the transaction down). Not `patient`, it raises `_Busy` at once,
        having written nothing, where BEGIN would wait for a writer that bypassed the gate."""
        outcomes: list[Outcome | None] = []
        started = time.monotonic()
        try:
            connection = self._writer(patient=patient)
            try:
                transaction = connection.begin()
            except OperationalError as error:
                if not patient and _is_busy(error):
                    raise _Busy from error
                raise
            # One session for the batch; each write in a savepoint of its own, set by plain
            # SQL (SQLAlchemy's nested transactions cost several times the statements' time).
            with transaction, Session(connection, join_transaction_mode="rollback_only") as session:
                driver: Any = connection.connection.driver_connection
                cursor = connection.connection.cursor()
                for work, future in batch:
                    if outcomes and time.monotonic() - started > MAX_HOLD:
                        break
                    if future.done():  # cancelled before it ran: it does nothing
                        outcomes.append((False, None))
                        continue
                    cursor.execute("SAVEPOINT write")
                    try:
                        result = work(session)
                        session.flush()
                    except Exception as error:
                        if not driver.in_transaction:
                            # A failed flush rolls back the session's whole transaction: this
                            # write fails; the ones before it run again in the next.
                            return [None] * len(outcomes) + [(False, error)]
                        cursor.execute("ROLLBACK TO write")
                        outcomes.append((False, error))
                    else:
                        outcomes.append((True, result))
                    cursor.execute("RELEASE write")
                    session.expunge_all()  # the next write starts from a clean session
        except _Busy:
            raise
        except Exception as error:  # BEGIN or COMMIT failed: nothing of the batch is kept
            return [(False, error)] * max(1, len(outcomes))
        return outcomes


def _retire(connection: Connection) -> None:
    """Close the group commit's connection at the end of its loop, not back to the pool: its cache
    would go with it to the next reader."""
    connection.invalidate()
    connection.close()


class _Busy(Exception):
    """Another writer holds SQLite's write lock without the gate (e.g. the `sqlite3` shell)."""


def _is_busy(error: OperationalError) -> bool:
    return (getattr(error.orig, "sqlite_errorcode", 0) & 0xFF) == sqlite3.SQLITE_BUSY


_groups: WeakKeyDictionary[asyncio.AbstractEventLoop, WeakKeyDictionary[Database, GroupCommit]] = WeakKeyDictionary()


def group_commit(db: Database) -> GroupCommit | None:
    """The running loop's group commit for `db`; None where there is none to have (PostgreSQL,
    whose writers run concurrently, or SQLite in memory)."""
    if db.gate is None:
        return None
    per_db = _groups.setdefault(asyncio.get_running_loop(), WeakKeyDictionary())
    group = per_db.get(db)
    if group is None:
        group = per_db[db] = GroupCommit(db, db.gate)
    return group
