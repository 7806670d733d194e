"""Seed 002's wire shapes. Responses are documented here and rendered from stored documents;
requests are decoded straight into these structs (unknown keys refused)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

import msgspec
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.openapi.spec import Reference
from msgspec import UNSET, Meta, Struct, UnsetType

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.openapi.spec import Schema
    from litestar.typing import FieldDefinition

DeviceClientStatus = Literal[
    "ARCHIVED",
    "PENDING_VALIDATION",
    "IN_PREPARATION",
    "DELIVERED",
    "SHIPPED",
    "AVAILABLE",
    "IN_SERVICE",
    "IN_MAINTENANCE",
    "OUT_OF_SERVICE",
]
KeyboardLayout = Literal[
    "FRENCH_AZERTY",
    "SPANISH_QWERTY",
    "ITALIAN_QWERTY",
    "INTERNATIONAL_ENGLISH_QWERTY",
    "GERMAN_QWERTZ",
    "PORTUGUESE_QWERTY",
    "ENGLISH_QWERTY",
    "SWISS_QWERTZ",
    "AMERICAN_ENGLISH_QWERTY",
    "CANADIAN_ENGLISH_QWERTY",
    "DUTCH_QWERTY",
]
MdmStatus = Literal[
    "SUBSCRIBED", "DOWNLOADED", "IDENTIFIED", "ENROLLMENT_IN_PROGRESS", "ENROLLED", "UNENROLLED", "DEVICE_WIPE_PENDING"
]
OrderClientStatus = Literal[
    "RECEIVED",
    "BEING_PROCESSED",
    "FINANCING_REQUEST",
    "DOC_REQUIRED",
    "SIGNING",
    "PROCESSING",
    "SHIPPED",
    "RECEPTION_TO_CONFIRM",
    "ONGOING_ORDER",
    "PENDING_DECISION",
    "EQUIPMENT_TO_SEND",
    "ARCHIVED",
    "FAILED",
    "UNKNOWN",
]
ParcelType = Literal["RETURN", "INTER_OFFICE_DELIVERY"]
ParcelStatus = Literal["WAITING", "SCHEDULED", "SHIPPED", "RECEIVED", "FAILED"]

Text = Annotated[str, Meta(max_length=200)]
ShortText = Annotated[str, Meta(max_length=100)]
Label = Annotated[str, Meta(min_length=1, max_length=50)]
Url = Annotated[str, Meta(max_length=500)]
Serial = Annotated[str, Meta(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]+$")]
PersonId = Annotated[int, Meta(ge=1, le=2**63 - 1)]  # ids are 64-bit; a larger one is a 400, not an overflow


class Characteristics(Struct, forbid_unknown_fields=True):
    """Any subset of the characteristics; keys left out keep their value."""

    screen_size: Text | UnsetType | None = UNSET
    graphic: Text | UnsetType | None = UNSET
    processor: Text | UnsetType | None = UNSET
    ram: Text | UnsetType | None = UNSET
    storage: Text | UnsetType | None = UNSET
    model_year: Text | UnsetType | None = UNSET
    connectivity: Text | UnsetType | None = UNSET
    keyboard_layout: KeyboardLayout | UnsetType | None = UNSET
    resolution: Text | UnsetType | None = UNSET
    has_microphone: bool | UnsetType | None = UNSET
    has_webcam: bool | UnsetType | None = UNSET
    noise_cancellation: bool | UnsetType | None = UNSET
    compliance: list[Text] | UnsetType | None = UNSET
    connection_type: list[Text] | UnsetType | None = UNSET
    has_stool: bool | UnsetType | None = UNSET
    has_video_package: bool | UnsetType | None = UNSET
    has_screen: bool | UnsetType | None = UNSET
    has_premium_tablet: bool | UnsetType | None = UNSET
    color: Text | UnsetType | None = UNSET
    seats_number: Text | UnsetType | None = UNSET
    assembly: Text | UnsetType | None = UNSET
    os_platform: Text | UnsetType | None = UNSET


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


class StrictStructSchemas(StructSchemaPlugin):
    """Litestar's msgspec schemas, plus the rules our decoding enforces that it leaves out: a struct
    that refuses unknown keys says `additionalProperties: false`, and a PATCH body must carry at least
    one change (`{}` and `{"characteristics": {}}` are `EMPTY_PATCH_BODY`)."""

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: SchemaCreator) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        info = msgspec.inspect.type_info(field_definition.type_)
        if isinstance(info, msgspec.inspect.StructType) and info.forbid_unknown_fields:
            schema.additional_properties = False
        if field_definition.type_ is DevicePatch and schema.properties:
            schema.min_properties = 1
            characteristics = schema.properties["characteristics"]
            assert not isinstance(characteristics, Reference)
            characteristics.min_properties = 1
        return schema
