"""What the three API views share: the caller behind the request and its one transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import cast

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.types import HTTPScope

from custody.db.engine import Database
from custody.domain.keys import authenticate
from custody.domain.tenancy import Caller, Tenant

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_ID = 2**63 - 1  # larger path ids cannot exist; answer them as not found, not as an overflow


def require_key(connection: ASGIConnection, _: BaseRouteHandler) -> None:  # type: ignore[type-arg]
    """Guard: 401 without a live key, 403 when a read key asks to write. Runs before any parsing."""
    db: Database = connection.app.state.db
    with db.engine.connect() as conn:
        caller = authenticate(conn, connection.headers.get("authorization"))
    if caller is None:
        raise NotAuthorizedException("UNAUTHORIZED")
    if cast("HTTPScope", connection.scope)["method"] not in READ_METHODS and not caller.can_write:
        raise PermissionDeniedException("INSUFFICIENT_SCOPE")
    connection.state.caller = caller


@contextmanager
def transaction(connection: ASGIConnection, *, write: bool) -> Iterator[Tenant]:  # type: ignore[type-arg]
    """The request's one transaction, scoped to the caller's company; commits only on success."""
    db: Database = connection.app.state.db
    caller: Caller = connection.state.caller
    with db.write() if write else db.read() as session:
        yield Tenant(session, caller)
