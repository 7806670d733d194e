"""`GET /devices` without the framework, for the requests that need nothing of it.

The device list is the request Custody serves most, and for it Litestar's routing, guard, parameter
model and response objects cost more than the page itself: under load they took more than half of
a worker's time, the two read snapshots (key, then page) most of the rest. A plain request (every
parameter in its plain form, a live key) is answered here: the holder clock ticks, then one snapshot
authenticates the key and reads the page through the same domain function (on PostgreSQL, without
a search one statement does both, `keyed_page`; with one, the key's statement, then the search's),
rendered in the same bytes as the Litestar route.
Anything else (a 4xx to report, an unusual form of a parameter, HEAD) goes on to the route, which
stays the one definition of the contract and its errors."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from custody.apis.common import holder_clock, off_loop
from custody.apis.company_devices.routes import page_body
from custody.db.engine import Database
from custody.domain import enums
from custody.domain.devices import DeviceQuery, keyed_page, list_devices
from custody.domain.errors import DomainError
from custody.domain.keys import authenticate, caller_by_hash, key_hash
from custody.domain.tenancy import MAX_ID, TenantSnapshot

Scope = MutableMapping[str, Any]
ASGIApp = Callable[..., Awaitable[None]]
_DECIMAL = re.compile(r"(?:0|[1-9][0-9]{0,18})\Z")
_STATUSES = frozenset(enums.DEVICE_CLIENT_STATUSES)
SEARCH_MAX = 200  # the route's `max_length`
LIMIT_MAX = 100


def _int(value: str, low: int, high: int) -> int | None:
    if not _DECIMAL.match(value):
        return None
    number = int(value)
    return number if low <= number <= high else None


def plain_query(query_string: bytes) -> DeviceQuery | None:
    """The query, if every parameter is a known one, given once, in its plain valid form; else None.
    Decoded as Litestar decodes it (`parse_qsl` of the Latin-1 text, blank values kept)."""
    values: dict[str, str] = {}
    for key, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True, separator="&"):
        if key in values or not value:
            return None
        values[key] = value
    query: dict[str, Any] = {}
    for key, value in values.items():
        parsed: int | str | None
        if key == "limit":
            parsed = _int(value, 1, LIMIT_MAX)
        elif key == "offset":
            parsed = _int(value, 0, MAX_ID)
        elif key == "user_id":
            parsed = _int(value, 1, MAX_ID)
        elif key == "client_status":
            parsed = value if value in _STATUSES else None
        elif key == "search":
            parsed = value if len(value) <= SEARCH_MAX else None
        else:
            return None
        if parsed is None:
            return None
        query[key] = parsed
    return DeviceQuery(**query)


class FastList:
    """ASGI: plain `GET {base}/devices` requests answered directly, every other request by `app`."""

    def __init__(self, app: ASGIApp, db: Database, base: str) -> None:
        self.app = app
        self.db = db
        self.path = f"{base}/devices"

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        body = await self._page(scope)
        if body is None:
            await self.app(scope, receive, send)
            return
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _page(self, scope: Scope) -> bytes | None:
        query = plain_query(scope.get("query_string", b""))
        authorizations = [value for name, value in scope["headers"] if name == b"authorization"]
        if query is None or len(authorizations) != 1:
            return None
        header = authorizations[0].decode("latin-1")
        await holder_clock(self.db).tick()

        def read() -> tuple[list[bytes], int] | None:
            try:
                if self.db.dialect == "postgresql":
                    return self._postgresql_page(header, query)
                with self.db.snapshot() as reader:
                    caller = authenticate(reader, header)
                    return None if caller is None else list_devices(TenantSnapshot(reader, caller), query)
            except DomainError:
                return None

        page = await off_loop(self.db, read)
        if page is None:
            return None
        return page_body(*page, query)

    def _postgresql_page(self, header: str, query: DeviceQuery) -> tuple[list[bytes], int] | None:
        """Without a search, the key, the total and the page in one statement (`keyed_page`). A
        search's total and page are one statement too, planned for its words, after the key's own:
        two round trips and no transaction (a snapshot's COMMIT would be a third)."""
        token_hash = key_hash(header)
        if token_hash is None:
            return None
        if query.search is None:
            with self.db.statement() as reader:
                keyed = keyed_page(reader, token_hash, query)
            return None if keyed is None else keyed[1:]
        with self.db.statement() as reader:
            caller = caller_by_hash(reader, token_hash)
        if caller is None:
            return None
        with self.db.statement(planned_per_run=True) as reader:
            return list_devices(TenantSnapshot(reader, caller), query)
