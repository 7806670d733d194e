"""The company devices API as its own ASGI app: routes, OpenAPI document, `{"error": ...}` style."""

from __future__ import annotations

from litestar import Litestar
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from custody.apis import errors
from custody.apis.company_devices.routes import router
from custody.apis.company_devices.schemas import CompanyDevicesSchemas
from custody.apis.errors import Problem
from custody.db.engine import Database


def _body(problem: Problem) -> dict[str, str]:
    """`{"error": CODE}`; a 400 leads with its code and then says what is wrong."""
    if problem.code in (errors.INVALID, errors.HTTP_ERROR):
        return {"error": problem.message or "invalid request"}
    if problem.status == 400 and problem.message:
        return {"error": f"{problem.code}: {problem.message}"}
    return {"error": problem.code}


def create_company_devices_app(db: Database, base: str) -> Litestar:
    return Litestar(
        route_handlers=[router(base)],
        exception_handlers={Exception: errors.exception_handler(_body)},
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
