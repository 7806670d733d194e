"""The company devices API as its own ASGI app: routes, OpenAPI document, `{"error": ...}` style."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Litestar, MediaType, Request, Response
from litestar.datastructures import State
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from custody.apis.common import validation_message
from custody.apis.company_devices.routes import router
from custody.apis.company_devices.schemas import CompanyDevicesSchemas
from custody.db.engine import Database
from custody.domain.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound

log = logging.getLogger("custody")
_STATUS = {InvalidInput: 400, Forbidden: 403, NotFound: 404, Conflict: 409}


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(content={"error": message}, status_code=status, media_type=MediaType.JSON, headers=headers)


def _handle(_: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if isinstance(exc, DomainError):
        status = next(code for kind, code in _STATUS.items() if isinstance(exc, kind))
        # 400 bodies carry a readable message; it leads with the code clients branch on.
        readable = status == 400 and exc.message != exc.code
        return _error(status, f"{exc.code}: {exc.message}" if readable else exc.code)
    if isinstance(exc, ValidationException):
        return _error(400, validation_message(exc, "invalid request"))
    if isinstance(exc, NotAuthorizedException):
        return _error(401, "UNAUTHORIZED", {"WWW-Authenticate": "Bearer"})
    if isinstance(exc, PermissionDeniedException):
        return _error(403, "INSUFFICIENT_SCOPE")
    if isinstance(exc, NotFoundException):
        return _error(404, "NOT_FOUND")
    if isinstance(exc, MethodNotAllowedException):
        return _error(405, "METHOD_NOT_ALLOWED", exc.headers)
    if isinstance(exc, HTTPException):
        status = exc.status_code
        return _error(status, exc.detail if status < 500 else "INTERNAL_ERROR")
    log.exception("unhandled error", exc_info=exc)
    return _error(500, "INTERNAL_ERROR")


def create_company_devices_app(db: Database, base: str) -> Litestar:
    return Litestar(
        route_handlers=[router(base)],
        exception_handlers={Exception: _handle},
        plugins=[CompanyDevicesSchemas()],
        openapi_config=OpenAPIConfig(
            title="Custody — company devices API",
            version="1.0.0",
            description="fleet.co-compatible company devices API. Keys are READ or WRITE; errors are "
            '`{"error": "<code or message>"}`.',
            path=f"{base}",
            components=Components(
                security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer", description="API key")}
            ),
            security=[{"bearer": []}],
        ),
        state=State({"db": db}),
        debug=False,
    )
