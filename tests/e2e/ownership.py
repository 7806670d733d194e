"""Helpers for the device ownership API (seed 001) tests: the seed's shapes and small clients."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from custody.db.engine import Database
from custody.domain.keys import create_key
from custody.domain.people import create_person
from custody.domain.tenancy import Caller, Tenant
from tests.conftest import Company

JSON = dict[str, Any]
# The seed's example: `2024-01-01T06:00:00.000000Z`; an open end is `2999-12-31T23:59:59Z`.
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
OPEN_END = "2999-12-31T23:59:59Z"
OWNERSHIP_KEYS = ["id", "start_time", "end_time", "device", "manager", "device_details"]
DETAILS_KEYS = ["id", "device_name", "serial_number"]


@dataclass(frozen=True)
class Person:
    id: int
    hex_id: str
    token: str

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def add_person(db: Database, company: Company, first: str = "Pat") -> Person:
    """Another person of the company, with a write key bound to it."""
    with db.write() as session:
        tenant = Tenant(session, Caller(company_id=company.id, person_id=None, can_write=True))
        person = create_person(
            tenant, first_name=first, last_name="Tester", email=f"{first.lower()}.{uuid.uuid4().hex[:8]}@x.test"
        )
        _, token = create_key(tenant, person_id=person.id, read_only=False)
        return Person(id=person.id, hex_id=person.hex_id, token=token)


def assert_ownership_shape(item: JSON) -> None:
    assert list(item) == OWNERSHIP_KEYS, item
    assert isinstance(item["id"], int) and isinstance(item["device"], int) and isinstance(item["manager"], int)
    assert TIME.match(item["start_time"]), item["start_time"]
    assert item["end_time"] == OPEN_END or TIME.match(item["end_time"]), item["end_time"]
    assert list(item["device_details"]) == DETAILS_KEYS, item
    assert item["device_details"]["id"] == item["device"]


def new_device(api: httpx.Client, company: Company, name: str | None = None) -> JSON:
    """A device made through the company devices API (`api` is based at /platform/v1)."""
    name = name or f"Laptop {uuid.uuid4().hex[:6]}"
    body = {"name": name, "type": "LAPTOP", "category": "COMPUTER", "serial_number": f"SN-{uuid.uuid4().hex[:10]}"}
    response = api.post("/devices", json={"devices": [body]}, headers=company.headers())
    assert response.status_code == 201, response.text
    made: JSON = response.json()["data"]["devices"][0]
    return made


def hex_id_of(server: str, company: Company, device: JSON) -> str:
    """The device's id in the device management API (found there by its serial number)."""
    response = httpx.get(
        f"{server}/devices", params={"search": device["serial_number"]}, headers=company.headers(), timeout=30
    )
    assert response.status_code == 200, response.text
    (found,) = response.json()["data"]
    hex_id: str = found["id"]
    return hex_id


def take(
    v1: httpx.Client, headers: dict[str, str], device: JSON, expect: int | None = 201, **extra: Any
) -> httpx.Response:
    body = {"serial_number": device["serial_number"], "device_name": device["name"], **extra}
    response = v1.post("/device-ownerships/", json=body, headers=headers)
    if expect is not None:
        assert response.status_code == expect, response.text
    return response


def ownerships(v1: httpx.Client, headers: dict[str, str], **params: Any) -> JSON:
    response = v1.get("/device-ownerships/", params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: JSON = response.json()
    assert list(body) == ["count", "next", "previous", "results"], body
    for item in body["results"]:
        assert_ownership_shape(item)
    return body


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert list(body) == ["detail", "code"] and isinstance(body["detail"], str) and body["detail"], body
    if code is not None:
        assert body["code"] == code, body
