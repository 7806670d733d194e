"""What the three API views share: the caller behind the request and its one transaction."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar, cast

from anyio import to_thread
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.types import HTTPScope

from custody.db.engine import Database
from custody.domain.keys import authenticate
from custody.domain.tenancy import Caller, Tenant, TenantSnapshot

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
T = TypeVar("T")


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
        with db.snapshot() as reader:
            return authenticate(reader, header)

    caller = await off_loop(db, lookup)
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


@contextmanager
def transaction(connection: ASGIConnection, *, write: bool) -> Iterator[Tenant]:  # type: ignore[type-arg]
    """The request's one transaction, scoped to the caller's company; commits only on success."""
    db: Database = connection.app.state.db
    caller: Caller = connection.state.caller
    with db.write() if write else db.read() as session:
        yield Tenant(session, caller)
