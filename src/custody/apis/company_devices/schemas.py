"""Seed 002's wire shapes. Responses are documented here and rendered from stored documents;
requests are decoded straight into these structs (unknown keys refused)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import msgspec
from litestar.openapi.spec import Reference
from msgspec import UNSET, Meta, Struct, UnsetType

from custody.apis.openapi import StrictStructSchemas
from custody.domain.fields import (
    Characteristics,
    ClientStatus,
    KeyboardLayout,
    MdmStatus,
    OrderStatus,
    ParcelStatus,
    ParcelType,
    RowId,
    Serial,
    Str100,
    Url,
)

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.openapi.spec import Schema
    from litestar.typing import FieldDefinition

# Seed 002's names for the shared input types.
DeviceClientStatus = ClientStatus
OrderClientStatus = OrderStatus
PersonId = RowId
ShortText = Str100
Label = Annotated[str, Meta(min_length=1, max_length=50)]


class Mdm(Struct):
    """MDM enrollment details when the device is enrolled; null otherwise."""

    id: int
    status: MdmStatus
    local_name: str | None
    is_locked: bool | None
    lock_date: str | None
    firewall_enabled: bool | None
    os_updates_enabled: bool | None
    is_encrypted: bool | None
    screenlock_enabled: bool | None
    is_compromised: bool | None
    os_updates_available: bool | None
    disk_encryption_profile_installed: bool | None
    enrollment_date: str | None
    unenrollment_date: str | None
    download_date: str | None
    last_seen_date: str | None
    last_sync_date: str | None


class Order(Struct):
    order_id: int
    client_status: OrderClientStatus
    device_names: list[str]
    rent: str | None
    rent_currency: str | None
    order_number: str | None
    contract_number: str | None
    order_date: str | None
    num_devices: int | None


class Parcel(Struct):
    """Return and inter-office shipments; initial delivery uses the device's tracking fields."""

    id: int
    type: ParcelType
    status: ParcelStatus
    tracking_number: str | None
    tracking_url: str | None
    carrier: str | None
    pickup_address_id: int | None
    reception_address_id: int | None
    pickup_date: str | None
    reception_date: str | None
    shipping_date: str | None
    created_at: str | None


class FullCharacteristics(Struct):
    screen_size: str | None
    graphic: str | None
    processor: str | None
    ram: str | None
    storage: str | None
    model_year: str | None
    connectivity: str | None
    keyboard_layout: KeyboardLayout | None
    resolution: str | None
    has_microphone: bool | None
    has_webcam: bool | None
    noise_cancellation: bool | None
    compliance: list[str] | None
    connection_type: list[str] | None
    has_stool: bool | None
    has_video_package: bool | None
    has_screen: bool | None
    has_premium_tablet: bool | None
    color: str | None
    seats_number: str | None
    assembly: str | None
    os_platform: str | None


class Device(Struct):
    id: int
    name: str | None
    serial_number: str | None
    rent: str | None
    tracking_number: str | None
    tracking_url: str | None
    client_status: DeviceClientStatus
    type: str | None
    category: str | None
    source: str | None
    comment: str | None
    characteristics: FullCharacteristics
    mdm: Mdm | None
    order: Order
    parcels: list[Parcel]
    user_id: int | None


class PageMeta(Struct):
    total: int
    limit: int
    offset: int


class DevicePage(Struct):
    data: list[Device]
    meta: PageMeta


class DeviceEnvelope(Struct):
    data: Device


class CreatedDevices(Struct):
    devices: list[Device]


class CreatedEnvelope(Struct):
    data: CreatedDevices


class Address(Struct):
    id: int
    label: str | None
    address_line_1: str
    address_line_2: str | None
    zip_code: str | None
    city: str
    country: str


class AddressEnvelope(Struct):
    data: Address


class Error(Struct):
    error: str


class NewDevice(Struct, forbid_unknown_fields=True):
    name: Annotated[str, Meta(min_length=1, max_length=200)]
    type: Label
    category: Label
    serial_number: Serial | None = None
    rent: Annotated[str, Meta(max_length=50)] | None = None
    tracking_number: ShortText | None = None
    tracking_url: Url | None = None
    client_status: DeviceClientStatus = "AVAILABLE"
    source: Label | None = None
    comment: Annotated[str, Meta(max_length=5000)] | None = None
    characteristics: Characteristics | None = None
    keyboard_layout: KeyboardLayout | None = None
    user_id: PersonId | None = None


class NewDevices(Struct, forbid_unknown_fields=True):
    devices: Annotated[list[NewDevice], Meta(min_length=1, max_length=1000)]


class DevicePatch(Struct, forbid_unknown_fields=True, omit_defaults=True):
    name: Annotated[str, Meta(min_length=1, max_length=200)] | UnsetType = UNSET
    type: Label | UnsetType = UNSET
    category: Label | UnsetType | None = UNSET
    serial_number: Serial | UnsetType | None = UNSET
    rent: Annotated[str, Meta(max_length=50)] | UnsetType | None = UNSET
    tracking_number: ShortText | UnsetType | None = UNSET
    tracking_url: Url | UnsetType | None = UNSET
    client_status: DeviceClientStatus | UnsetType = UNSET
    source: Label | UnsetType | None = UNSET
    comment: Annotated[str, Meta(max_length=5000)] | UnsetType | None = UNSET
    characteristics: Characteristics | UnsetType = UNSET
    keyboard_layout: KeyboardLayout | UnsetType | None = UNSET
    user_id: PersonId | UnsetType | None = UNSET


def present(struct: Struct) -> dict[str, object]:
    """The fields a request actually carried (UNSET ones left out, explicit nulls kept)."""
    return {k: v for k, v in msgspec.structs.asdict(struct).items() if v is not UNSET}


class CompanyDevicesSchemas(StrictStructSchemas):
    """The shared strict schemas, plus: a PATCH body must carry at least one change (`{}` and
    `{"characteristics": {}}` are `EMPTY_PATCH_BODY`)."""

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: SchemaCreator) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        if field_definition.type_ is DevicePatch and schema.properties:
            schema.min_properties = 1
            characteristics = schema.properties["characteristics"]
            assert not isinstance(characteristics, Reference)
            characteristics.min_properties = 1
        return schema
