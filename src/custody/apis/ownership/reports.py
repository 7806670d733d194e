"""Device reports on the ownership API: a device posts its state, callers read it under seed 001's
rule ("you can only access a device's data if a device ownership exists between the device and your
account, and the timespan includes the period you want to retrieve").

`POST /devices/{id}/reports/` is the device's own route: authenticated by a device token
(`cdt_...`, `custody device token ID`), never by an API key. `GET` is for API keys: a company key
reads all of the device's reports, a person key those made inside its ownership spans."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get, post
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers import HTTPRouteHandler
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter
from msgspec import Meta, Struct

from custody.apis.common import in_write, off_loop, transaction
from custody.apis.ownership.params import GUARDS, Bound, page_links, parse_bound
from custody.apis.ownership.schemas import Error, micros
from custody.db.engine import Database
from custody.db.models import DeviceReport
from custody.domain import reports
from custody.domain.device_tokens import DeviceCaller, authenticate_device
from custody.domain.errors import NotFound
from custody.domain.tenancy import MAX_ID


class ReportBatch(Struct, forbid_unknown_fields=True):
    """1 to 1000 reports, in any order; stored all or none. The newest becomes the device's MDM
    posture unless a newer report is already in."""

    reports: Annotated[list[reports.Report], Meta(min_length=1, max_length=reports.MAX_BATCH)]


class ReportsStored(Struct):
    count: Annotated[int, Meta(description="How many reports were stored")]


MICROS_EXAMPLE = "2024-01-01T06:00:00.000000Z"


class ReportItem(Struct):
    id: int
    device: int
    reported_at: Annotated[str, Meta(examples=[MICROS_EXAMPLE])]
    received_at: Annotated[str, Meta(description="When the server stored it", examples=[MICROS_EXAMPLE])]
    os_name: str | None
    os_version: str | None
    build_version: str | None
    last_seen_at: Annotated[str | None, Meta(examples=[MICROS_EXAMPLE])]
    firewall_enabled: bool | None
    disk_encrypted: bool | None
    screen_lock_enabled: bool | None
    os_updates_enabled: bool | None
    os_updates_available: bool | None
    compromised: bool | None


class ReportPage(Struct):
    count: int
    next: str | None
    previous: str | None
    results: list[ReportItem]


def report_item(row: DeviceReport) -> ReportItem:
    return ReportItem(
        id=row.id,
        device=row.device_id,
        reported_at=micros(row.reported_at),
        received_at=micros(row.received_at),
        os_name=row.os_name,
        os_version=row.os_version,
        build_version=row.build_version,
        last_seen_at=None if row.last_seen_at is None else micros(row.last_seen_at),
        firewall_enabled=row.firewall_enabled,
        disk_encrypted=row.disk_encrypted,
        screen_lock_enabled=row.screen_lock_enabled,
        os_updates_enabled=row.os_updates_enabled,
        os_updates_available=row.os_updates_available,
        compromised=row.compromised,
    )


async def require_device_token(connection: ASGIConnection, _: BaseRouteHandler) -> None:  # type: ignore[type-arg]
    """Guard: 401 without a live device token; 404 when the token is another device's (as if that
    device did not exist). Runs before the body is read."""
    db: Database = connection.app.state.db
    header = connection.headers.get("authorization")

    def lookup() -> DeviceCaller | None:
        with db.statement() as reader:  # one statement: one round trip
            return authenticate_device(reader, header)

    device = await off_loop(db, lookup)
    if device is None:
        raise NotAuthorizedException("UNAUTHORIZED")
    if connection.path_params.get("device_id") != device.device_id:
        raise NotFound(reports.DEVICE_NOT_FOUND)
    connection.state.device = device


DeviceId = Annotated[int, Parameter(ge=1, le=MAX_ID, description="Device id")]
AUTH_ERRORS = {
    400: ResponseSpec(data_container=Error, description="Invalid input"),
    401: ResponseSpec(data_container=Error, description="Missing, unknown or revoked token"),
    429: ResponseSpec(data_container=Error, description="Too many requests; see Retry-After"),
}
NOT_FOUND = {404: ResponseSpec(data_container=Error, description="No such device for this caller")}


@post(
    "/devices/{device_id:int}/reports/",
    summary="Post device reports",
    description="For the device itself: `Authorization: Bearer cdt_...`, a device token of this device "
    "(`custody device token DEVICE_ID`); API keys are refused (401) and another device's token gets 404. "
    'Body `{"reports": [...]}` with 1 to 1000 reports, stored in one transaction, all or none. '
    "`reported_at` may be at most 5 minutes ahead of the server's clock. The newest report becomes the "
    "device's MDM posture (the company devices API's `mdm`) unless a newer one is already stored; a "
    "device without an MDM enrollment is enrolled (ENROLLED, `enrollment_date` = its first report).",
    guards=[require_device_token],
    status_code=201,
    responses={
        201: ResponseSpec(data_container=ReportsStored, description="Stored"),
        **AUTH_ERRORS,
        **NOT_FOUND,
    },
)
async def post_reports(request: Request[Any, Any, Any], device_id: DeviceId, data: ReportBatch) -> ReportsStored:
    device: DeviceCaller = request.state.device
    # A device is not an API-key caller, so not `write()`: its tenant is built by the domain.
    count = await in_write(request.app.state.db, lambda session: reports.ingest_reports(session, device, data.reports))
    return ReportsStored(count=count)


@get(
    "/devices/{device_id:int}/reports/",
    summary="Get device reports",
    description="Reports of one device, oldest first. A company key reads all of them; a person key "
    "only those whose `reported_at` falls inside one of its ownerships of the device "
    "(`[start_time, end_time)`), and 404 for a device it never owned. `start` (inclusive) and `end` "
    "(exclusive) narrow the window further; a window outside every ownership is an empty page.",
    guards=GUARDS,
    sync_to_thread=True,
    responses={
        200: ResponseSpec(data_container=ReportPage, description="A page of reports"),
        **AUTH_ERRORS,
        **NOT_FOUND,
    },
)
def list_reports(
    request: Request[Any, Any, Any],
    device_id: DeviceId,
    start: Bound = None,
    end: Bound = None,
    page: Annotated[int, Parameter(ge=1, le=MAX_ID // reports.MAX_LIMIT, description="Page number, from 1")] = 1,
    limit: Annotated[
        int, Parameter(ge=1, le=reports.MAX_LIMIT, description=f"Page size (max {reports.MAX_LIMIT})")
    ] = reports.DEFAULT_LIMIT,
) -> ReportPage:
    query = reports.ReportQuery(start=parse_bound(start, "start"), end=parse_bound(end, "end"), page=page, limit=limit)
    with transaction(request, write=False) as tenant:
        rows, total = reports.list_reports(tenant, device_id, query)
        results = [report_item(row) for row in rows]
    following, previous = page_links(request, page, limit, total)
    return ReportPage(count=total, next=following, previous=previous, results=results)


REPORT_HANDLERS: list[HTTPRouteHandler] = [post_reports, list_reports]
