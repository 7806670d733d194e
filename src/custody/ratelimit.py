"""Per-API-key request limits shared by every worker process: fixed windows counted in the database.

A check is one atomic statement, `INSERT ... ON CONFLICT DO UPDATE SET n = n + 1 RETURNING n`, on
`rate_window(key_id, window, n)` with `window = floor(unix_time / window_seconds)`. The database
serialises the increments, so any number of processes in front of one database admit exactly
`limit` requests per key per window between them. Fixed windows are the simple kind: a client may
spend its limit at the end of one window and again at the start of the next.

Intended use in an API view (the ownership API takes `Settings.ownership_rate_limit` per minute)::

    limiter = RateLimiter(db, settings.ownership_rate_limit, window=60)  # one per process

    async def throttle(connection: ASGIConnection, _: BaseRouteHandler) -> None:  # guard, after require_key
        result = await limiter.hit(connection.state.caller.key_id)
        connection.state.rate = result  # `rate_limit_headers(result)` on the response too, if the API wants them
        if not result.allowed:
            raise TooManyRequestsException(detail="Request was throttled.", headers=rate_limit_headers(result))

and `limiter.close()` at shutdown, beside `db.dispose()`.
"""

from __future__ import annotations

import math
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from anyio import to_thread
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from custody.db.engine import SQLITE_BUSY_TIMEOUT_MS, Database

T = TypeVar("T")

# `window` is a reserved word in PostgreSQL, hence the quotes.
_UPSERT = (
    'INSERT INTO rate_window (key_id, "window", n) VALUES ({p}, {p}, 1) '
    'ON CONFLICT (key_id, "window") DO UPDATE SET n = rate_window.n + 1 RETURNING n'
)
_PRUNE = 'DELETE FROM rate_window WHERE "window" < {p}'
SQLITE_UPSERT, SQLITE_PRUNE = _UPSERT.format(p="?"), _PRUNE.format(p="?")
POSTGRES_UPSERT, POSTGRES_PRUNE = _UPSERT.format(p="%s"), _PRUNE.format(p="%s")

# The limiter's SQLite connections never checkpoint inside a hit (a checkpoint syncs files, which
# would stall the event loop); instead every CHECKPOINT_EVERY-th hit of a process runs in a worker
# thread and checkpoints there. A hit writes about one WAL page, so this matches SQLite's default
# of a checkpoint per 1000 pages.
CHECKPOINT_EVERY = 1000
# Idle SQLite connections kept per kind; a burst of threads opens more and closes them afterwards.
MAX_IDLE_SQLITE_CONNECTIONS = 4


@dataclass(frozen=True, slots=True)
class RateResult:
    """The outcome of one request against its key's window. `limit == 0` means no limit applies."""

    allowed: bool
    limit: int
    remaining: int
    reset: int  # whole seconds until the window ends, >= 1 when limit > 0: also the 429's Retry-After
    window: int  # the window's length in seconds


UNLIMITED = RateResult(allowed=True, limit=0, remaining=0, reset=0, window=0)


def rate_limit_headers(result: RateResult) -> dict[str, str]:
    """Response headers for `result`: none when no limit applies; else `RateLimit-Limit`,
    `RateLimit-Remaining`, `RateLimit-Reset` (seconds) and `RateLimit-Policy` as in
    draft-ietf-httpapi-ratelimit-headers-06, the last revision with separate fields and the form
    most clients read (-07 folded them into one `RateLimit` field); plus `Retry-After` (RFC 9110,
    delay-seconds) on a refusal."""
    if result.limit <= 0:
        return {}
    headers = {
        "RateLimit-Limit": str(result.limit),
        "RateLimit-Remaining": str(result.remaining),
        "RateLimit-Reset": str(result.reset),
        "RateLimit-Policy": f"{result.limit};w={result.window}",
    }
    if not result.allowed:
        headers["Retry-After"] = str(result.reset)
    return headers


def _is_busy(error: sqlite3.OperationalError) -> bool:
    return (getattr(error, "sqlite_errorcode", 0) & 0xFF) == sqlite3.SQLITE_BUSY


