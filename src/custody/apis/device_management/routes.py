"""Seed 000 routes: parse, call one domain function, build the camelCase records."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Annotated, Any

import msgspec
from litestar import Request, Router, get, patch, post
from litestar.datastructures import ResponseHeader
from litestar.exceptions import ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter

from custody.apis.common import read, require_key, transaction
from custody.apis.device_management import schemas
from custody.domain import management
from custody.domain.fields import HEX_ID_PATTERN, DeviceKind, Platform

# `computerName` is deprecated: removed on the seed's date (RFC 8594 `Sunset`, an HTTP-date), and
# deprecated since this date of ours (RFC 9745 `Deprecation`, a structured-field date `@<epoch>`).
DEPRECATED_SINCE = datetime(2025, 10, 13, tzinfo=UTC)
DEVICE_HEADERS = [
    ResponseHeader(
        name="Deprecation",
        value=f"@{int(DEPRECATED_SINCE.timestamp())}",
        description="RFC 9745: the device object carries a deprecated field (`computerName`, use `name`)",
        required=True,
    ),
    ResponseHeader(
        name="Sunset",
        value=format_datetime(schemas.COMPUTER_NAME_REMOVAL, usegmt=True),
        description="RFC 8594: when `computerName` will be removed",
        required=True,
    ),
]


def _error(description: str) -> ResponseSpec:
    return ResponseSpec(data_container=schemas.Error, description=description, generate_examples=False)


READ_ERRORS = {
    400: _error("Bad Request: a malformed id, parameter or body"),
    401: _error("Unauthorized: missing, unknown or revoked API key"),
}
WRITE_ERRORS = {**READ_ERRORS, 403: _error("Forbidden: a read-only key asked to write")}
DEVICE_NOT_FOUND = {404: _error("Not Found: no such device of yours (other companies' ids too), or not a device")}

DeviceId = Annotated[str, Parameter(pattern=HEX_ID_PATTERN, description="Device ID")]
EmployeeId = Annotated[str, Parameter(pattern=HEX_ID_PATTERN, description="Employee ID")]
PageNumber = Annotated[int, Parameter(ge=1, le=2**31 - 1, description="Page number, from 1")]
PerPage = Annotated[int, Parameter(query="perPage", ge=1, le=100, description="Items per page (at most 100)")]


async def strict_body(request: Request[Any, Any, Any]) -> None:
    """Decode a request body strictly before Litestar's own, lenient, conversion (which would take
    `"year": "2024"` for 2024): a wrong type is a 400. Runs after the guards."""
    data = request.route_handler.parsed_fn_signature.parameters.get("data")
    if data is None:
        return
    try:
        msgspec.json.decode(await request.body(), type=data.annotation, strict=True)
    except msgspec.DecodeError as error:  # a ValidationError is a DecodeError too
        raise ValidationException(str(error)) from error


def _pagination(page: management.Page) -> schemas.Pagination:
    return schemas.Pagination(
        total_elements=page.total, total_pages=page.total_pages, page=page.page, per_page=page.per_page
    )


@get(
    "/devices",
    summary="List devices",
    response_description="A page of devices",
    description="Laptops, tablets and smartphones of your company, oldest first.",
    guards=[require_key],
    response_headers=DEVICE_HEADERS,
    responses=READ_ERRORS,
)
async def list_devices(
    request: Request[Any, Any, Any],
    page: PageNumber = 1,
    per_page: PerPage = 20,
    owner_id: Annotated[
        str | None, Parameter(query="ownerId", pattern=HEX_ID_PATTERN, description="Devices this employee holds now")
    ] = None,
    platform: Annotated[Platform | None, Parameter(description="Operating system platform")] = None,
    kind: Annotated[DeviceKind | None, Parameter(query="type", description="Device type")] = None,
    tag: Annotated[str | None, Parameter(min_length=1, max_length=100, description="Devices with this tag")] = None,
    search: Annotated[
        str | None,
        Parameter(max_length=200, description="Words that must all appear in the name, serial number or holder"),
    ] = None,
) -> schemas.DevicePage:
    query = management.DeviceFilter(
        page=page, per_page=per_page, owner_id=owner_id, platform=platform, type=kind, tag=tag, search=search
    )
    found = await read(request, lambda tenant: management.list_devices(tenant, query))
    return schemas.DevicePage(data=[schemas.Device(**r) for r in found.items], pagination=_pagination(found))


@get(
    "/devices/{deviceId:str}",
    summary="Get a device by ID",
    response_description="The device",
    guards=[require_key],
    response_headers=DEVICE_HEADERS,
    responses={**READ_ERRORS, **DEVICE_NOT_FOUND},
)
async def get_device(request: Request[Any, Any, Any], deviceId: DeviceId) -> schemas.Device:
    return schemas.Device(**await read(request, lambda tenant: management.get_device(tenant, deviceId)))


@patch(
    "/devices/{deviceId:str}",
    summary="Update a device",
    response_description="The device, as updated",
    description="Update the device for the given device ID. Currently supports updating the device assignee "
    "(ownerId): the previous holder's ownership ends and the new one's starts, in one transaction; null "
    "unassigns.",
    guards=[require_key],
    sync_to_thread=True,
    response_headers=DEVICE_HEADERS,
    responses={
        **WRITE_ERRORS,
        404: _error("Not Found: no such device, or ownerId is no employee of your company (nothing changes)"),
        409: _error("Conflict: the new ownership would overlap another one (a booking made meanwhile)"),
    },
)
def update_device(
    request: Request[Any, Any, Any],
    deviceId: DeviceId,
    data: schemas.DevicePatch,
) -> schemas.Device:
    with transaction(request, write=True) as tenant:
        return schemas.Device(**management.assign_device(tenant, deviceId, data.owner_id))


@post(
    "/devices",
    summary="Create a device",
    response_description="The new device",
    guards=[require_key],
    sync_to_thread=True,
    response_headers=DEVICE_HEADERS,
    responses={
        **WRITE_ERRORS,
        404: _error("Not Found: ownerId is no employee of your company"),
        409: _error("Conflict: the serial number is another device's"),
    },
)
def create_device(request: Request[Any, Any, Any], data: schemas.NewDevice) -> schemas.Device:
    new = management.NewDevice(**msgspec.structs.asdict(data))
    with transaction(request, write=True) as tenant:
        return schemas.Device(**management.create_device(tenant, new))


@get(
    "/employees",
    summary="List employees",
    response_description="A page of employees",
    description="Employees of your company, oldest first.",
    guards=[require_key],
    sync_to_thread=True,
    responses=READ_ERRORS,
)
def list_employees(
    request: Request[Any, Any, Any],
    page: PageNumber = 1,
    per_page: PerPage = 20,
    search: Annotated[
        str | None, Parameter(max_length=200, description="Words that must all appear in the name or email")
    ] = None,
) -> schemas.EmployeePage:
    query = management.EmployeeFilter(page=page, per_page=per_page, search=search)
    with transaction(request, write=False) as tenant:
        found = management.list_employees(tenant, query)
    return schemas.EmployeePage(data=[schemas.Employee(**r) for r in found.items], pagination=_pagination(found))


@get(
    "/employees/{employeeId:str}",
    summary="Get an employee by ID",
    response_description="The employee",
    guards=[require_key],
    sync_to_thread=True,
    responses={**READ_ERRORS, 404: _error("Not Found: no such employee of your company")},
)
def get_employee(request: Request[Any, Any, Any], employeeId: EmployeeId) -> schemas.Employee:
    with transaction(request, write=False) as tenant:
        return schemas.Employee(**management.get_employee(tenant, employeeId))


@post(
    "/employees",
    summary="Create an employee",
    response_description="The new employee",
    guards=[require_key],
    sync_to_thread=True,
    responses={
        **WRITE_ERRORS,
        404: _error("Not Found: managerId is no employee of your company"),
        409: _error("Conflict: an employee of your company already has this email"),
    },
)
def create_employee(request: Request[Any, Any, Any], data: schemas.NewEmployee) -> schemas.Employee:
    new = management.NewEmployee(**msgspec.structs.asdict(data))
    with transaction(request, write=True) as tenant:
        return schemas.Employee(**management.create_employee(tenant, new))


def router(base: str) -> Router:
    return Router(
        path=base or "/",
        before_request=strict_body,
        route_handlers=[
            list_devices,
            get_device,
            update_device,
            create_device,
            list_employees,
            get_employee,
            create_employee,
        ],
    )
