"""The bare ceiling: Starlette + orjson serving one fixed company-devices page from memory.

Each request re-encodes the page with orjson, as a server that has the data at hand would."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

PAGE = orjson.loads(Path(os.environ["CUSTODY_BASELINE_PAGE"]).read_bytes())


async def devices(_: Request) -> Response:
    return Response(orjson.dumps(PAGE), media_type="application/json")


app = Starlette(routes=[Route("/platform/v1/devices", devices)])
