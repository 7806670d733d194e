"""What every seed-001 route shares: its guards (key, then rate limit), time-window bounds, and
DRF-style page links."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

import msgspec
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import TooManyRequestsException
from litestar.handlers.base import BaseRouteHandler
from litestar.params import Parameter
from msgspec import Meta

from custody.apis.common import require_key
from custody.domain.errors import InvalidInput
from custody.domain.tenancy import MAX_ID, Caller
from custody.ratelimit import RateLimiter, rate_limit_headers


async def throttle(connection: ASGIConnection, _: BaseRouteHandler) -> None:  # type: ignore[type-arg]
    """Guard, after `require_key`: 429 with Retry-After once a key is over its per-minute limit.
    The counts live in the database, so every worker shares them."""
    limiter: RateLimiter = connection.app.state.limiter
    caller: Caller = connection.state.caller
    if caller.key_id is None:
        return
    result = await limiter.hit(caller.key_id)
    connection.state.rate = result
    if not result.allowed:
        raise TooManyRequestsException(
            detail=f"Request was throttled. Expected available in {result.reset} seconds.",
            headers=rate_limit_headers(result),
        )


GUARDS = [require_key, throttle]
MAX_PAGE = MAX_ID // 1000  # (page - 1) * limit stays within 64 bits for every page size here

Bound = Annotated[
    str | None,
    Parameter(
        max_length=64,
        description="RFC 3339 date-time with Z or an offset",
        schema_extra={"format": "date-time"},
    ),
]
_UNESCAPED_PLUS = re.compile(r"(\d) (\d\d:?\d\d)$")
_AWARE = Annotated[datetime, Meta(tz=True)]


def parse_bound(text: str | None, name: str) -> datetime | None:
    """A window bound: RFC 3339 with `Z` or an offset; naive or malformed is a 400."""
    if text is None:
        return None
    # `+02:00` sent unescaped in a query string arrives as ` 02:00`; nothing else puts a space there.
    text = _UNESCAPED_PLUS.sub(r"\1+\2", text)
    try:
        value = msgspec.convert(text, _AWARE)
    except msgspec.ValidationError:
        raise InvalidInput("INVALID", f"{name} must be an RFC 3339 date-time with Z or an offset") from None
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 0001-01-01 with a positive offset, 9999-12-31 with a negative one
        return (datetime.min if value.year == 1 else datetime.max).replace(tzinfo=UTC)


def page_links(request: Request[Any, Any, Any], page: int, limit: int, total: int) -> tuple[str | None, str | None]:
    """Absolute `next` / `previous` links, as Django REST framework writes them."""
    # The raw path: Litestar's routing path has lost the trailing slash this API's paths carry.
    # (Some ASGI servers and test clients leave the query string on it.)
    raw_path = request.scope["raw_path"].split(b"?", 1)[0]
    here = str(request.base_url).rstrip("/") + raw_path.decode("latin-1")
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in ("page", "limit")]

    def link(number: int) -> str:
        return here + "?" + urlencode([*kept, ("page", number), ("limit", limit)])

    return (link(page + 1) if page * limit < total else None), (link(page - 1) if page > 1 else None)
