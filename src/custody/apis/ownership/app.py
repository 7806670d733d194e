"""The device ownership API as its own ASGI app: `/v1/...` paths with their trailing slash,
errors as Django REST framework writes them (`{"detail": ...}`), plus a stable `code`."""

from __future__ import annotations

from litestar import Litestar
from litestar.datastructures import MutableScopeHeaders, State
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.types import Message, Scope

from custody.apis import errors
from custody.apis.errors import Problem
from custody.apis.openapi import StrictStructSchemas
from custody.apis.ownership.routes import router
from custody.db.engine import Database
from custody.ratelimit import RateLimiter, RateResult, rate_limit_headers

# Django REST framework's codes and messages for what the framework answers.
_DRF = {
    errors.INVALID: ("invalid", "Invalid input."),
    errors.UNAUTHORIZED: ("not_authenticated", "Invalid or missing API key."),
    errors.INSUFFICIENT_SCOPE: ("permission_denied", "You do not have permission to perform this action."),
    errors.THROTTLED: ("throttled", "Request was throttled."),
    errors.NO_ROUTE: ("not_found", "Not found."),
    errors.METHOD_NOT_ALLOWED: ("method_not_allowed", "Method not allowed."),
    errors.HTTP_ERROR: ("error", "Invalid request."),
    errors.INTERNAL_ERROR: ("error", "A server error occurred."),
}


def _body(problem: Problem) -> dict[str, str]:
    """`{"detail": "<message>", "code": "<lower_snake>"}`; a 404 says no more than "Not found."."""
    code, fallback = _DRF.get(problem.code, (problem.code.lower(), problem.code))
    detail = "Not found." if problem.status == 404 else problem.message or fallback
    return {"detail": detail, "code": code}


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
        exception_handlers={Exception: errors.exception_handler(_body)},
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