class _SqliteCounters:
    """The limiter's own connections to the SQLite file, apart from the engine's pool because they
    are set up differently (below). Idle connections sit in lists: `pop` and `append` are atomic, so
    threads share them without a lock."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._idle: dict[bool, list[sqlite3.Connection]] = {False: [], True: []}  # by patience
        self.hits_since_checkpoint = 0

    def _connect(self, *, patient: bool) -> sqlite3.Connection:
        # Impatient connections serve the event loop: rather than wait for another writer, they fail
        # at once and the hit moves to a thread, onto a patient one. Two sets of connections, because
        # switching busy_timeout per call costs two PRAGMAs (~15 µs). WAL mode is set on the file.
        timeout = SQLITE_BUSY_TIMEOUT_MS / 1000 if patient else 0
        connection = sqlite3.connect(self._path, timeout=timeout, isolation_level=None, check_same_thread=False)
        # NORMAL, not OFF: in WAL mode neither syncs on commit, so a hit costs no fsync either way;
        # but OFF would also skip the syncs of checkpoints, which copy *every* connection's committed
        # pages into the database file, so a power cut could then corrupt the fleet data itself.
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("PRAGMA wal_autocheckpoint=0")
        return connection

    @contextmanager
    def connection(self, *, patient: bool) -> Iterator[sqlite3.Connection]:
        idle = self._idle[patient]
        try:
            connection = idle.pop()
        except IndexError:
            connection = self._connect(patient=patient)
        try:
            yield connection
        finally:
            if len(idle) < MAX_IDLE_SQLITE_CONNECTIONS:
                idle.append(connection)
            else:
                connection.close()

    def count(self, key_id: int, window: int, prune_before: int | None, *, patient: bool) -> int:
        """Count one request. Impatient, it raises `sqlite3.OperationalError` (busy) at once, having
        counted nothing, when another connection holds the write lock."""
        with self.connection(patient=patient) as connection:
            if prune_before is not None:  # before the count, so that retrying after a failure counts once
                connection.execute(SQLITE_PRUNE, (prune_before,))
            # A lone statement in autocommit mode: SQLite takes the write lock before it reads, through
            # the busy handler, as BEGIN IMMEDIATE does (concurrent writers queue rather than fail), and
            # saves the BEGIN and COMMIT statements (a third of a hit). fetchall() runs it to its end,
            # which commits and releases the lock.
            ((n,),) = connection.execute(SQLITE_UPSERT, (key_id, window)).fetchall()
        self.hits_since_checkpoint += 1  # racy across threads; it only paces checkpoints
        return int(n)

    @property
    def checkpoint_due(self) -> bool:
        return self.hits_since_checkpoint >= CHECKPOINT_EVERY

    def checkpoint(self) -> None:
        # PASSIVE waits for nobody; frames still read by someone are copied by a later checkpoint.
        self.hits_since_checkpoint = 0
        with self.connection(patient=False) as connection:
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def close(self) -> None:
        for idle in self._idle.values():
            while idle:
                idle.pop().close()


class RateLimiter:
    """At most `limit` requests per key per `window` seconds, counted in the database so that every
    worker process shares the count. `limit <= 0` turns it off: `hit` then answers `UNLIMITED`
    without touching the database. Make one per process (its SQLite connections are not fork-safe).

    On SQLite a hit runs on the event loop, like Custody's reads: an uncontended upsert takes tens
    of microseconds, less than a hop to a thread. When another process holds the write lock, it
    goes to a worker thread and waits there. On PostgreSQL every hit runs in a worker thread, on a
    connection of the engine's pool switched to autocommit for the one statement (no BEGIN/COMMIT
    round trips, no extra connections per process).

    Rows of windows before the previous one are deleted by the first hit of each window in each
    process, in a worker thread: one more statement per process per window."""

    def __init__(self, db: Database, limit: int, window: int = 60, *, clock: Callable[[], float] = time.time) -> None:
        if window < 1:
            raise ValueError("a rate limit window is at least 1 second")
        self.limit = limit
        self.window = window
        self._clock = clock
        self._engine: Engine = db.engine
        self._sqlite: _SqliteCounters | None = None
        self._gate = db.gate  # queue with the engine's writers (see `WriteGate`)
        self._pruned_window: int | None = None
        if db.dialect == "sqlite" and self.enabled:
            path = make_url(db.url).database
            if not path or path == ":memory:":
                raise ValueError("the rate limiter shares its counts through a database file, not :memory:")
            self._sqlite = _SqliteCounters(path)

    @property
    def enabled(self) -> bool:
        return self.limit > 0

    async def hit(self, key_id: int) -> RateResult:
        """Count a request by `key_id` and say whether it is allowed. Call it from the event loop."""
        if not self.enabled:
            return UNLIMITED
        window, reset = self._now()
        prune_before = self._prune_before(window)
        # PostgreSQL waits on a socket; SQLite's prune (once a window) scans and its checkpoint syncs.
        waits = self._sqlite is None or prune_before is not None or self._sqlite.checkpoint_due
        n = None if waits else self._count_now(key_id, window)
        if n is None:
            n = await to_thread.run_sync(partial(self._count, key_id, window, prune_before))
        return self._result(n, window, reset, prune_before)

    def hit_blocking(self, key_id: int) -> RateResult:
        """`hit` for code off the event loop (threads, scripts, benchmarks): it may wait for locks."""
        if not self.enabled:
            return UNLIMITED
        window, reset = self._now()
        prune_before = self._prune_before(window)
        return self._result(self._count(key_id, window, prune_before), window, reset, prune_before)

    def ping(self) -> None:
        """A bare `SELECT 1` the way a hit reaches the database: the floor a hit cannot beat."""
        if self._sqlite is not None:
            with self._sqlite.connection(patient=False) as connection:
                connection.execute("SELECT 1").fetchall()
        else:
            self._postgres(lambda connection: connection.execute("SELECT 1").fetchall())

    def close(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()

    def _now(self) -> tuple[int, int]:
        now = self._clock()
        window = math.floor(now / self.window)
        return window, max(1, math.ceil((window + 1) * self.window - now))

    def _prune_before(self, window: int) -> int | None:
        return window - 1 if window != self._pruned_window else None

    def _result(self, n: int, window: int, reset: int, prune_before: int | None) -> RateResult:
        if prune_before is not None:
            self._pruned_window = window
        return RateResult(
            allowed=n <= self.limit, limit=self.limit, remaining=max(0, self.limit - n), reset=reset, window=self.window
        )

    def _count_now(self, key_id: int, window: int) -> int | None:
        """Count on SQLite without waiting: None, having counted nothing, if a writer is busy."""
        assert self._sqlite is not None
        if self._gate is not None and not self._gate.acquire(wait=False):
            return None
        try:
            return self._sqlite.count(key_id, window, None, patient=False)
        except sqlite3.OperationalError as error:
            if not _is_busy(error):
                raise
            return None
        finally:
            if self._gate is not None:
                self._gate.release()

    def _count(self, key_id: int, window: int, prune_before: int | None) -> int:
        if self._sqlite is None:
            return self._postgres(partial(_postgres_count, key_id, window, prune_before))
        with self._gate.held() if self._gate is not None else nullcontext():
            n = self._sqlite.count(key_id, window, prune_before, patient=True)
        if self._sqlite.checkpoint_due:
            self._sqlite.checkpoint()
        return n

    def _postgres(self, work: Callable[[Any], T]) -> T:
        pooled = self._engine.raw_connection()
        try:
            connection: Any = pooled.driver_connection
            connection.autocommit = True  # psycopg: a local flag, no round trip
            result = work(connection)
            connection.autocommit = False
        except BaseException:
            pooled.invalidate()  # never return a broken or autocommit connection to the shared pool
            raise
        finally:
            pooled.close()
        return result


def _postgres_count(key_id: int, window: int, prune_before: int | None, connection: Any) -> int:
    if prune_before is not None:  # before the count, as on SQLite
        connection.execute(POSTGRES_PRUNE, (prune_before,))
    (n,) = connection.execute(POSTGRES_UPSERT, (key_id, window)).fetchone()
    return int(n)
