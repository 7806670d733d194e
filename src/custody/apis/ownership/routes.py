"""Seed 001 routes: parse, call one domain function, render the seed's objects and DRF-style pages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from litestar import Request, Router, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter

from custody.apis.common import transaction, write
from custody.apis.ownership import schemas
from custody.apis.ownership.params import GUARDS, MAX_PAGE, Bound, page_links, parse_bound
from custody.apis.ownership.reports import REPORT_HANDLERS
from custody.domain import ownership
from custody.domain.tenancy import MAX_ID

ERRORS = {
    400: ResponseSpec(data_container=schemas.Error, description="Invalid input"),
    401: ResponseSpec(data_container=schemas.Error, description="Missing, unknown or revoked key"),
    403: ResponseSpec(data_container=schemas.Error, description="Read-only key, or not the caller's to do"),
    429: ResponseSpec(data_container=schemas.Error, description="Too many requests; see Retry-After"),
}
NOT_FOUND = {404: ResponseSpec(data_container=schemas.Error, description="No such object for this caller")}
CONFLICT = {409: ResponseSpec(data_container=schemas.Error, description="Conflicts with the device's spans")}
PageNumber = Annotated[int, Parameter(ge=1, le=MAX_PAGE, description="Page number, from 1")]
Limit = Annotated[int, Parameter(ge=1, le=100, description="Page size (max 100)")]
Id = Annotated[int, Parameter(ge=1, le=MAX_ID)]


def _items(rows: Sequence[tuple[Any, Any]]) -> list[schemas.OwnershipItem]:
    return [schemas.ownership_item(span, device) for span, device in rows]


@get(
    "/device-ownerships/",
    summary="Get device ownerships",
    description="A person key sees its own ownerships; a company key sees all of its company's. "
    "`start` / `end` keep the ownerships whose span overlaps that window.",
    guards=GUARDS,
    sync_to_thread=True,
    responses={200: ResponseSpec(data_container=schemas.OwnershipPage, description="A page of ownerships"), **ERRORS},
)
def list_ownerships(
    request: Request[Any, Any, Any],
    page: PageNumber = 1,
    limit: Limit = 50,
    device: Annotated[int | None, Parameter(ge=1, le=MAX_ID, description="Device id")] = None,
    manager: Annotated[int | None, Parameter(ge=1, le=MAX_ID, description="Person (manager) id")] = None,
    serial_number: Annotated[str | None, Parameter(max_length=100)] = None,
    current: Annotated[bool | None, Parameter(description="Only ownerships in force now (or, false, not)")] = None,
    start: Bound = None,
    end: Bound = None,
) -> schemas.OwnershipPage:
    query = ownership.OwnershipQuery(
        page=page,
        limit=limit,
        device=device,
        manager=manager,
        serial_number=serial_number,
        current=current,
        start=parse_bound(start, "start"),
        end=parse_bound(end, "end"),
    )
    with transaction(request, write=False) as tenant:
        rows, total = ownership.list_ownerships(tenant, query)
        results = _items(rows)
    following, previous = page_links(request, page, limit, total)
    return schemas.OwnershipPage(count=total, next=following, previous=previous, results=results)


@post(
    "/device-ownerships/",
    summary="Take device ownership",
    description="Assign a device to the caller (or, with a company key, to `manager`) by its serial "
    "number and name. A device someone holds now answers 409 and nothing changes.",
    guards=GUARDS,
    status_code=201,
    responses={
        201: ResponseSpec(data_container=schemas.OwnershipItem, description="The new ownership"),
        **ERRORS,
        **CONFLICT,
    },
)
async def take_ownership(request: Request[Any, Any, Any], data: schemas.Take) -> schemas.OwnershipItem:
    take = ownership.Take(
        serial_number=data.serial_number,
        device_name=data.device_name,
        start_time=data.start_time or None,
        end_time=data.end_time or None,
        person_id=data.manager or None,
    )
    return schemas.ownership_item(*await write(request, lambda tenant: ownership.take(tenant, take)))


@get(
    "/device-ownerships/{ownership_id:int}/",
    summary="Get one device ownership",
    guards=GUARDS,
    sync_to_thread=True,
    responses={
        200: ResponseSpec(data_container=schemas.OwnershipItem, description="The ownership"),
        **ERRORS,
        **NOT_FOUND,
    },
)
def get_ownership(request: Request[Any, Any, Any], ownership_id: Id) -> schemas.OwnershipItem:
    with transaction(request, write=False) as tenant:
        return schemas.ownership_item(*ownership.get_ownership(tenant, ownership_id))


@post(
    "/device-ownerships/{ownership_id:int}/release/",
    summary="Release device ownership",
    description="Ends the ownership now; the record stays. A booking that has not started yet is "
    "cancelled (it ends where it starts). A person key may release only its own ownerships.",
    guards=GUARDS,
    status_code=200,
    responses={
        200: ResponseSpec(data_container=schemas.OwnershipItem, description="The ended ownership"),
        **ERRORS,
        **NOT_FOUND,
        409: ResponseSpec(data_container=schemas.Error, description="Already ended"),
    },
)
async def release_ownership(request: Request[Any, Any, Any], ownership_id: Id) -> schemas.OwnershipItem:
    return schemas.ownership_item(*await write(request, lambda tenant: ownership.release(tenant, ownership_id)))


@get(
    "/devices/",
    summary="List devices",
    description="A person key lists the devices it has owned (`current=true`: those it owns now); a "
    "company key lists its company's devices (`current=true`: those someone owns now). "
    "`serial_number` maps a serial number to its device id.",
    guards=GUARDS,
    sync_to_thread=True,
    responses={200: ResponseSpec(data_container=schemas.DevicePage, description="A page of devices"), **ERRORS},
)
def list_devices(
    request: Request[Any, Any, Any],
    page: PageNumber = 1,
    limit: Limit = 50,
    current: Annotated[bool | None, Parameter(description="Only devices owned now (or, false, not)")] = None,
    serial_number: Annotated[str | None, Parameter(max_length=100)] = None,
) -> schemas.DevicePage:
    query = ownership.DeviceLookup(page=page, limit=limit, current=current, serial_number=serial_number)
    with transaction(request, write=False) as tenant:
        found, total = ownership.list_owned_devices(tenant, query)
        results = [schemas.device_details(d) for d in found]
    following, previous = page_links(request, page, limit, total)
    return schemas.DevicePage(count=total, next=following, previous=previous, results=results)


@get(
    "/devices/{device_id:int}/",
    summary="Get one device",
    guards=GUARDS,
    sync_to_thread=True,
    responses={
        200: ResponseSpec(data_container=schemas.DeviceDetails, description="The device"),
        **ERRORS,
        **NOT_FOUND,
    },
)
def get_device(request: Request[Any, Any, Any], device_id: Id) -> schemas.DeviceDetails:
    with transaction(request, write=False) as tenant:
        return schemas.device_details(ownership.get_owned_device(tenant, device_id))


def router(base: str) -> Router:
    return Router(
        path=base,
        route_handlers=[
            list_ownerships,
            take_ownership,
            get_ownership,
            release_ownership,
            list_devices,
            get_device,
            *REPORT_HANDLERS,
        ],
    )
