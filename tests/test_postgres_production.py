"""PostgreSQL in production: conflicts between writers are retried, stuck statements time out."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from typing import Any

import psycopg
import pytest
from anyio import to_thread
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.pool import QueuePool

from custody.apis.errors import classify
from custody.app import create_app
from custody.config import Settings
from custody.db.engine import POSTGRES_THREADS, STATEMENT_TIMEOUT_MS, WRITE_ATTEMPTS, Database


def _conflict(kind: type[psycopg.Error]) -> OperationalError:
    return OperationalError("UPDATE ...", {}, kind("conflict between writers"))


@pytest.mark.parametrize("kind", [psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected])
def test_a_write_aborted_by_a_conflict_runs_again(db: Database, kind: type[psycopg.Error]) -> None:
    attempts: list[int] = []

    def work(session: Session) -> int:
        attempts.append(1)
        if len(attempts) < 3:
            raise _conflict(kind)
        return int(session.execute(text("SELECT 7")).scalar_one())

    assert db.run_write(work) == 7
    assert len(attempts) == 3


def test_retries_are_bounded_and_other_errors_are_not_retried(db: Database) -> None:
    attempts: list[int] = []

    def always(session: Session) -> None:
        attempts.append(1)
        raise _conflict(psycopg.errors.SerializationFailure)

    with pytest.raises(OperationalError):
        db.run_write(always)
    assert len(attempts) == WRITE_ATTEMPTS

    attempts.clear()

    def broken(session: Session) -> None:
        attempts.append(1)
        raise OperationalError("SELECT ...", {}, psycopg.errors.UndefinedTable("no such table"))

    with pytest.raises(OperationalError):
        db.run_write(broken)
    assert len(attempts) == 1


def test_conflicts_and_timeouts_left_answer_503_with_retry_after() -> None:
    for kind in (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected, psycopg.errors.QueryCanceled):
        problem = classify(_conflict(kind))
        assert (problem.status, problem.code, problem.headers) == (503, "UNAVAILABLE", {"Retry-After": "1"})
    assert classify(_conflict(psycopg.errors.UndefinedTable)).status == 500


def test_statements_time_out_except_in_bulk_writes(backend: str, db: Database) -> None:
    if backend != "postgres":
        pytest.skip("statement_timeout is PostgreSQL's")
    with db.read() as session:
        assert session.execute(text("SHOW statement_timeout")).scalar_one() == f"{STATEMENT_TIMEOUT_MS // 1000}s"
        session.execute(text("SET LOCAL statement_timeout = 50"))  # the same limit, made short to test
        with pytest.raises(DBAPIError) as caught:
            session.execute(text("SELECT pg_sleep(1)"))
    assert classify(caught.value).status == 503
    with db.bulk_write() as session:
        assert session.execute(text("SHOW statement_timeout")).scalar_one() == "0"


def test_postgresql_compiles_no_plan_to_machine_code(backend: str, db: Database) -> None:
    """JIT is off on every connection: compiling a search's plan took longer than running it."""
    if backend != "postgres":
        pytest.skip("JIT is PostgreSQL's")
    with db.read() as session:
        assert session.execute(text("SHOW jit")).scalar_one() == "off"
    with db.statement() as reader:
        assert reader.scalar(select(func.current_setting("jit")), {}) == "off"


def test_a_read_snapshot_sees_one_instant(db: Database) -> None:
    """A page and its total come from one snapshot, on both engines: a write committed between
    the two statements is seen by neither."""
    with db.write() as session:
        session.execute(text("CREATE TABLE IF NOT EXISTS snapshot_probe (n INTEGER)"))
        session.execute(text("DELETE FROM snapshot_probe"))
    probe = text("SELECT count(*) FROM snapshot_probe")
    with db.snapshot() as reader:
        before = reader.rows(probe, {})
        with db.write() as session:
            session.execute(text("INSERT INTO snapshot_probe VALUES (1)"))
        assert reader.rows(probe, {}) == before
    with db.snapshot() as reader:
        assert reader.rows(probe, {}) == [(1,)]
    with db.write() as session:
        session.execute(text("DROP TABLE snapshot_probe"))


def test_snapshots_are_read_only_and_repeatable_and_writes_are_not(backend: str, db: Database) -> None:
    """Snapshots come from a pool of their own, REPEATABLE READ and read-only; the writes' pool
    keeps the defaults."""
    if backend != "postgres":
        pytest.skip("SQLite's snapshot is a plain BEGIN")
    settings = text("SELECT current_setting('transaction_isolation'), current_setting('transaction_read_only')")
    with db.snapshot() as reader:
        assert reader.rows(settings, {}) == [("repeatable read", "on")]
    with pytest.raises(DBAPIError, match="read-only transaction"), db.snapshot() as reader:
        reader.execute(text("UPDATE company SET name = name WHERE id = 0"), {})
    with db.write() as session:
        assert session.execute(settings).one() == ("read committed", "off")


def test_postgresql_work_runs_on_few_threads(db: Database) -> None:
    """On PostgreSQL a worker runs its database work on POSTGRES_THREADS threads (more would only
    queue for the GIL); on SQLite the default stays (reads run on the loop)."""

    async def main() -> float:
        app = create_app(Settings.from_env(), db)
        sent: list[str] = []
        messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])

        async def receive() -> dict[str, str]:
            return next(messages)

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(message["type"])
            if message["type"] == "lifespan.startup.complete":
                seen.append(to_thread.current_default_thread_limiter().total_tokens)

        seen: list[float] = []
        await app({"type": "lifespan"}, receive, send)
        assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
        return seen[0]

    default = asyncio.run(_default_threads())
    assert asyncio.run(main()) == (POSTGRES_THREADS if db.dialect == "postgresql" else default)


async def _default_threads() -> float:
    return to_thread.current_default_thread_limiter().total_tokens


def test_analyze_vacuums_postgresql_and_keeps_the_time_limit(backend: str, db: Database) -> None:
    """After a bulk load or an upgrade, `analyze` leaves PostgreSQL's tables vacuumed (pages marked
    all-visible, for index-only scans) as well as analyzed, and the pooled connection it lifted the
    statement time limit on has it back."""
    if backend != "postgres":
        pytest.skip("VACUUM is PostgreSQL's")
    db.analyze()
    stats = "SELECT last_vacuum IS NOT NULL AND last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = :t"
    pool = db.engine.pool
    assert isinstance(pool, QueuePool)
    connections = [db.engine.connect() for _ in range(pool.checkedin() + 1)]  # every pooled one
    try:
        assert connections[0].execute(text(stats), {"t": "device"}).scalar_one()
        limits = {c.execute(text("SHOW statement_timeout")).scalar_one() for c in connections}
    finally:
        for connection in connections:
            connection.close()
    assert limits == {f"{STATEMENT_TIMEOUT_MS // 1000}s"}
