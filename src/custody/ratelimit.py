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
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from anyio import to_thread
from sqlalchemy.orm import Session

from custody.db.engine import Database
from custody.db.group_commit import group_commit

T = TypeVar("T")

# `window` is a reserved word in PostgreSQL, hence the quotes.
_UPSERT = (
    'INSERT INTO rate_window (key_id, "window", n) VALUES ({p}, {p}, 1) '
    'ON CONFLICT (key_id, "window") DO UPDATE SET n = rate_window.n + 1 RETURNING n'
)
_PRUNE = 'DELETE FROM rate_window WHERE "window" < {p}'
SQLITE_UPSERT, SQLITE_PRUNE = _UPSERT.format(p="?"), _PRUNE.format(p="?")
POSTGRES_UPSERT, POSTGRES_PRUNE = _UPSERT.format(p="%s"), _PRUNE.format(p="%s")


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


class RateLimiter:
    """At most `limit` requests per key per `window` seconds, counted in the database so that every
    worker process shares the count. `limit <= 0` turns it off: `hit` then answers `UNLIMITED`
    without touching the database.

    On a SQLite file a hit is one more write of the process's group commit (`GroupCommit`): it
    shares a transaction, and the write gate, with the writes queued beside it, instead of taking
    the gate for itself. On PostgreSQL every hit runs in a worker thread, on a connection of the
    engine's pool switched to autocommit for the one statement (no BEGIN/COMMIT round trips, no
    extra connections per process).

    Rows of windows before the previous one are deleted by the first hit of each window in each
    process: one more statement per process per window."""

    def __init__(self, db: Database, limit: int, window: int = 60, *, clock: Callable[[], float] = time.time) -> None:
        if window < 1:
            raise ValueError("a rate limit window is at least 1 second")
        if db.dialect == "sqlite" and db.gate is None and limit > 0:
            raise ValueError("the rate limiter shares its counts through a database file, not :memory:")
        self.limit = limit
        self.window = window
        self._clock = clock
        self._db = db
        self._pruned_window: int | None = None

    @property
    def enabled(self) -> bool:
        return self.limit > 0

    async def hit(self, key_id: int) -> RateResult:
        """Count a request by `key_id` and say whether it is allowed. Call it from the event loop."""
        if not self.enabled:
            return UNLIMITED
        window, reset = self._now()
        prune_before = self._prune_before(window)
        group = group_commit(self._db)
        if group is not None:
            n = await group.run(partial(_sqlite_count, key_id, window, prune_before))
        else:
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
        if self._db.dialect == "sqlite":
            with self._db.write() as session:
                session.connection().exec_driver_sql("SELECT 1").all()
        else:
            self._postgres(lambda connection: connection.execute("SELECT 1").fetchall())

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

    def _count(self, key_id: int, window: int, prune_before: int | None) -> int:
        if self._db.dialect == "sqlite":
            with self._db.write() as session:
                return _sqlite_count(key_id, window, prune_before, session)
        return self._postgres(partial(_postgres_count, key_id, window, prune_before))

    def _postgres(self, work: Callable[[Any], T]) -> T:
        pooled = self._db.engine.raw_connection()
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


def _sqlite_count(key_id: int, window: int, prune_before: int | None, session: Session) -> int:
    """Count one request in the session's write transaction."""
    cursor = session.connection().connection.cursor()
    if prune_before is not None:
        cursor.execute(SQLITE_PRUNE, (prune_before,))
    ((n,),) = cursor.execute(SQLITE_UPSERT, (key_id, window)).fetchall()
    return int(n)


def _postgres_count(key_id: int, window: int, prune_before: int | None, connection: Any) -> int:
    if prune_before is not None:  # before the count, as on SQLite
        connection.execute(POSTGRES_PRUNE, (prune_before,))
    (n,) = connection.execute(POSTGRES_UPSERT, (key_id, window)).fetchone()
    return int(n)
