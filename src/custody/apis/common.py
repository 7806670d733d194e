"""What the three API views share: the caller behind the request and its one transaction."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TypeVar, cast
from weakref import WeakKeyDictionary

from anyio import to_thread
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException, ValidationException
from litestar.handlers.base import BaseRouteHandler
from litestar.types import HTTPScope
from sqlalchemy.orm import Session

from custody.db.engine import Database
from custody.db.group_commit import group_commit
from custody.domain.keys import authenticate
from custody.domain.ownership import next_due, sync_due_holders
from custody.domain.tenancy import Caller, Tenant, TenantSnapshot
from custody.domain.timefmt import utcnow

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
T = TypeVar("T")
# How stale this process's idea of the next scheduled holder change may get: another worker may
# have booked an earlier one. It bounds how late a reservation shows up in `user_id` / `ownerId`.
CLOCK_INTERVAL = 1.0


class HolderClock:
    """Applies scheduled holder changes (reservations starting, bookings ending) when they fall
    due. One per database per process; it reads the earliest due instant at most once per
    `CLOCK_INTERVAL`, so requests between checks pay one comparison."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._checked = -math.inf
        self._due: datetime | None = None

    async def tick(self) -> None:
        now = utcnow()
        fresh = time.monotonic() - self._checked < CLOCK_INTERVAL
        if fresh and (self._due is None or self._due > now):
            return
        self._checked = time.monotonic()  # before awaiting: concurrent requests do not pile on
        self._due = await to_thread.run_sync(self._sync)

    def _sync(self) -> datetime | None:
        with self._db.read() as session:
            due = next_due(session)
        if due is not None and due <= utcnow():
            with self._db.write() as session:
                sync_due_holders(session, utcnow())
                due = next_due(session)
        return due


_clocks: WeakKeyDictionary[Database, HolderClock] = WeakKeyDictionary()


def holder_clock(db: Database) -> HolderClock:
    clock = _clocks.get(db)
    if clock is None:
        clock = _clocks[db] = HolderClock(db)
    return clock


def validation_message(exc: ValidationException, fallback: str) -> str:
    """Litestar's per-field validation details folded into one readable sentence."""
    parts = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if isinstance(item, dict):
            key = item.get("key")
            message = str(item.get("message", "invalid value"))
            parts.append(f"{key}: {message}" if key else message)
    detail = exc.detail if exc.detail and not exc.detail.startswith("Validation failed") else ""
    return "; ".join(p for p in [detail, *parts] if p) or fallback


async def off_loop(db: Database, work: Callable[[], T]) -> T:
    """Run a short read. SQLite answers from local pages in microseconds, so it runs on the event
    loop (a thread hop would cost more than the query); PostgreSQL waits on a socket, so it runs
    in a worker thread and the loop keeps serving other requests meanwhile."""
    if db.dialect == "sqlite":
        return work()
    return await to_thread.run_sync(work)


async def require_key(connection: ASGIConnection, _: BaseRouteHandler) -> None:  # type: ignore[type-arg]
    """Guard: 401 without a live key, 403 when a read key asks to write. Runs before any parsing."""
    db: Database = connection.app.state.db
    header = connection.headers.get("authorization")

    def lookup() -> Caller | None:
        with db.statement() as reader:  # one statement: one round trip
            return authenticate(reader, header)

    caller = await off_loop(db, lookup)
    await holder_clock(db).tick()
    if caller is None:
        raise NotAuthorizedException("UNAUTHORIZED")
    if cast("HTTPScope", connection.scope)["method"] not in READ_METHODS and not caller.can_write:
        raise PermissionDeniedException("INSUFFICIENT_SCOPE")
    connection.state.caller = caller


async def read(connection: ASGIConnection, work: Callable[[TenantSnapshot], T]) -> T:  # type: ignore[type-arg]
    """Run `work` on a read snapshot scoped to the caller's company (the hot read path)."""
    db: Database = connection.app.state.db
    caller: Caller = connection.state.caller

    def run() -> T:
        with db.snapshot() as reader:
            return work(TenantSnapshot(reader, caller))

    return await off_loop(db, run)


async def write(connection: ASGIConnection, work: Callable[[Tenant], T]) -> T:  # type: ignore[type-arg]
    """Run `work` in one write transaction scoped to the caller's company (see `in_write`)."""
    caller: Caller = connection.state.caller
    return await in_write(connection.app.state.db, lambda session: work(Tenant(session, caller)))


async def in_write(db: Database, work: Callable[[Session], T]) -> T:
    """Run `work` in a write transaction, for the hot writes. On a SQLite file, through the
    process's group commit (one transaction for all the writes queued at once, each in its own
    savepoint). On PostgreSQL, whose writers run side by side, in its own transaction in a worker
    thread, retried after a serialization failure or a deadlock."""
    group = group_commit(db)
    if group is not None:
        return await group.run(work)
    return await to_thread.run_sync(db.run_write, work)


@contextmanager
def transaction(connection: ASGIConnection, *, write: bool) -> Iterator[Tenant]:  # type: ignore[type-arg]
    """The request's one transaction, scoped to the caller's company; commits only on success."""
    db: Database = connection.app.state.db
    caller: Caller = connection.state.caller
    with db.write() if write else db.read() as session:
        yield Tenant(session, caller)
