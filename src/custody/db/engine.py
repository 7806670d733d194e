"""Engines and transactions. A request gets one transaction: committed when the handler returns,
rolled back when it raises. Services never commit."""

from __future__ import annotations

import collections
import fcntl
import functools
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, NamedTuple, TypeVar, cast

from sqlalchemy import ClauseElement, Connection, Dialect, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler

T = TypeVar("T")
SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_ANALYSIS_ROWS = 20_000  # see `Database.analyze`
# PostgreSQL: a statement that runs longer is cancelled (a stuck query must not hold a worker and
# its locks for ever); `custody import` lifts it for its own transaction.
STATEMENT_TIMEOUT_MS = 30_000
# PostgreSQL: every connection's settings. JIT compilation (on by default since PostgreSQL 12) is
# off: Custody's statements run for milliseconds, and once a plan's estimated cost passed
# `jit_optimize_above_cost` a search for a common first name at a million devices spent 755 ms
# compiling and 190 ms running. The statement time limit as above.
POSTGRES_OPTIONS = f"-c statement_timeout={STATEMENT_TIMEOUT_MS} -c jit=off"
# SQLSTATEs after which the same transaction, run again, may well succeed.
RETRYABLE = frozenset({"40001", "40P01"})  # serialization_failure, deadlock_detected
WRITE_ATTEMPTS = 4
# PostgreSQL: worker threads per process that run database work (every request's reads and
# writes wait on a socket, in a thread). More of them than this do not get more done on a few
# cores: they queue for the GIL each time their answer comes back (with 32 threads per worker the
# first page was served 25 % slower, its p99 four times longer). Below the pool's 10 connections.
POSTGRES_THREADS = 8


def sqlstate(error: BaseException) -> str | None:
    """The SQLSTATE of a PostgreSQL error wrapped by SQLAlchemy, else None."""
    orig = getattr(error, "orig", None)
    return getattr(orig, "sqlstate", None)


