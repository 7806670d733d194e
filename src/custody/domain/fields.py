"""Input building blocks shared by every way devices come in (the company devices API's bodies
and the JSON-lines import): closed sets checked against `enums`, and lengths that are the columns'
own, so PostgreSQL never refuses a value halfway through a write."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from msgspec import UNSET, Meta, Struct, UnsetType

from custody.domain import enums
from custody.domain.errors import InvalidInput
from custody.domain.timefmt import DATE_TIME_PATTERN

if TYPE_CHECKING:
    ClientStatus = str
    KeyboardLayout = str
    MdmStatus = str
    OrderStatus = str
    ParcelType = str
    ParcelStatus = str
    DeviceKind = str
    Platform = str
    LockWipeStatus = str
    EdrProvider = str
else:  # the closed sets are spelled once, in `enums`; msgspec and the OpenAPI document see Literals
    ClientStatus = Literal[enums.DEVICE_CLIENT_STATUSES]
    KeyboardLayout = Literal[enums.KEYBOARD_LAYOUTS]
    MdmStatus = Literal[enums.MDM_STATUSES]
    OrderStatus = Literal[enums.ORDER_CLIENT_STATUSES]
    ParcelType = Literal[enums.PARCEL_TYPES]
    ParcelStatus = Literal[enums.PARCEL_STATUSES]
    DeviceKind = Literal[enums.MANAGED_TYPES]
    Platform = Literal[enums.PLATFORMS]
    LockWipeStatus = Literal[enums.LOCK_WIPE_STATUSES]
    EdrProvider = Literal[enums.EDR_PROVIDERS]

Text = Annotated[str, Meta(max_length=200)]
Str100 = Annotated[str, Meta(max_length=100)]
Str50 = Annotated[str, Meta(max_length=50)]
Url = Annotated[str, Meta(max_length=500)]
Serial = Annotated[str, Meta(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]+$")]
Instant = Annotated[str, Meta(pattern=DATE_TIME_PATTERN)]
RowId = Annotated[int, Meta(ge=1, le=2**63 - 1)]  # ids are 64-bit; a larger one is a 400, not an overflow
# Seed 000 addresses devices and people by 24 lower-case hex digits.
HEX_ID_PATTERN = r"^[a-f\d]{24}$"
HexId = Annotated[str, Meta(pattern=HEX_ID_PATTERN)]
Int32 = Annotated[int, Meta(ge=-(2**31), le=2**31 - 1)]  # an INTEGER column on PostgreSQL


class Characteristics(Struct, kw_only=True, forbid_unknown_fields=True, gc=False):
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


def check_text(values: dict[str, Any]) -> None:
    """Text may hold any character but NUL, which PostgreSQL cannot store, and lone surrogates,
    which no database can: refuse them on every database alike, before anything is written."""
    for key, value in values.items():
        for item in value if isinstance(value, list) else [value]:
            if not isinstance(item, str):
                continue
            if "\x00" in item:
                raise InvalidInput("INVALID_TEXT", f"{key} must not contain NUL characters")
            if not item.isascii():
                try:
                    item.encode()
                except UnicodeEncodeError:
                    raise InvalidInput("INVALID_TEXT", f"{key} is not valid Unicode text") from None
