"""Seed 000's wire shapes, camelCase on the wire (`rename="camel"`). Records come from the domain
as snake_case values and are built into these structs; request bodies are decoded straight into
them (unknown keys refused)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

from litestar.openapi.spec import Reference
from msgspec import Meta, Struct

from custody.apis.openapi import StrictStructSchemas
from custody.domain.fields import (
    DeviceKind,
    EdrProvider,
    HexId,
    Instant,
    Int32,
    LockWipeStatus,
    Platform,
    Serial,
    Str100,
)

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.openapi.spec import Schema
    from litestar.typing import FieldDefinition

# The seed announces that `computerName` (a copy of `name`) goes on this day.
COMPUTER_NAME_REMOVAL = datetime(2026, 4, 13, tzinfo=UTC)
COMPUTER_NAME_DEPRECATED = (
    f"Deprecated — use name instead. This field will be removed on {COMPUTER_NAME_REMOVAL:%Y-%m-%d}."
)
Name = Annotated[str, Meta(min_length=1, max_length=200)]
PersonName = Annotated[str, Meta(min_length=1, max_length=100)]
Tag = Annotated[str, Meta(min_length=1, max_length=100)]
Team = Annotated[str, Meta(min_length=1, max_length=100)]
# The vendor's own email pattern; at most 254 characters, as the column holds.
Email = Annotated[
    str,
    Meta(
        max_length=254,
        pattern=r"^(?!\.)(?!.*\.\.)([A-Za-z0-9_'+\-\.]*)[A-Za-z0-9_+-]@([A-Za-z0-9][A-Za-z0-9\-]*\.)+[A-Za-z]{2,}$",
    ),
]


def described(description: str) -> Meta:
    return Meta(description=description)


class Device(Struct, rename="camel"):
    """A laptop, tablet or smartphone. Every field is always present, `null` where unknown."""

    id: HexId
    tags: list[str]
    is_enrolled: bool
    created_at: Instant
    updated_at: Instant
    owner_id: Annotated[HexId, described("The ID of the employee assigned to this device")] | None
    name: str | None
    serial_number: str | None
    computer_name: Annotated[str, described(COMPUTER_NAME_DEPRECATED)] | None
    type: DeviceKind
    platform: Platform
    brand: str | None
    manufacturer: str | None
    model_name: str | None
    model_identifier: str | None
    year: int | None
    os_version: str | None
    os_name: str | None
    build_version: str | None
    enrolled_at: Instant | None
    disenrolled_at: Instant | None
    lock_wipe_status: (
        Annotated[
            LockWipeStatus,
            described(
                "Current lock/wipe status of the device. LOCKING/LOCKED for lock operations, UNLOCKING for unlock "
                "in progress, WIPING/WIPED for wipe operations. Null when device is in normal state."
            ),
        ]
        | None
    )
    edr_provider: (
        Annotated[
            EdrProvider,
            described(
                "EDR provider protecting the device: SENTINELONE, THREATDOWN, or null when no EDR (e.g. no EDR "
                "configured, or device not yet protected)."
            ),
        ]
        | None
    )


class Pagination(Struct, rename="camel"):
    total_elements: Annotated[int, Meta(ge=0, description="Matches before paging")]
    total_pages: Annotated[int, Meta(ge=0, description="ceil(totalElements / perPage)")]
    page: Annotated[int, Meta(ge=1)]
    per_page: Annotated[int, Meta(ge=1, le=100)]


class DevicePage(Struct):
    data: list[Device]
    pagination: Pagination


class Employee(Struct, rename="camel"):
    id: HexId
    first_name: str
    last_name: str
    email: str
    teams: list[str]
    device_ids: Annotated[list[HexId], described("The devices (of this API) the employee holds now")]
    created_at: Instant
    updated_at: Instant
    manager_id: HexId | None
    start_date: Instant | None
    termination_date: Instant | None


class EmployeePage(Struct):
    data: list[Employee]
    pagination: Pagination


class Error(Struct, rename="camel"):
    """Every 4xx and 5xx answer, in the NestJS style: the status, a readable message, its reason."""

    status_code: Annotated[int, Meta(ge=400, le=599)]
    message: str
    error: Annotated[str, described("The status's reason phrase, e.g. `Not Found`")]


class DevicePatch(Struct, rename="camel", forbid_unknown_fields=True):
    """Only the assignee can change here: any other key is refused."""

    owner_id: Annotated[HexId, described("ID of the employee to assign this device to, or null to unassign")] | None


class NewDevice(Struct, rename="camel", kw_only=True, forbid_unknown_fields=True):
    serial_number: Annotated[Serial, described("Serial number of the device")] | None = None
    name: Annotated[Name, described("Display name of the device")] | None = None
    platform: Annotated[Platform, described("Operating system platform; null shows as UNKNOWN")] | None = None
    type: Annotated[
        DeviceKind, described("Device type (LAPTOP, TABLET, SMARTPHONE). Required: this API shows no other kinds.")
    ]
    brand: Annotated[Str100, described("Brand or manufacturer name")] | None = None
    model_name: Annotated[Str100, described("Model name of the device")] | None = None
    year: Annotated[Int32, described("Year the device was manufactured")] | None = None
    owner_id: Annotated[HexId, described("ID of the employee to assign this device to")] | None = None
    tags: Annotated[list[Tag], Meta(max_length=100, description="List of tags")] = []


class NewEmployee(Struct, rename="camel", kw_only=True, forbid_unknown_fields=True):
    first_name: Annotated[PersonName, described("First name of the employee")]
    last_name: Annotated[PersonName, described("Last name of the employee")]
    email: Annotated[Email, described("Work email address of the employee (unique in the company)")]
    start_date: Annotated[Instant, described("Employment start date (ISO 8601, UTC)")] | None = None
    termination_date: (
        Annotated[Instant, described("Employment end date (ISO 8601, UTC), not before startDate")] | None
    ) = None
    manager_id: Annotated[HexId, described("ID of the manager employee")] | None = None
    teams: Annotated[list[Team], Meta(max_length=100, description="List of team names")] = []


class ManagementSchemas(StrictStructSchemas):
    """The shared strict schemas, plus: `computerName` is deprecated."""

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: SchemaCreator) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        if field_definition.type_ is Device and schema.properties:
            computer_name = schema.properties["computerName"]
            assert not isinstance(computer_name, Reference)
            computer_name.deprecated = True
        return schema
