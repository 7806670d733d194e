"""The per-key rate limiter on both databases: exact counts, windows, pruning, and, the property that
matters with many workers, exactly `limit` admissions per window across threads and processes."""

from __future__ import annotations

import asyncio
import multiprocessing
import secrets
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy.exc
from anyio import to_thread
from sqlalchemy import select

from custody.config import Settings
from custody.db.engine import Database
from custody.db.models import RateWindow
from custody.ratelimit import UNLIMITED, RateLimiter, RateResult, rate_limit_headers
from tests.foreign_writer import awaited_behind_a_foreign_writer

WINDOW = 60


class Clock:
    """A settable clock, so that a test moves to the next window without waiting for it."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def window_start() -> float:
    """The start of the current real window: tests count in real windows, like the server does."""
    return float(int(time.time()) // WINDOW * WINDOW)


def new_key() -> int:
    """A key id no other test uses (the session's database is shared)."""
    return secrets.randbits(62)


def windows(db: Database, key_id: int) -> dict[int, int]:
    """The stored count of each window of `key_id`."""
    with db.read() as session:
        rows = session.execute(select(RateWindow.window, RateWindow.n).where(RateWindow.key_id == key_id))
        return {window: n for window, n in rows}


def run(awaitable: Callable[[], Awaitable[RateResult]]) -> RateResult:
    async def main() -> RateResult:
        return await awaitable()

    return asyncio.run(main())


@pytest.fixture(scope="module")
def sqlite_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """A SQLite database of its own, for what only SQLite has: locks held by a file, a WAL to bound."""
    database = Database(f"sqlite:///{tmp_path_factory.mktemp('ratelimit') / 'custody.sqlite3'}")
    database.upgrade()
    yield database
    database.dispose()


def test_the_limit_is_reached_exactly_at_request_n_plus_one(db: Database) -> None:
    limiter = RateLimiter(db, 3, WINDOW, clock=Clock(window_start() + 15.5))
    key = new_key()
    results = [run(lambda: limiter.hit(key)) for _ in range(5)]
    assert [r.allowed for r in results] == [True, True, True, False, False]
    assert [r.remaining for r in results] == [2, 1, 0, 0, 0]
    assert {(r.limit, r.reset, r.window) for r in results} == {(3, 45, WINDOW)}
    assert windows(db, key) == {int(window_start()) // WINDOW: 5}  # refusals count too


def test_a_second_limiter_on_the_same_database_shares_the_count(db: Database) -> None:
    clock = Clock(window_start())
    key = new_key()
    first, second = RateLimiter(db, 2, WINDOW, clock=clock), RateLimiter(db, 2, WINDOW, clock=clock)
    assert first.hit_blocking(key).allowed
    assert second.hit_blocking(key).allowed
    assert not first.hit_blocking(key).allowed


def test_keys_are_counted_apart(db: Database) -> None:
    limiter = RateLimiter(db, 2, WINDOW, clock=Clock(window_start()))
    busy, quiet = new_key(), new_key()
    for _ in range(3):
        limiter.hit_blocking(busy)
    assert not limiter.hit_blocking(busy).allowed
    result = limiter.hit_blocking(quiet)
    assert (result.allowed, result.remaining) == (True, 1)


def test_a_new_window_starts_a_new_count(db: Database) -> None:
    clock = Clock(window_start() + 59.9)
    limiter = RateLimiter(db, 1, WINDOW, clock=clock)
    key = new_key()
    assert limiter.hit_blocking(key).allowed
    refused = limiter.hit_blocking(key)
    assert (refused.allowed, refused.reset) == (False, 1)  # 0.1 s left: Retry-After is still >= 1
    clock.now += 0.1  # exactly the next window's start
    result = limiter.hit_blocking(key)
    assert (result.allowed, result.remaining, result.reset) == (True, 0, WINDOW)


@pytest.mark.parametrize(("offset", "reset"), [(0.0, 60), (0.4, 60), (30.0, 30), (58.5, 2), (59.999, 1)])
def test_reset_is_whole_seconds_to_the_end_of_the_window(db: Database, offset: float, reset: int) -> None:
    limiter = RateLimiter(db, 5, WINDOW, clock=Clock(window_start() + offset))
    assert limiter.hit_blocking(new_key()).reset == reset


def test_threads_admit_exactly_the_limit(db: Database) -> None:
    limit, threads, hits = 250, 8, 100
    limiter = RateLimiter(db, limit, WINDOW, clock=Clock(window_start()))
    key = new_key()
    start = threading.Barrier(threads)
    allowed: list[int] = []

    def hammer() -> None:
        start.wait()
        allowed.append(sum(limiter.hit_blocking(key).allowed for _ in range(hits)))

    workers = [threading.Thread(target=hammer) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(allowed) == threads  # no thread died
    assert sum(allowed) == limit
    assert sum(windows(db, key).values()) == threads * hits  # no increment lost


def _hammer(url: str, key: int, limit: int, hits: int, now: float, start: Barrier, out: Queue[Any]) -> None:
    """One worker process: its own engine and limiter on the shared database, as `custody serve` has."""
    db = Database(url)
    limiter = RateLimiter(db, limit, WINDOW, clock=lambda: now)
    limiter.ping()  # connect before the race starts
    start.wait()
    began = time.time()
    allowed = sum(limiter.hit_blocking(key).allowed for _ in range(hits))
    out.put((allowed, began, time.time()))
    db.dispose()


def test_processes_admit_exactly_the_limit(db: Database) -> None:
    limit, processes, hits = 500, 4, 300
    key = new_key()
    context = multiprocessing.get_context("spawn")
    start, out = context.Barrier(processes), context.Queue()
    args = (db.url, key, limit, hits, window_start(), start, out)
    workers = [context.Process(target=_hammer, args=args) for _ in range(processes)]
    for worker in workers:
        worker.start()
    reports = [out.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(30)
        assert worker.exitcode == 0
    assert sum(allowed for allowed, _, _ in reports) == limit
    assert sum(windows(db, key).values()) == processes * hits
    assert max(began for _, began, _ in reports) < min(ended for _, _, ended in reports)  # they did overlap


def test_old_windows_are_pruned_once_per_window(db: Database) -> None:
    clock = Clock(window_start())
    first = int(clock.now) // WINDOW
    limiter = RateLimiter(db, 10, WINDOW, clock=clock)
    key, stale = new_key(), new_key()
    limiter.hit_blocking(key)
    with db.write() as session:  # a row left behind by a worker that went away long ago
        session.add(RateWindow(key_id=stale, window=first - 5, n=1))
    limiter.hit_blocking(key)
    assert windows(db, stale) == {first - 5: 1}  # this process pruned this window already
    clock.now += WINDOW
    limiter.hit_blocking(key)
    assert windows(db, stale) == {}
    assert windows(db, key) == {first: 2, first + 1: 1}  # the previous window stays
    clock.now += WINDOW
    limiter.hit_blocking(key)
    assert windows(db, key) == {first + 1: 1, first + 2: 1}


def test_a_disabled_limiter_never_touches_the_database(tmp_path: Path) -> None:
    unreachable = {
        Database(f"sqlite:///{tmp_path}"): sqlalchemy.exc.OperationalError,  # a directory is no database file
        Database("postgresql://nobody@127.0.0.1:1/none"): psycopg.OperationalError,
    }
    for db, error in unreachable.items():
        for limit in (0, -1):
            limiter = RateLimiter(db, limit)
            assert not limiter.enabled
            assert run(lambda: limiter.hit(1)) is UNLIMITED  # noqa: B023 (called at once)
            assert limiter.hit_blocking(1) is UNLIMITED
        with pytest.raises(error):  # what touching it would have done
            RateLimiter(db, 1).hit_blocking(1)
    assert rate_limit_headers(UNLIMITED) == {}


def test_headers_follow_the_ratelimit_draft_and_retry_after_comes_with_a_refusal() -> None:
    allowed = RateResult(allowed=True, limit=100, remaining=7, reset=42, window=60)
    refused = RateResult(allowed=False, limit=100, remaining=0, reset=13, window=60)
    assert rate_limit_headers(allowed) == {
        "RateLimit-Limit": "100",
        "RateLimit-Remaining": "7",
        "RateLimit-Reset": "42",
        "RateLimit-Policy": "100;w=60",
    }
    assert rate_limit_headers(refused) == {
        "RateLimit-Limit": "100",
        "RateLimit-Remaining": "0",
        "RateLimit-Reset": "13",
        "RateLimit-Policy": "100;w=60",
        "Retry-After": "13",
    }


def test_sqlite_hits_stay_on_the_loop_and_postgres_hits_go_to_a_thread(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    hops: list[object] = []
    run_sync = to_thread.run_sync

    async def counted(func: Callable[[], Any], *args: Any, **kwargs: Any) -> Any:
        hops.append(func)
        return await run_sync(func, *args, **kwargs)

    monkeypatch.setattr(to_thread, "run_sync", counted)
    limiter = RateLimiter(db, 100, WINDOW, clock=Clock(window_start()))
    key = new_key()

    async def twelve_hits() -> RateResult:
        return [await limiter.hit(key) for _ in range(12)][-1]

    assert run(twelve_hits).remaining == 88
    # SQLite: each hit is written by the group commit on the loop while no other writer holds the gate.
    assert len(hops) == (0 if db.dialect == "sqlite" else 12)


def test_a_hit_that_must_wait_for_the_sqlite_write_lock_waits_off_the_loop(sqlite_db: Database) -> None:
    path = sqlite_db.engine.url.database
    assert path
    limiter = RateLimiter(sqlite_db, 10, WINDOW, clock=Clock(window_start()))
    limiter.hit_blocking(new_key())  # the window's first hit prunes
    result, ticks = awaited_behind_a_foreign_writer(path, lambda: limiter.hit(new_key()))
    assert result.allowed
    assert ticks >= 10  # the loop kept serving while the hit waited about 0.3 s for the lock


def test_sqlite_wal_stays_bounded_when_only_the_limiter_writes(sqlite_db: Database) -> None:
    path = sqlite_db.engine.url.database
    assert path
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page = int(connection.execute("PRAGMA page_size").fetchone()[0])
        autocheckpoint = int(connection.execute("PRAGMA wal_autocheckpoint").fetchone()[0])
    limiter = RateLimiter(sqlite_db, 10, WINDOW)
    hits = 3 * autocheckpoint

    async def many_keys() -> RateResult:
        return [await limiter.hit(new_key()) for _ in range(hits)][-1]

    run(many_keys)
    frames = (Path(f"{path}-wal").stat().st_size - 32) // (page + 24)
    # Each new key leaves about two frames: without checkpoints, about 2 * hits.
    assert frames < 2 * autocheckpoint


def test_the_ownership_limit_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUSTODY_OWNERSHIP_RATE_LIMIT", raising=False)
    assert Settings.from_env().ownership_rate_limit == 600
    monkeypatch.setenv("CUSTODY_OWNERSHIP_RATE_LIMIT", "0")
    assert Settings.from_env().ownership_rate_limit == 0
    monkeypatch.setenv("CUSTODY_OWNERSHIP_RATE_LIMIT", "120")
    assert Settings.from_env().ownership_rate_limit == 120
    for wrong in ("-1", "ten"):
        monkeypatch.setenv("CUSTODY_OWNERSHIP_RATE_LIMIT", wrong)
        with pytest.raises(ValueError, match="CUSTODY_OWNERSHIP_RATE_LIMIT"):
            Settings.from_env()
