"""Cost of one rate-limit check against a bare `SELECT 1` the same way to the same database, on SQLite
and PostgreSQL. Prints figures; asserts nothing.

    .venv/bin/python bench/ratelimit_bench.py --postgres postgresql://postgres@127.0.0.1:5432/test

SQLite: a fresh file in a temporary directory. PostgreSQL (only with --postgres): a fresh database on
that server, dropped afterwards. Calls run in batches of 200 after a warm-up; figures are µs per call
in the median and the best batch (the ratio is of medians). The keys cycle through 100 ids within one
window, as busy API keys would."""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from custody.apis.common import off_loop
from custody.db.engine import Database
from custody.ratelimit import RateLimiter

KEYS = 100
BATCH = 200


def summary(batches: list[float]) -> tuple[float, float]:
    """Median and best batch, in µs per call: the median is what a call costs on this machine now,
    the best what it costs when nothing else competes for the CPU."""
    batches.sort()
    return batches[len(batches) // 2] / BATCH * 1e6, batches[0] / BATCH * 1e6


def per_call(n: int, call: Callable[[int], object]) -> tuple[float, float]:
    batches = []
    for _ in range(n // BATCH):
        start = time.perf_counter()
        for i in range(BATCH):
            call(i % KEYS)
        batches.append(time.perf_counter() - start)
    return summary(batches)


def per_call_async(n: int, call: Callable[[int], Awaitable[object]]) -> tuple[float, float]:
    async def batches() -> list[float]:
        times = []
        for _ in range(n // BATCH):
            start = time.perf_counter()
            for i in range(BATCH):
                await call(i % KEYS)
            times.append(time.perf_counter() - start)
        return times

    return summary(asyncio.run(batches()))


@contextmanager
def sqlite_database() -> Iterator[Database]:
    with tempfile.TemporaryDirectory() as directory:
        db = Database(f"sqlite:///{Path(directory) / 'custody.sqlite3'}")
        yield db
        db.dispose()


@contextmanager
def postgres_database(server: str) -> Iterator[Database]:
    name = f"custody_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    db = Database(f"{server.rsplit('/', 1)[0]}/{name}")
    try:
        yield db
    finally:
        db.dispose()
        with psycopg.connect(server, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def measure(db: Database, n: int) -> None:
    db.upgrade()
    now = time.time()
    limiter = RateLimiter(db, 10**9, 60, clock=lambda: now)  # never refuses: every call does the full work
    for i in range(500):
        limiter.hit_blocking(i % KEYS)
        limiter.ping()

    async def ping(_: int) -> None:
        await off_loop(db, limiter.ping)  # how Custody runs its reads: SQLite on the loop, PostgreSQL in a thread

    rows = [
        ("blocking, caller's thread", per_call(n, lambda _: limiter.ping()), per_call(n, limiter.hit_blocking)),
        ("await, as a request would", per_call_async(n, ping), per_call_async(n, limiter.hit)),
    ]
    print(f"{db.dialect:<27} {'SELECT 1 median/best':>21} {'hit median/best':>21} {'ratio':>6}")
    for label, (base, base_best), (hit, hit_best) in rows:
        print(f"  {label:<25} {base:8.1f} /{base_best:7.1f} µs {hit:8.1f} /{hit_best:7.1f} µs {hit / base:5.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=20_000, help="calls per round (default 20000)")
    parser.add_argument("--postgres", help="a PostgreSQL server URL on which to create a scratch database")
    args = parser.parse_args()
    with sqlite_database() as db:
        measure(db, args.n)
    if args.postgres:
        with postgres_database(args.postgres) as db:
            measure(db, args.n)


if __name__ == "__main__":
    main()
