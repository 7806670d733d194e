"""A writer that knows nothing of Custody's write gate (the `sqlite3` shell, say), for the tests of
what waits for it: the event loop must go on serving meanwhile."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def awaited_behind_a_foreign_writer(path: str, make: Callable[[], Awaitable[T]], hold: float = 0.3) -> tuple[T, int]:
    """Await `make()` on a new event loop while another connection holds SQLite's write lock for
    `hold` seconds; its result, and how many times a 10 ms ticker on the same loop ran meanwhile."""
    blocker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")
    release = threading.Timer(hold, blocker.rollback)

    async def main() -> tuple[T, int]:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        release.start()
        result = await make()
        ticker.cancel()
        return result, ticks

    try:
        return asyncio.run(main())
    finally:
        release.join()
        blocker.close()
