"""How SQLite runs: `CUSTODY_SQLITE_SYNCHRONOUS` (read from the environment and applied) and the page cache."""

from __future__ import annotations

import asyncio
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from custody.config import Settings
from custody.db.engine import Database
from custody.db.group_commit import PAGE_CACHE_KIB, group_commit


@pytest.mark.parametrize(("given", "expected"), [(None, "FULL"), ("normal", "NORMAL"), (" FULL ", "FULL")])
def test_read_from_the_environment(monkeypatch: pytest.MonkeyPatch, given: str | None, expected: str) -> None:
    if given is None:
        monkeypatch.delenv("CUSTODY_SQLITE_SYNCHRONOUS", raising=False)
    else:
        monkeypatch.setenv("CUSTODY_SQLITE_SYNCHRONOUS", given)
    assert Settings.from_env().sqlite_synchronous == expected


def test_a_wrong_value_stops_startup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUSTODY_SQLITE_SYNCHRONOUS", "OFF")
    with pytest.raises(ValueError, match="CUSTODY_SQLITE_SYNCHRONOUS"):
        Settings.from_env()


@pytest.mark.parametrize(("mode", "level"), [("FULL", 2), ("NORMAL", 1)])
def test_every_connection_commits_that_way(tmp_path: Path, mode: str, level: int) -> None:
    db = Database(f"sqlite:///{tmp_path / 'fleet.sqlite3'}", sqlite_synchronous=mode)
    try:
        with db.write() as session:
            assert session.connection().exec_driver_sql("PRAGMA synchronous").scalar() == level
    finally:
        db.dispose()


def test_the_group_commit_writes_with_a_larger_page_cache_and_the_pool_keeps_the_default(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'fleet.sqlite3'}")

    def cache(session: Session) -> int:
        return int(session.connection().exec_driver_sql("PRAGMA cache_size").scalar_one())

    async def written() -> int:
        group = group_commit(db)
        assert group is not None
        return await group.run(cache)

    try:
        assert asyncio.run(written()) == -PAGE_CACHE_KIB
        with db.read() as session:
            assert cache(session) == -2000  # SQLite's default: 2 MB
    finally:
        db.dispose()


def test_snapshots_and_statements_reuse_a_few_idle_connections_with_the_engine_settings(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'fleet.sqlite3'}", sqlite_synchronous="NORMAL")
    keep = 8  # `IdleConnections`' default
    try:
        with db.snapshot() as reader:
            first = reader._cursor.connection
            assert reader.rows(text("PRAGMA synchronous"), {}) == [(1,)]
            assert reader.rows(text("PRAGMA foreign_keys"), {}) == [(1,)]
        with db.statement() as reader:
            assert reader._cursor.connection is first  # the idle one, not a new one
        with ExitStack() as stack:  # more at once than are kept: the extra ones are closed after
            held = [stack.enter_context(db.snapshot())._cursor.connection for _ in range(keep + 3)]
        assert len(set(map(id, held))) == keep + 3
        with ExitStack() as stack:
            again = [stack.enter_context(db.snapshot())._cursor.connection for _ in range(keep + 3)]
        assert sum(connection in held for connection in again) == keep
    finally:
        db.dispose()


def test_a_database_in_memory_is_refused() -> None:
    with pytest.raises(ValueError, match="is a file"):
        Database("sqlite://")
