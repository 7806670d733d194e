"""The device management API as its own ASGI app: routes, its OpenAPI document at
`{base}/openapi.json`, and one error style for every 4xx / 5xx, as a NestJS service writes it:
`{"statusCode": 404, "message": "...", "error": "Not Found"}`."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from litestar import Litestar, MediaType, Request, Response
from litestar.datastructures import State
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
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme

from custody.apis.common import validation_message
from custody.apis.device_management.routes import router
from custody.apis.device_management.schemas import ManagementSchemas
from custody.db.engine import Database
from custody.domain.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound

log = logging.getLogger("custody")
_STATUS = {InvalidInput: 400, Forbidden: 403, NotFound: 404, Conflict: 409}


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response[Any]:
    body = {"statusCode": status, "message": message, "error": HTTPStatus(status).phrase}
    return Response(content=body, status_code=status, media_type=MediaType.JSON, headers=headers)


def _handle(_: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if isinstance(exc, DomainError):
        status = next(code for kind, code in _STATUS.items() if isinstance(exc, kind))
        return _error(status, exc.message)
    if isinstance(exc, ValidationException):
        return _error(400, validation_message(exc, "Invalid request"))
    if isinstance(exc, NotAuthorizedException):
        return _error(401, "Missing or invalid API key", {"WWW-Authenticate": "Bearer"})
    if isinstance(exc, PermissionDeniedException):
        return _error(403, "This API key is read-only")
    if isinstance(exc, TooManyRequestsException):
        return _error(429, exc.detail, exc.headers)
    if isinstance(exc, NotFoundException):
        return _error(404, "Cannot find this path")
    if isinstance(exc, MethodNotAllowedException):
        return _error(405, "Method not allowed on this path", exc.headers)
    if isinstance(exc, HTTPException) and exc.status_code < 500:
        return _error(exc.status_code, exc.detail)
    log.exception("unhandled error", exc_info=exc)
    return _error(500, "Internal server error")


def create_device_management_app(db: Database, base: str) -> Litestar:
    """`base` is "" (the default) to serve at the root, else a prefix such as "/primo"."""
    return Litestar(
        route_handlers=[router(base)],
        exception_handlers={Exception: _handle},
        plugins=[ManagementSchemas()],
        openapi_config=OpenAPIConfig(
            title="Custody — device management API",
            version="1.0.0",
            description="Primo-compatible device management API: laptops, tablets and smartphones, and the "
            "employees who hold them, by 24-hex ids. Authenticate with `Authorization: Bearer <API key>`; a "
            'read-only key may only read. Errors are `{"statusCode": <status>, "message": "<readable>", '
            '"error": "<reason phrase>"}`. Responses that carry a device say, in `Deprecation` and `Sunset` '
            "headers, that its `computerName` field is deprecated and when it goes.",
            # Only the document, at `{base}/openapi.json`: no documentation pages or catch-all at the root.
            path=f"{base}/openapi.json",
            render_plugins=[JsonRenderPlugin(path="/")],
            components=Components(
                security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer", description="API key")}
            ),
            security=[{"bearer": []}],
        ),
        state=State({"db": db}),
        debug=False,
    )
