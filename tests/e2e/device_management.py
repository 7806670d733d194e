"""Helpers for the device management API (seed 000) tests: the seed's shapes, spelled here from the
seed itself (not imported from the code under test), and small clients."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx

from custody.db.engine import Database
from custody.db.models import Device, MdmEnrollment, Ownership
from custody.domain.documents import refresh_devices
from custody.domain.tenancy import Caller, Tenant
from tests.conftest import Company

JSON = dict[str, Any]

# Copied from the seed: ids, and every date-time it emits or accepts (UTC, leap-year aware).
HEX_ID = re.compile(r"^[a-f\d]{24}$")
DATE_TIME = re.compile(
    r"^(?:(?:\d\d[2468][048]|\d\d[13579][26]|\d\d0[48]|[02468][048]00|[13579][26]00)-02-29|\d{4}-(?:(?:0[13578]|1[02])"
    r"-(?:0[1-9]|[12]\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)|(?:02)-(?:0[1-9]|1\d|2[0-8])))T(?:(?:[01]\d|2[0-3])"
    r":[0-5]\d(?::[0-5]\d(?:\.\d+)?)?(?:Z))$"
)
TYPES = ("LAPTOP", "TABLET", "SMARTPHONE")
PLATFORMS = ("ANDROID", "IOS", "MACOS", "WINDOWS", "LINUX", "CHROME_OS", "IPADOS", "UNKNOWN")
LOCK_WIPE_STATUSES = ("LOCKED", "LOCKING", "UNLOCKING", "WIPED", "WIPING")
EDR_PROVIDERS = ("SENTINELONE", "THREATDOWN")
# The seed's device object, in the seed's order.
DEVICE_KEYS = [
    "id",
    "tags",
    "isEnrolled",
    "createdAt",
    "updatedAt",
    "ownerId",
    "name",
    "serialNumber",
    "computerName",
    "type",
    "platform",
    "brand",
    "manufacturer",
    "modelName",
    "modelIdentifier",
    "year",
    "osVersion",
    "osName",
    "buildVersion",
    "enrolledAt",
    "disenrolledAt",
    "lockWipeStatus",
    "edrProvider",
]
NULLABLE_TEXT = (
    "name",
    "serialNumber",
    "computerName",
    "brand",
    "manufacturer",
    "modelName",
    "modelIdentifier",
    "osVersion",
    "osName",
    "buildVersion",
)
EMPLOYEE_KEYS = [
    "id",
    "firstName",
    "lastName",
    "email",
    "teams",
    "deviceIds",
    "createdAt",
    "updatedAt",
    "managerId",
    "startDate",
    "terminationDate",
]
PAGINATION_KEYS = ["totalElements", "totalPages", "page", "perPage"]
SUNSET = "Mon, 13 Apr 2026 00:00:00 GMT"
# RFC 9745: a structured-field date, `@` and seconds since the epoch.
DEPRECATION = re.compile(r"^@-?\d{1,15}$")


def assert_device_shape(device: JSON) -> None:
    """Every documented key, in the seed's order, with the seed's types and enums."""
    assert list(device) == DEVICE_KEYS, device
    assert HEX_ID.match(device["id"]), device["id"]
    assert isinstance(device["tags"], list) and all(isinstance(t, str) for t in device["tags"]), device
    assert isinstance(device["isEnrolled"], bool), device
    for key in ("createdAt", "updatedAt"):
        assert DATE_TIME.match(device[key]), (key, device[key])
    for key in ("enrolledAt", "disenrolledAt"):
        assert device[key] is None or DATE_TIME.match(device[key]), (key, device[key])
    assert device["ownerId"] is None or HEX_ID.match(device["ownerId"]), device["ownerId"]
    for key in NULLABLE_TEXT:
        assert device[key] is None or isinstance(device[key], str), (key, device[key])
    assert device["computerName"] == device["name"], "computerName is the deprecated copy of name"
    assert device["type"] in TYPES, device["type"]
    assert device["platform"] in PLATFORMS, device["platform"]
    assert device["year"] is None or (isinstance(device["year"], int) and not isinstance(device["year"], bool))
    assert device["lockWipeStatus"] is None or device["lockWipeStatus"] in LOCK_WIPE_STATUSES, device
    assert device["edrProvider"] is None or device["edrProvider"] in EDR_PROVIDERS, device


def assert_employee_shape(employee: JSON) -> None:
    assert list(employee) == EMPLOYEE_KEYS, employee
    assert HEX_ID.match(employee["id"]), employee["id"]
    for key in ("firstName", "lastName", "email"):
        assert isinstance(employee[key], str) and employee[key], (key, employee)
    assert isinstance(employee["teams"], list) and all(isinstance(t, str) for t in employee["teams"]), employee
    assert isinstance(employee["deviceIds"], list) and all(HEX_ID.match(i) for i in employee["deviceIds"]), employee
    for key in ("createdAt", "updatedAt"):
        assert DATE_TIME.match(employee[key]), (key, employee[key])
    for key in ("startDate", "terminationDate"):
        assert employee[key] is None or DATE_TIME.match(employee[key]), (key, employee[key])
    assert employee["managerId"] is None or HEX_ID.match(employee["managerId"]), employee


def assert_error(response: httpx.Response, status: int, contains: str | None = None) -> JSON:
    """The one error style of this API: `{"statusCode", "message", "error"}` (NestJS)."""
    assert response.status_code == status, f"{response.status_code} != {status}: {response.text}"
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body: JSON = response.json()
    assert list(body) == ["statusCode", "message", "error"], body
    assert body["statusCode"] == status, body
    assert isinstance(body["message"], str) and body["message"], body
    assert isinstance(body["error"], str) and body["error"], body
    if contains is not None:
        assert contains.lower() in body["message"].lower(), body
    return body


def hex_of(person: dict[str, object]) -> str:
    return str(person["hex_id"])


def unknown_hex() -> str:
    return uuid.uuid4().hex[:24]


def create_device(client: httpx.Client, company: Company, **fields: Any) -> JSON:
    """A device made through `POST /devices` (a LAPTOP named after a fresh serial unless given)."""
    serial = f"SN-{uuid.uuid4().hex[:10]}"
    body = {"type": "LAPTOP", "name": f"Laptop {serial}", "serialNumber": serial, **fields}
    response = client.post("/devices", json=body, headers=company.headers())
    assert response.status_code == 201, response.text
    made: JSON = response.json()
    assert_device_shape(made)
    return made


def get_device(client: httpx.Client, company: Company, device_id: str) -> JSON:
    response = client.get(f"/devices/{device_id}", headers=company.headers())
    assert response.status_code == 200, response.text
    found: JSON = response.json()
    assert_device_shape(found)
    return found


def list_devices(client: httpx.Client, company: Company, **params: Any) -> JSON:
    response = client.get("/devices", params=params, headers=company.headers())
    assert response.status_code == 200, response.text
    page: JSON = response.json()
    assert list(page) == ["data", "pagination"], page
    assert list(page["pagination"]) == PAGINATION_KEYS, page
    for device in page["data"]:
        assert_device_shape(device)
    return page


def ids(page: JSON) -> list[str]:
    return [item["id"] for item in page["data"]]


def assign(client: httpx.Client, company: Company, device_id: str, owner_id: str | None) -> JSON:
    response = client.patch(f"/devices/{device_id}", json={"ownerId": owner_id}, headers=company.headers())
    assert response.status_code == 200, response.text
    device: JSON = response.json()
    assert_device_shape(device)
    assert device["ownerId"] == owner_id
    return device


def set_device_columns(
    db: Database, company: Company, device_id: str, *, mdm: dict[str, Any] | None = None, **columns: Any
) -> None:
    """What an MDM reports and no API writes (OS, enrollment, lock / wipe, EDR), set in the store
    as the MDM integration would, and the stored company devices API item re-rendered."""
    with db.write() as session:
        tenant = Tenant(session, Caller(company_id=company.id, person_id=None, can_write=True))
        device = tenant.scalars(tenant.select(Device).where(Device.hex_id == device_id)).one()
        for name, value in columns.items():
            setattr(device, name, value)
        if mdm is not None:
            tenant.add(MdmEnrollment(company_id=company.id, device_id=device.id, **mdm))
        refresh_devices(tenant, [device.id])


def spans(db: Database, company: Company, device_id: str) -> list[tuple[int, bool]]:
    """The device's ownership rows, oldest first, as (person id, still open)."""
    with db.read() as session:
        tenant = Tenant(session, Caller(company_id=company.id, person_id=None, can_write=False))
        device = tenant.scalars(tenant.select(Device).where(Device.hex_id == device_id)).one()
        rows = tenant.scalars(
            tenant.select(Ownership).where(Ownership.device_id == device.id).order_by(Ownership.start_time)
        ).all()
        return [(row.person_id, row.end_time is None) for row in rows]


def company_item(api: httpx.Client, company: Company, search: str) -> JSON:
    """The one device the company devices API (`api`, at /platform/v1) finds for `search`."""
    response = api.get("/devices", params={"search": search}, headers=company.headers())
    assert response.status_code == 200, response.text
    (item,) = response.json()["data"]
    assert isinstance(item, dict)
    return item
