"""SQLite's group commit: the writes queued at once share one transaction, each in its own savepoint."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from custody.db import group_commit as group_commit_module
from custody.db.engine import Database
from custody.db.group_commit import MAX_BATCH, group_commit
from custody.db.models import RateWindow
from tests.foreign_writer import awaited_behind_a_foreign_writer


@pytest.fixture(autouse=True)
def patient_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch's time limit that no test reaches, however slow its first statements (compiling,
    caches): what a test queues at once is one batch, unless it sets its own limit."""
    monkeypatch.setattr(group_commit_module, "MAX_HOLD", 60.0)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'group.sqlite3'}")
    with database.write() as session:
        session.execute(text("CREATE TABLE note (id INTEGER PRIMARY KEY, body TEXT NOT NULL UNIQUE)"))
    yield database
    database.dispose()


def commits(db: Database) -> list[int]:
    """A counter of the engine's transactions that committed (reads commit too)."""
    counted = [0]

    @event.listens_for(db.engine, "commit")
    def _count(_: Any) -> None:
        counted[0] += 1

    return counted


def insert(body: str) -> Any:
    def work(session: Session) -> int:
        session.execute(text("INSERT INTO note (body) VALUES (:body)"), {"body": body})
        return int(session.execute(text("SELECT count(*) FROM note")).scalar_one())

    return work


def bodies(db: Database) -> list[str]:
    with db.read() as session:
        return list(session.execute(text("SELECT body FROM note ORDER BY id")).scalars())


def test_writes_queued_together_commit_together_in_order(db: Database) -> None:
    counted = commits(db)

    async def main() -> list[int]:
        group = group_commit(db)
        assert group is not None
        return list(await asyncio.gather(*(group.run(insert(f"n{i}")) for i in range(10))))

    # Each write saw the ones queued before it, as if they had run one after the other.
    assert asyncio.run(main()) == list(range(1, 11))
    assert counted[0] == 1
    assert bodies(db) == [f"n{i}" for i in range(10)]


def test_a_failing_write_is_undone_alone_and_gets_its_own_error(db: Database) -> None:
    async def main() -> list[Any]:
        group = group_commit(db)
        assert group is not None
        writes = [insert("a"), insert("a"), insert("b")]  # the second breaks the UNIQUE rule
        return await asyncio.gather(*(group.run(w) for w in writes), return_exceptions=True)

    first, second, third = asyncio.run(main())
    assert first == 1
    assert isinstance(second, Exception) and "UNIQUE" in str(second)
    assert third == 2  # the failed write left nothing behind for it to see
    assert bodies(db) == ["a", "b"]


def test_a_failed_flush_fails_alone_and_the_writes_before_it_run_again(tmp_path: Path) -> None:
    """A session whose flush fails rolls back the shared transaction: that write gets its error,
    the ones before it, whose work was lost, are run again, and nobody hears of a lost success."""
    db = Database(f"sqlite:///{tmp_path / 'fleet.sqlite3'}")
    db.upgrade()
    runs: list[int] = []

    def window(n: int) -> Any:
        def work(session: Session) -> int:
            runs.append(n)
            session.add(RateWindow(key_id=1, window=n, n=1))
            return n

        return work

    async def main() -> list[Any]:
        group = group_commit(db)
        assert group is not None
        # The third collides with the second at its flush.
        writes = [group.run(window(n)) for n in (1, 2, 2, 3)]
        return list(await asyncio.gather(*writes, return_exceptions=True))

    try:
        first, second, third, fourth = asyncio.run(main())
        assert (first, second, fourth) == (1, 2, 3)
        assert isinstance(third, IntegrityError)
        assert runs == [1, 2, 2, 1, 2, 3]
        with db.read() as session:
            stored = session.execute(text('SELECT "window" FROM rate_window ORDER BY 1')).scalars().all()
        assert stored == [1, 2, 3]
    finally:
        db.dispose()


@pytest.mark.parametrize(("hold", "batches"), [(60.0, 3), (0.0, 2 * MAX_BATCH + 1)])
def test_a_batch_is_bounded_in_writes_and_in_time(
    db: Database, monkeypatch: pytest.MonkeyPatch, hold: float, batches: int
) -> None:
    monkeypatch.setattr(group_commit_module, "MAX_HOLD", hold)  # 0: one write per transaction
    counted = commits(db)
    n = 2 * MAX_BATCH + 1

    async def main() -> None:
        group = group_commit(db)
        assert group is not None
        await asyncio.gather(*(group.run(insert(f"n{i}")) for i in range(n)))

    asyncio.run(main())
    assert counted[0] == batches
    assert len(bodies(db)) == n


def test_nobody_hears_of_success_before_the_commit(db: Database) -> None:
    """A write that succeeds in a batch whose COMMIT fails gets the COMMIT's error."""
    path = db.engine.url.database
    assert path

    async def main() -> list[Any]:
        group = group_commit(db)
        assert group is not None

        def deferred_violation(session: Session) -> None:
            # A deferred foreign key is checked at COMMIT only: the whole batch fails there.
            session.execute(text("PRAGMA defer_foreign_keys = ON"))
            session.execute(text("CREATE TABLE IF NOT EXISTS child (p INTEGER REFERENCES note (id))"))
            session.execute(text("INSERT INTO child (p) VALUES (999)"))

        writes = [group.run(insert("kept?")), group.run(deferred_violation)]
        return list(await asyncio.gather(*writes, return_exceptions=True))

    results = asyncio.run(main())
    assert all(isinstance(r, Exception) and "FOREIGN KEY" in str(r) for r in results)
    assert bodies(db) == []


def test_a_writer_outside_the_gate_is_waited_for_off_the_loop(db: Database) -> None:
    path = db.engine.url.database
    assert path
    result, ticks = awaited_behind_a_foreign_writer(path, lambda: _run(db, insert("after")))
    assert result == 1
    assert ticks >= 10  # the loop kept serving while the write waited about 0.3 s


async def _run(db: Database, work: Any) -> Any:
    group = group_commit(db)
    assert group is not None
    return await group.run(work)


def test_postgresql_has_no_group_commit() -> None:
    """Its writers run side by side, each in its own transaction (`Database.run_write`)."""

    async def main() -> None:
        assert group_commit(Database("postgresql://nobody@127.0.0.1:1/none")) is None

    asyncio.run(main())
