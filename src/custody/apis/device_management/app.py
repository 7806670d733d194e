"""The device management API as its own ASGI app: routes, its OpenAPI document at
`{base}/openapi.json`, and one error style for every 4xx / 5xx, as a NestJS service writes it:
`{"statusCode": 404, "message": "...", "error": "Not Found"}`."""

from __future__ import annotations

from http import HTTPStatus

from litestar import Litestar
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme

from custody.apis import errors
from custody.apis.device_management.routes import router
from custody.apis.device_management.schemas import ManagementSchemas
from custody.apis.errors import Problem
from custody.db.engine import Database

_MESSAGES = {
    errors.INVALID: "Invalid request",
    errors.UNAUTHORIZED: "Missing or invalid API key",
    errors.INSUFFICIENT_SCOPE: "This API key is read-only",
    errors.NO_ROUTE: "Cannot find this path",
    errors.METHOD_NOT_ALLOWED: "Method not allowed on this path",
    errors.INTERNAL_ERROR: "Internal server error",
}


def _body(problem: Problem) -> dict[str, object]:
    """NestJS's `{"statusCode", "message", "error": <reason phrase>}`."""
    message = problem.message or _MESSAGES.get(problem.code, problem.code)
    return {"statusCode": problem.status, "message": message, "error": HTTPStatus(problem.status).phrase}


def create_device_management_app(db: Database, base: str) -> Litestar:
    """`base` is "" (the default) to serve at the root, else a prefix such as "/primo"."""
    return Litestar(
        route_handlers=[router(base)],
        exception_handlers={Exception: errors.exception_handler(_body)},
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
