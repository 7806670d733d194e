"""Seed 001's wire shapes: the ownership object exactly as the seed shows it, DRF-style pages."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from msgspec import UNSET, Meta, Struct, UnsetType

from custody.db.models import Device, Ownership
from custody.domain.fields import RowId
from custody.domain.ownership import OPEN_END

# Times as in the seed: `2024-01-01T06:00:00.000000Z`; tz-aware on input (RFC 3339, `Z` or offset).
Time = Annotated[datetime, Meta(tz=True, description="RFC 3339 date-time with Z or an offset")]
OPEN_END_TEXT = "2999-12-31T23:59:59Z"


def micros(value: datetime) -> str:
    """Seed 001's instant format: `2024-01-01T06:00:00.000000Z`."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def render_time(value: datetime | None) -> str:
    """An instant as the seed writes it; an open end (None) as the seed's far-future marker."""
    if value is None or value >= OPEN_END:
        return OPEN_END_TEXT
    return micros(value)


class Error(Struct):
    """Every 4xx of this API: a readable `detail` and a stable lower_snake `code`."""

    detail: str
    code: str


class DeviceDetails(Struct):
    id: int
    device_name: str | None
    serial_number: str | None


class OwnershipItem(Struct):
    id: int
    start_time: Annotated[str, Meta(examples=["2024-01-01T06:00:00.000000Z"])]
    end_time: Annotated[
        str, Meta(description=f"`{OPEN_END_TEXT}` while the ownership has no end", examples=[OPEN_END_TEXT])
    ]
    device: int
    manager: int
    device_details: DeviceDetails


class Page(Struct):
    count: int
    next: str | None
    previous: str | None


class OwnershipPage(Page):
    results: list[OwnershipItem]


class DevicePage(Page):
    results: list[DeviceDetails]


class Take(Struct, kw_only=True, forbid_unknown_fields=True):
    """Take ownership of the device with this serial number and name. Without `start_time` the
    caller holds it from now; a future `start_time` books it ahead (a reservation). Without
    `end_time` (or with `2999-12-31T23:59:59Z`) it is held until released or until the device's next
    booking starts. A company key (not bound to a person) must name the person in `manager`."""

    serial_number: Annotated[str, Meta(min_length=1, max_length=100)]
    device_name: Annotated[str, Meta(min_length=1, max_length=200)]
    start_time: Time | UnsetType = UNSET
    end_time: Time | UnsetType = UNSET
    manager: RowId | UnsetType = UNSET


def device_details(device: Device) -> DeviceDetails:
    return DeviceDetails(id=device.id, device_name=device.name, serial_number=device.serial_number)


def ownership_item(span: Ownership, device: Device) -> OwnershipItem:
    return OwnershipItem(
        id=span.id,
        start_time=render_time(span.start_time),
        end_time=render_time(span.end_time),
        device=span.device_id,
        manager=span.person_id,
        device_details=device_details(device),
    )