def normalise_url(url: str) -> str:
    """Let users write `postgresql://`; Custody speaks to PostgreSQL through psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _sqlite_engine(url: str, synchronous: str) -> Engine:
    path = make_url(url).database
    if not path or path == ":memory:":
        raise ValueError("a SQLite database is a file here: Custody's threads and workers share it")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, pool_size=8, max_overflow=32, connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so that `begin` below decides how to BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")  # FULL: a 2xx means the write is on disk
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the write lock up front: no lock upgrade mid-transaction, so concurrent
        # writers queue on busy_timeout instead of failing with "database is locked".
        options = conn.get_execution_options()
        if not options.get("custody_write", False):
            conn.exec_driver_sql("BEGIN")
        elif options.get("custody_impatient", False):
            # Fail at once rather than wait for a writer that bypassed the gate (`GroupCommit`).
            conn.exec_driver_sql("PRAGMA busy_timeout=0")
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            finally:
                conn.exec_driver_sql(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class WriteGate:
    """Queues the writers of one SQLite file, across threads and processes, on an `flock` of a lock
    file beside it. SQLite's own wait for its write lock (the busy handler) polls with sleeps that
    grow to 100 ms, so under contention writers idle while the lock is free and the slowest wait
    seconds; the kernel hands an `flock` to the next waiter the moment it is released. SQLite's
    lock still guards the file: the gate only decides who asks for it first."""

    def __init__(self, database_path: str) -> None:
        self.path = f"{database_path}-writers.lock"
        self._local = threading.local()  # per thread: its own file description, and nesting depth
        self._process = threading.Lock()
        self._loose_fd: int | None = None  # the file description of `take`, which no thread owns

    def _open(self) -> int:
        return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)

    def _fd(self) -> int:
        fd: int | None = getattr(self._local, "fd", None)
        if fd is None:
            # One open file description per thread: flocks of different descriptions exclude each other.
            fd = self._local.fd = self._open()
            self._local.depth = 0
        return fd

    def _loose(self) -> int:
        if self._loose_fd is None:
            self._loose_fd = self._open()
        return self._loose_fd

    def _lock(self, fd: Callable[[], int], *, wait: bool) -> bool:
        # The process's writers first queue on a lock that wakes one of them at a time; only its
        # holder waits on the flock, which wakes every waiter when it is released.
        if not self._process.acquire(blocking=wait):
            return False
        try:
            fcntl.flock(fd(), fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BaseException:
            self._process.release()
            if wait:
                raise
            return False
        return True

    def _unlock(self, fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
        self._process.release()

    def acquire(self, *, wait: bool = True) -> bool:
        """Take the gate (re-entrant within a thread); without `wait`, only if it is free now."""
        self._fd()
        if self._local.depth == 0 and not self._lock(self._fd, wait=wait):
            return False
        self._local.depth += 1
        return True

    def release(self) -> None:
        self._local.depth -= 1
        if self._local.depth == 0:
            self._unlock(self._fd())

    def take(self, *, wait: bool = True) -> bool:
        """Take the gate for a holder that is not a thread (a `GroupCommit` waits for it in one
        thread and writes in another): not re-entrant, and `give_back` may come from any thread."""
        return self._lock(self._loose, wait=wait)

    def give_back(self) -> None:
        self._unlock(self._loose())

    @contextmanager
    def held(self) -> Iterator[None]:
        self.acquire()
        try:
            yield
        finally:
            self.release()


class Prepared(NamedTuple):
    """A Core statement compiled for one dialect, with what running it on a DBAPI cursor needs."""

    sql: str
    order: tuple[str, ...] | None  # positional paramstyles: the parameters' order
    literals: dict[str, Any]  # values the statement binds itself (e.g. the 0 of `coalesce(sum(n), 0)`)
    binds: dict[str, Callable[[Any], Any]]  # the parameters whose type converts them (e.g. datetimes)
    results: tuple[Callable[[Any], Any] | None, ...] | None  # per column, when any converts
    record: Any  # a named tuple class of the columns


@functools.lru_cache(maxsize=512)
def prepare(statement: ClauseElement, dialect: Dialect) -> Prepared:
    compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
    order = tuple(compiled.positiontup or ()) if compiled.positional else None
    binds: dict[str, Callable[[Any], Any]] = {}
    for name, bind in compiled.binds.items():
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            binds[name] = process
    columns = list(getattr(statement, "exported_columns", ()))
    results = tuple(c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns)
    record = collections.namedtuple("Record", [c.key for c in columns], rename=True)  # type: ignore[misc]
    return Prepared(compiled.string, order, dict(compiled.params), binds, results if any(results) else None, record)


class Reader:
    """Runs prebuilt Core statements on a raw DBAPI cursor, without SQLAlchemy's execution
    machinery (about 5x less time): for the hot paths. Parameters and results are converted only
    where their types say so (datetimes); DBAPI errors are raised as SQLAlchemy's, as `execute`
    would."""

    def __init__(self, cursor: Any, dialect: Dialect, *, binary: bool = False) -> None:
        self._cursor = cursor
        self._dialect = dialect
        self.dialect = dialect.name
        # psycopg: results in binary form (arrays of documents come without quoting and escapes).
        self._options = {"binary": True} if binary else {}

    @classmethod
    def of(cls, session: Session) -> Reader:
        """A reader inside the session's transaction (on its connection)."""
        connection = session.connection()
        return cls(connection.connection.cursor(), connection.dialect)

    def _error(self, sql: str, args: Any, error: Exception) -> StatementError:
        """A DBAPI error as SQLAlchemy's, as `execute` would raise it."""
        return DBAPIError.instance(sql, args, error, self._dialect.loaded_dbapi.Error)

    def _run(self, statement: ClauseElement, params: dict[str, Any]) -> tuple[Prepared, Any]:
        prepared = prepare(statement, self._dialect)
        values = {**prepared.literals, **params}
        for name, process in prepared.binds.items():
            values[name] = process(values[name])
        args = values if prepared.order is None else tuple(map(values.__getitem__, prepared.order))
        try:
            self._cursor.execute(prepared.sql, args, **self._options)
        except self._dialect.loaded_dbapi.Error as error:
            raise self._error(prepared.sql, args, error) from error
        return prepared, args

    def _fetch(self, statement: ClauseElement, params: dict[str, Any]) -> tuple[Prepared, list[tuple[Any, ...]]]:
        prepared, args = self._run(statement, params)
        try:  # in a batch, a statement's error arrives with its rows
            rows = self._cursor.fetchall()
        except self._dialect.loaded_dbapi.Error as error:
            raise self._error(prepared.sql, args, error) from error
        if prepared.results is None:
            return prepared, rows
        results = prepared.results
        return prepared, [tuple(v if p is None else p(v) for p, v in zip(results, row, strict=True)) for row in rows]

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Send the statements run inside to PostgreSQL without waiting for each one's answer
        (psycopg's pipeline mode): those whose results are not read in between share one round
        trip, and so does the BEGIN of a transaction that starts inside. A statement's error is
        raised when its results are read, or at the end of the block, and aborts the transaction
        with the writes queued before it: queue a write ahead of a statement that may fail only
        where the failure must undo it. SQLite runs them one by one, as ever."""
        if self.dialect != "postgresql":
            yield
            return
        try:
            with self._cursor.connection.pipeline():
                yield
        except self._dialect.loaded_dbapi.Error as error:
            raise self._error("(batch)", None, error) from error

    def rows(self, statement: ClauseElement, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        return self._fetch(statement, params)[1]

    def records(self, statement: ClauseElement, params: dict[str, Any]) -> list[Any]:
        """`rows` as named tuples (`row.id`)."""
        prepared, rows = self._fetch(statement, params)
        return [prepared.record._make(row) for row in rows]

    def record(self, statement: ClauseElement, params: dict[str, Any]) -> Any:
        """The one record, or None."""
        found = self.records(statement, params)
        if len(found) > 1:
            raise AssertionError(f"more than one row: {statement}")
        return found[0] if found else None

    def scalar(self, statement: ClauseElement, params: dict[str, Any]) -> Any:
        found = self.rows(statement, params)
        return found[0][0] if found else None

    def execute(self, statement: ClauseElement, params: dict[str, Any]) -> int:
        """A statement without results; the number of rows it changed (unknown, -1, in a batch)."""
        self._run(statement, params)
        return int(self._cursor.rowcount)


class IdleConnections:
    """SQLite: the DBAPI connections of `Database.snapshot` and `Database.statement`, kept idle in a
    list. They need nothing of a pool but a connection nobody else is using: SQLAlchemy's checkout
    and return (events, reset, bookkeeping) took 6.5 µs of the first page's ~100 µs in process, the
    list 0.2 µs. Made by the engine (its `connect` settings), then taken out of its pool's care."""

    def __init__(self, engine: Engine, keep: int = 8) -> None:
        self._engine = engine
        self._keep = keep
        self._idle: list[Any] = []

    def take(self) -> Any:
        try:
            return self._idle.pop()  # atomic: two threads never get the same connection
        except IndexError:
            pooled = self._engine.raw_connection()
            connection = pooled.driver_connection
            pooled.detach()
            return connection

    def give_back(self, connection: Any) -> None:
        if len(self._idle) < self._keep:
            self._idle.append(connection)
        else:
            connection.close()

    def dispose(self) -> None:
        while self._idle:
            self._idle.pop().close()


class Database:
    """One database, as reached through `CUSTODY_DATABASE_URL`."""

    def __init__(self, url: str, *, sqlite_synchronous: str = "FULL") -> None:
        self.url = normalise_url(url)
        self.dialect = make_url(self.url).get_backend_name()
        self.gate: WriteGate | None = None
        self._readers: IdleConnections | None = None  # SQLite's, see `IdleConnections`
        if self.dialect == "sqlite":
            self.engine = _sqlite_engine(self.url, sqlite_synchronous)
            self.gate = WriteGate(cast(str, make_url(self.url).database))
            self._readers = IdleConnections(self.engine)
        else:
            self.engine = create_engine(
                self.url,
                pool_size=10,
                max_overflow=20,
                pool_pre_ping=False,
                connect_args={"options": POSTGRES_OPTIONS},
            )
        self._statements = self._snapshots = self.engine
        if self.dialect == "postgresql":  # see `statement` and `snapshot`
            self._statements = create_engine(
                self.url,
                pool_size=POSTGRES_THREADS,
                max_overflow=POSTGRES_THREADS,
                isolation_level="AUTOCOMMIT",
                connect_args={"options": f"{POSTGRES_OPTIONS} -c plan_cache_mode=force_generic_plan"},
            )
            self._snapshots = create_engine(
                self.url,
                pool_size=POSTGRES_THREADS,
                max_overflow=POSTGRES_THREADS,
                isolation_level="REPEATABLE READ",
                pool_use_lifo=True,  # the connection used last: its statements are prepared
                connect_args={
                    "options": f"{POSTGRES_OPTIONS} -c plan_cache_mode=force_custom_plan"
                    " -c default_transaction_read_only=on"
                },
            )
        self._writer = self.engine.execution_options(custody_write=True)

    @contextmanager
    def read(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def snapshot(self) -> Iterator[Reader]:
        """A read-only snapshot for the hot read paths (auth, list pages): prebuilt statements on
        a pooled DBAPI connection, without ORM or Core execution machinery (about 5x less time).
        One snapshot for the key, the total and the page: SQLite's deferred transaction holds its
        first read's snapshot; on PostgreSQL the pool's transactions are REPEATABLE READ (psycopg's
        implicit BEGIN: no extra round trip) and read-only.

        On PostgreSQL the snapshot ends with COMMIT, which for a read-only transaction is ROLLBACK
        without its side effect: psycopg forgets its prepared statements at a ROLLBACK, so every
        search was parsed and planned anew. Prepared, a statement could get a generic plan, blind
        to its values (a search for a serial fragment at a million devices: 55 ms with it, 0.6 ms
        planned for its words), so this pool's connections plan every statement for its values
        (`plan_cache_mode`): the parse is saved, never the plan."""
        if self._readers is not None:
            connection = self._readers.take()
            try:
                cursor = connection.cursor()
                cursor.execute("BEGIN")
                yield Reader(cursor, self.engine.dialect)
            finally:
                connection.rollback()
                self._readers.give_back(connection)
            return
        pooled = self._snapshots.raw_connection()
        try:
            yield Reader(pooled.cursor(), self.engine.dialect)
            pooled.commit()
        finally:
            pooled.rollback()  # after a COMMIT psycopg sends nothing
            pooled.close()  # back to the pool

    @contextmanager
    def statement(self, *, planned_per_run: bool = False) -> Iterator[Reader]:
        """A reader for one statement, which sees one instant on its own and so needs no
        transaction. On PostgreSQL in autocommit: a read that is one statement is one round trip
        (no BEGIN, no COMMIT), its results in binary form. By default from a pool of its own,
        planned once per connection: psycopg prepares a statement after a few runs, but with
        `LIMIT` and `OFFSET` parameters PostgreSQL kept planning each run anew (planning was about a
        third of its user time under first-page load), so this pool's connections force generic
        plans: for `keyed_page`'s statements and key and token lookups, whose plans do not depend on
        the values. `planned_per_run`: for one whose plan does (a search), on a connection of the
        snapshots' pool (see `snapshot`). SQLite's driver is in autocommit already (`_on_connect`)."""
        if self._readers is not None:
            connection = self._readers.take()
            try:
                yield Reader(connection.cursor(), self.engine.dialect)
            finally:
                self._readers.give_back(connection)
            return
        pooled = (self._snapshots if planned_per_run else self._statements).raw_connection()
        driver: Any = pooled.driver_connection
        if planned_per_run:
            driver.autocommit = True  # a snapshot connection, idle between uses: psycopg sends nothing
        try:
            yield Reader(pooled.cursor(), self.engine.dialect, binary=True)
        finally:
            if planned_per_run:
                driver.autocommit = False  # the pool's snapshots begin transactions again
            pooled.close()

    @contextmanager
    def write(self) -> Iterator[Session]:
        gate = self.gate.held() if self.gate is not None else nullcontext()
        with gate, Session(self._writer, expire_on_commit=False) as session, session.begin():
            yield session

    def write_connection(self) -> Connection:
        """A connection whose transactions write (SQLite: `BEGIN IMMEDIATE`), for callers that hold
        the gate themselves (`GroupCommit`). With the execution option `custody_impatient`, its
        BEGIN fails at once (SQLITE_BUSY) where it would wait for another writer's lock."""
        return self._writer.connect()

    @contextmanager
    def bulk_write(self) -> Iterator[Session]:
        """`write` without the statement time limit, for bulk loads whose statements are long."""
        with self.write() as session:
            if self.dialect == "postgresql":
                session.execute(text("SET LOCAL statement_timeout = 0"))
            yield session

    def run_write(self, work: Callable[[Session], T]) -> T:
        """`work` in one write transaction, run again (a few times, after a short random pause)
        when PostgreSQL aborts it for a serialization failure or a deadlock: the outcome of a
        conflict between concurrent writers, not of the request. `work` must have no effects
        outside the transaction."""
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                with self.write() as session:
                    return work(session)
            except DBAPIError as error:
                if sqlstate(error) not in RETRYABLE or attempt == WRITE_ATTEMPTS:
                    raise
                time.sleep(random.uniform(0, 0.01 * 2**attempt))
        raise AssertionError("unreachable")

    def upgrade(self) -> None:
        from custody.migrations import upgrade

        upgrade(self.engine)
        self.analyze()

    def analyze(self) -> None:
        """Refresh the planner's statistics, after a bulk load or an upgrade. SQLite keeps none of
        its own: without them it serves `WHERE company_id = ? AND device_id = ? ORDER BY id` by
        walking the company's whole (company_id, id) index instead of the device's few rows.
        ANALYZE samples `SQLITE_ANALYSIS_ROWS` rows per index (1.7 s at a million devices); a
        sample of 1,000 estimated 84 spans per device, not 1-4, and sent that query back to the
        company's index (1.3 s a page) on one run in two.

        PostgreSQL: `VACUUM (ANALYZE)`, which autovacuum would run later. Besides the statistics it
        marks the loaded pages all-visible, without which an index-only scan reads every row it
        finds from the table as well: a team search at a million devices fetched 7,230 rows of
        the device table through the holder index (56 ms served; 27 ms after VACUUM). It skips the
        pages already all-visible, so after a small import it reads little."""
        if self.dialect == "postgresql":
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.exec_driver_sql("SET statement_timeout = 0")
                try:
                    connection.exec_driver_sql("VACUUM (ANALYZE)")
                finally:  # back to the pool with the usual limit
                    connection.exec_driver_sql("RESET statement_timeout")
            return
        with self.write() as session:
            connection = session.connection()
            connection.exec_driver_sql(f"PRAGMA analysis_limit={SQLITE_ANALYSIS_ROWS}")
            connection.exec_driver_sql("ANALYZE")

    def dispose(self) -> None:
        if self._readers is not None:
            self._readers.dispose()
        self.engine.dispose()
        self._statements.dispose()
        self._snapshots.dispose()
