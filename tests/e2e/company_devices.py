"""Helpers for the company devices API (seed 002) tests: the documented shapes and small clients."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import Company

JSON = dict[str, Any]

DEVICE_CLIENT_STATUSES = (
    "ARCHIVED",
    "PENDING_VALIDATION",
    "IN_PREPARATION",
    "DELIVERED",
    "SHIPPED",
    "AVAILABLE",
    "IN_SERVICE",
    "IN_MAINTENANCE",
    "OUT_OF_SERVICE",
)
KEYBOARD_LAYOUTS = (
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
)
MDM_STATUSES = (
    "SUBSCRIBED",
    "DOWNLOADED",
    "IDENTIFIED",
    "ENROLLMENT_IN_PROGRESS",
    "ENROLLED",
    "UNENROLLED",
    "DEVICE_WIPE_PENDING",
)
ORDER_CLIENT_STATUSES = (
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
)
PARCEL_TYPES = ("RETURN", "INTER_OFFICE_DELIVERY")
PARCEL_STATUSES = ("WAITING", "SCHEDULED", "SHIPPED", "RECEIVED", "FAILED")

# Key -> accepted JSON types (None in the tuple = nullable), exactly as the seed documents them.
STR = (str,)
NSTR = (str, type(None))
NBOOL = (bool, type(None))
NLIST = (list, type(None))
DEVICE_KEYS: dict[str, tuple[type, ...]] = {
    "id": (int,),
    "name": NSTR,
    "serial_number": NSTR,
    "rent": NSTR,
    "tracking_number": NSTR,
    "tracking_url": NSTR,
    "client_status": STR,
    "type": NSTR,
    "category": NSTR,
    "source": NSTR,
    "comment": NSTR,
    "characteristics": (dict,),
    "mdm": (dict, type(None)),
    "order": (dict,),
    "parcels": (list,),
}
CHARACTERISTICS_KEYS: dict[str, tuple[type, ...]] = {
    "screen_size": NSTR,
    "graphic": NSTR,
    "processor": NSTR,
    "ram": NSTR,
    "storage": NSTR,
    "model_year": NSTR,
    "connectivity": NSTR,
    "keyboard_layout": NSTR,
    "resolution": NSTR,
    "has_microphone": NBOOL,
    "has_webcam": NBOOL,
    "noise_cancellation": NBOOL,
    "compliance": NLIST,
    "connection_type": NLIST,
    "has_stool": NBOOL,
    "has_video_package": NBOOL,
    "has_screen": NBOOL,
    "has_premium_tablet": NBOOL,
    "color": NSTR,
    "seats_number": NSTR,
    "assembly": NSTR,
    "os_platform": NSTR,
}
MDM_KEYS: dict[str, tuple[type, ...]] = {
    "id": (int,),
    "status": STR,
    "local_name": NSTR,
    "is_locked": NBOOL,
    "lock_date": NSTR,
    "firewall_enabled": NBOOL,
    "os_updates_enabled": NBOOL,
    "is_encrypted": NBOOL,
    "screenlock_enabled": NBOOL,
    "is_compromised": NBOOL,
    "os_updates_available": NBOOL,
    "disk_encryption_profile_installed": NBOOL,
    "enrollment_date": NSTR,
    "unenrollment_date": NSTR,
    "download_date": NSTR,
    "last_seen_date": NSTR,
    "last_sync_date": NSTR,
}
ORDER_KEYS: dict[str, tuple[type, ...]] = {
    "order_id": (int,),
    "client_status": STR,
    "device_names": (list,),
    "rent": NSTR,
    "rent_currency": NSTR,
    "order_number": NSTR,
    "contract_number": NSTR,
    "order_date": NSTR,
    "num_devices": (int, type(None)),
}
PARCEL_KEYS: dict[str, tuple[type, ...]] = {
    "id": (int,),
    "type": STR,
    "status": STR,
    "tracking_number": NSTR,
    "tracking_url": NSTR,
    "carrier": NSTR,
    "pickup_address_id": (int, type(None)),
    "reception_address_id": (int, type(None)),
    "pickup_date": NSTR,
    "reception_date": NSTR,
    "shipping_date": NSTR,
    "created_at": NSTR,
}


def _check_keys(obj: JSON, spec: dict[str, tuple[type, ...]], where: str) -> None:
    missing = sorted(set(spec) - set(obj))
    assert not missing, f"{where}: documented keys missing: {missing}"
    for key, types in spec.items():
        value = obj[key]
        ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
        assert ok, f"{where}.{key}: {value!r} is not one of {types}"


def assert_device_shape(device: JSON) -> None:
    """Every documented key present with its documented type and enum, on the item and nested objects."""
    assert isinstance(device, dict), device
    _check_keys(device, DEVICE_KEYS, "device")
    assert device["id"] >= 1
    assert device["client_status"] in DEVICE_CLIENT_STATUSES

    characteristics = device["characteristics"]
    _check_keys(characteristics, CHARACTERISTICS_KEYS, "characteristics")
    if characteristics["keyboard_layout"] is not None:
        assert characteristics["keyboard_layout"] in KEYBOARD_LAYOUTS
    for key in ("compliance", "connection_type"):
        if characteristics[key] is not None:
            assert all(isinstance(v, str) for v in characteristics[key]), characteristics[key]

    mdm = device["mdm"]
    if mdm is not None:
        _check_keys(mdm, MDM_KEYS, "mdm")
        assert mdm["status"] in MDM_STATUSES

    order = device["order"]
    _check_keys(order, ORDER_KEYS, "order")
    assert order["client_status"] in ORDER_CLIENT_STATUSES
    assert all(isinstance(n, str) for n in order["device_names"]), order["device_names"]

    for parcel in device["parcels"]:
        assert isinstance(parcel, dict), parcel
        _check_keys(parcel, PARCEL_KEYS, "parcel")
        assert parcel["type"] in PARCEL_TYPES
        assert parcel["status"] in PARCEL_STATUSES


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> str:
    """`status` with a `{"error": "<non-empty string>"}` body (exactly `code` when given)."""
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text}"
    body = response.json()
    assert isinstance(body, dict) and "error" in body, body
    message = body["error"]
    assert isinstance(message, str) and message.strip(), body
    if code is not None:
        assert message == code, body
    return message


def create(api: httpx.Client, company: Company, *items: JSON) -> list[JSON]:
    """POST one batch with the write key; returns the created devices (asserting the 201 envelope)."""
    response = api.post("/devices", json={"devices": list(items)}, headers=company.headers())
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) >= {"data"} and set(body["data"]) >= {"devices"}, body
    devices: list[JSON] = body["data"]["devices"]
    assert isinstance(devices, list) and len(devices) == len(items), body
    for device, item in zip(devices, items, strict=True):
        assert_device_shape(device)
        assert device["name"] == item["name"]
    return devices


def device(name: str, **extra: Any) -> JSON:
    """A minimal valid batch item."""
    return {"name": name, "type": "LAPTOP", "category": "COMPUTER", **extra}


def page(api: httpx.Client, company: Company, token: str | None = None, **params: Any) -> JSON:
    """GET /devices with `params`, asserting a 200 `{data, meta}` page; returns the body."""
    response = api.get("/devices", params=params, headers=company.headers(token))
    assert response.status_code == 200, response.text
    body: JSON = response.json()
    assert isinstance(body.get("data"), list), body
    assert set(body["meta"]) >= {"total", "limit", "offset"}, body
    for item in body["data"]:
        assert_device_shape(item)
    return body


def ids(body: JSON) -> list[int]:
    return [d["id"] for d in body["data"]]


def search_ids(api: httpx.Client, company: Company, text: str) -> set[int]:
    body = page(api, company, search=text, limit=100)
    assert body["meta"]["total"] == len(body["data"]), body["meta"]
    return set(ids(body))


def total(api: httpx.Client, company: Company) -> int:
    count: int = page(api, company, limit=1)["meta"]["total"]
    return count


def holder_ids(api: httpx.Client, company: Company, person: dict[str, object]) -> set[int]:
    body = page(api, company, user_id=person["id"], limit=100)
    assert body["meta"]["total"] == len(body["data"]), body["meta"]
    return set(ids(body))


def get_one(api: httpx.Client, company: Company, device_id: int) -> JSON:
    response = api.get(f"/devices/{device_id}", headers=company.headers())
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) >= {"data"}, body
    assert_device_shape(body["data"])
    assert body["data"]["id"] == device_id
    one: JSON = body["data"]
    return one


BAD_PATH_IDS = ("0", "-1", "abc", "01", "1.5", "1e3", "+1", "0x1")
HUGE_ID = "99999999999999999999"


def error_problem(label: str, response: httpx.Response, status: int, code: str | None = None) -> str | None:
    """Like `assert_error`, but returns a one-line description of the mismatch (None when it matches)."""
    try:
        assert_error(response, status, code)
    except AssertionError as error:
        return f"{label}: {str(error).splitlines()[0]}"
    return None


def no_problems(problems: list[str | None]) -> None:
    found = [p for p in problems if p]
    assert not found, "\n".join(found)
