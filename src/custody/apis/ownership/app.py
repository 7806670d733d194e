"""The device ownership API as its own ASGI app: `/v1/...` paths with their trailing slash,
errors as Django REST framework writes them (`{"detail": ...}`), plus a stable `code`."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Litestar, MediaType, Request, Response
from litestar.datastructures import MutableScopeHeaders, State
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    TooManyRequestsException,
    ValidationException,
)
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.types import Message, Scope

from custody.apis.common import validation_message
from custody.apis.openapi import StrictStructSchemas
from custody.apis.ownership.routes import router
from custody.db.engine import Database
from custody.domain.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from custody.ratelimit import RateLimiter, RateResult, rate_limit_headers

log = logging.getLogger("custody")
_STATUS = {InvalidInput: 400, Forbidden: 403, NotFound: 404, Conflict: 409}


def _error(status: int, detail: str, code: str, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(
        content={"detail": detail, "code": code}, status_code=status, media_type=MediaType.JSON, headers=headers
    )


def _handle(_: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if isinstance(exc, DomainError):
        status = next(code for kind, code in _STATUS.items() if isinstance(exc, kind))
        detail = "Not found." if status == 404 else exc.message
        return _error(status, detail, exc.code.lower())
    if isinstance(exc, ValidationException):
        return _error(400, validation_message(exc, "Invalid input."), "invalid")
    if isinstance(exc, NotAuthorizedException):
        return _error(401, "Invalid or missing API key.", "not_authenticated", {"WWW-Authenticate": "Bearer"})
    if isinstance(exc, PermissionDeniedException):
        return _error(403, "You do not have permission to perform this action.", "permission_denied")
    if isinstance(exc, TooManyRequestsException):
        return _error(429, exc.detail, "throttled", exc.headers)
    if isinstance(exc, NotFoundException):
        return _error(404, "Not found.", "not_found")
    if isinstance(exc, MethodNotAllowedException):
        return _error(405, "Method not allowed.", "method_not_allowed", exc.headers)
    if isinstance(exc, HTTPException) and exc.status_code < 500:
        return _error(exc.status_code, exc.detail, "error")
    log.exception("unhandled error", exc_info=exc)
    return _error(500, "A server error occurred.", "error")


async def _rate_headers(message: Message, scope: Scope) -> None:
    """Every answer to a counted request says where its key stands (RateLimit-* headers)."""
    if message["type"] != "http.response.start":
        return
    result = scope.get("state", {}).get("rate")
    if isinstance(result, RateResult) and result.allowed:
        headers = MutableScopeHeaders.from_message(message)
        for name, value in rate_limit_headers(result).items():
            headers[name] = value


def create_ownership_app(db: Database, base: str, limiter: RateLimiter) -> Litestar:
    app = Litestar(
        route_handlers=[router(base)],
        exception_handlers={Exception: _handle},
        plugins=[StrictStructSchemas()],
        openapi_config=OpenAPIConfig(
            title="Custody — device ownership API",
            version="1.0.0",
            description="Insiders-compatible device ownership API. Every path ends with a slash. "
            'Errors are `{"detail": "<message>", "code": "<code>"}`; 429 carries `Retry-After`.',
            path=base,
            components=Components(
                security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer", description="API key")}
            ),
            security=[{"bearer": []}],
        ),
        state=State({"db": db, "limiter": limiter}),
        before_send=[_rate_headers],
        debug=False,
    )
    # Litestar routes `/x` and `/x/` alike and documents `/x`; this API's paths end with a slash.
    paths = app.openapi_schema.paths or {}
    app.openapi_schema.paths = {path if path.endswith("/") else path + "/": item for path, item in paths.items()}
    return app
