"""The served OpenAPI document of the company devices API (seed 002), held to what the server does.

Schemathesis loads `/platform/v1/openapi.json` from a live `custody serve` and drives every
operation it documents with generated requests (valid ones, then invalid ones), each sent with a
write key of a fresh company that already holds a few devices and an address, so requests by id
sometimes reach real rows. Every response must pass three checks:

- `not_a_server_error` — no 5xx, ever;
- `status_code_conformance` — the status is one the operation documents;
- `response_schema_conformance` — the body matches the schema documented for that status (the
  201/200 envelopes as well as the 400/401/403/404 `{"error": ...}` bodies);

plus `content_type_conformance` (the body's media type is the documented one). Nothing is excluded.
A second pass sends generated requests without a key, with an unknown key and with a read key, so the
401 and 403 answers are held to the document too. Hypothesis is derandomized and bounded per
operation: a run is reproducible and stays well under a minute per backend.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis.checks import CheckFunction
from schemathesis.core.jsonschema.types import JsonValue
from schemathesis.schemas import BaseSchema

from custody.db.engine import Database
from custody.db.models import Address
from custody.domain.imports import import_devices
from custody.domain.tenancy import Caller, Tenant
from tests.conftest import Company
from tests.e2e.company_devices import create, device
from tests.e2e.conformance import auth_conforms, auth_headers, conforms, operations

BASE = "/platform/v1"
CHECKS: list[CheckFunction] = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
]


@pytest.fixture
def schema(server: str) -> BaseSchema:
    return schemathesis.openapi.from_url(f"{server}{BASE}/openapi.json", timeout=10)


@pytest.fixture
def seeded(api: httpx.Client, db: Database, fresh_company: Company) -> dict[str, list[str]]:
    """Real rows for the path parameters: devices made through the API (some held, one with a serial),
    one address, and one imported device that has everything the API can show (MDM enrollment,
    order, parcels), so the nested schemas are held to real values and not only to nulls."""
    ada, grace = fresh_company.people
    made = create(
        api,
        fresh_company,
        device("Seed laptop", serial_number="SEED-0001", keyboard_layout="FRENCH_AZERTY", user_id=ada["id"]),
        device("Seed phone", user_id=grace["id"]),
        {"name": "Seed screen", "type": "SCREEN", "category": "DISPLAY", "characteristics": {"screen_size": "27"}},
        *(device(f"Seed spare {n}", client_status="IN_SERVICE", comment=f"spare {n}") for n in range(9)),
    )
    with db.write() as session:
        tenant = Tenant(session, Caller(company_id=fresh_company.id, person_id=None, can_write=True))
        address = Address(
            company_id=fresh_company.id,
            label="HQ",
            address_line_1="1 rue de la Paix",
            address_line_2=None,
            zip_code="75002",
            city="Paris",
            country="FR",
            created_at=datetime.now(UTC),
        )
        tenant.add(address)
        session.flush()
        address_id = address.id
        import_devices(tenant, [(1, json.dumps(_full_item(address_id, int(str(ada["id"])))).encode())])
    full = api.get("/devices", params={"search": FULL_SERIAL}, headers=fresh_company.headers()).json()["data"]
    assert [d["serial_number"] for d in full] == [FULL_SERIAL], full
    assert full[0]["mdm"] and full[0]["parcels"], full
    device_ids = [str(d["id"]) for d in (*made, *full)]
    return {"device_id": device_ids, "address_id": [str(address_id)]}


FULL_SERIAL = "SEED-FULL-0001"


def _full_item(address_id: int, holder: int) -> dict[str, Any]:
    """A device item with every key set, in the import's line format (an item of this API)."""
    at = "2024-02-29T09:30:00Z"
    return {
        "serial_number": FULL_SERIAL,
        "name": "Seed enrolled MacBook",
        "rent": "49.90",
        "tracking_number": "1Z999",
        "tracking_url": "https://track.example/1Z999",
        "client_status": "IN_SERVICE",
        "type": "LAPTOP",
        "category": "COMPUTER",
        "source": "FLEET",
        "comment": "fully described",
        "user_id": holder,
        "characteristics": {
            "screen_size": "14",
            "graphic": "M3",
            "processor": "M3 Pro",
            "ram": "18GB",
            "storage": "512GB",
            "model_year": "2024",
            "connectivity": "WIFI",
            "keyboard_layout": "FRENCH_AZERTY",
            "resolution": "3024x1964",
            "has_microphone": True,
            "has_webcam": True,
            "noise_cancellation": False,
            "compliance": ["CE"],
            "connection_type": ["USB-C", "THUNDERBOLT"],
            "has_stool": None,
            "has_video_package": None,
            "has_screen": True,
            "has_premium_tablet": None,
            "color": "SPACE_BLACK",
            "seats_number": None,
            "assembly": None,
            "os_platform": "MACOS",
        },
        "mdm": {
            "status": "ENROLLED",
            "local_name": "ADA-MBP",
            "is_locked": False,
            "lock_date": None,
            "firewall_enabled": True,
            "os_updates_enabled": True,
            "is_encrypted": True,
            "screenlock_enabled": True,
            "is_compromised": False,
            "os_updates_available": False,
            "disk_encryption_profile_installed": True,
            "enrollment_date": at,
            "unenrollment_date": None,
            "download_date": at,
            "last_seen_date": at,
            "last_sync_date": at,
        },
        "order": {
            "order_number": "ORD-SEED-1",
            "client_status": "ONGOING_ORDER",
            "device_names": ["Seed enrolled MacBook"],
            "rent": "49.90",
            "rent_currency": "EUR",
            "contract_number": "CTR-1",
            "order_date": at,
            "num_devices": 1,
        },
        "parcels": [
            {
                "type": "RETURN",
                "status": "SHIPPED",
                "tracking_number": "RET-1",
                "tracking_url": "https://track.example/RET-1",
                "carrier": "UPS",
                "pickup_address_id": address_id,
                "reception_address_id": address_id,
                "pickup_date": at,
                "reception_date": None,
                "shipping_date": at,
            },
            {"type": "INTER_OFFICE_DELIVERY", "status": "WAITING", "pickup_address_id": address_id},
        ],
    }


def test_document_is_valid_openapi_3(server: str, schema: BaseSchema) -> None:
    """The document validates against the OpenAPI 3.x meta-schema and lists every route we serve."""
    raw = httpx.get(f"{server}{BASE}/openapi.json", timeout=10).json()
    assert str(raw["openapi"]).startswith("3."), raw["openapi"]
    schema.validate()  # raises with the meta-schema violation when the document is not valid OpenAPI
    labels = {operation.label for operation in operations(schema)}
    assert labels == {
        f"GET {BASE}/devices",
        f"POST {BASE}/devices",
        f"GET {BASE}/devices/{{device_id}}",
        f"PATCH {BASE}/devices/{{device_id}}",
        f"DELETE {BASE}/devices/{{device_id}}",
        f"GET {BASE}/addresses/{{address_id}}",
    }, labels
    assert raw.get("security"), "every operation needs a key"
    for operation in operations(schema):
        assert operation.definition.raw.get("security") != [], f"{operation.label} must require a key"


def test_document_is_as_strict_as_the_server(server: str) -> None:
    """What generated valid requests cannot show (the server answers them with a documented 400 or 409,
    which the conformance checks accept), held here: request bodies refuse unknown keys, a PATCH needs
    a change, ids stop at 64 bits, and a serial number already in use is a documented 409."""
    raw = httpx.get(f"{server}{BASE}/openapi.json", timeout=10).json()
    components = raw["components"]["schemas"]
    for name in ("NewDevices", "NewDevice", "DevicePatch", "Characteristics"):
        assert components[name].get("additionalProperties") is False, f"{name} must refuse unknown keys"
    patch = components["DevicePatch"]
    assert patch.get("minProperties") == 1, patch
    assert patch["properties"]["characteristics"].get("minProperties") == 1, patch["properties"]["characteristics"]
    for name in ("NewDevice", "DevicePatch"):
        assert components[name]["properties"]["user_id"].get("maximum") == 2**63 - 1, name
    listing = {p["name"]: p["schema"] for p in raw["paths"][f"{BASE}/devices"]["get"]["parameters"]}
    for name in ("offset", "user_id"):
        assert listing[name].get("maximum") == 2**63 - 1, (name, listing[name])
    for method, path in (("post", "/devices"), ("patch", "/devices/{device_id}")):
        assert "409" in raw["paths"][f"{BASE}{path}"][method]["responses"], f"{method} {path}: 409 undocumented"


def test_every_operation_conforms_to_the_document(
    server: str, schema: BaseSchema, fresh_company: Company, seeded: dict[str, list[str]]
) -> None:
    headers = {"Authorization": f"Bearer {fresh_company.write_token}"}
    problems = conforms(schema, server, headers, seeded, CHECKS)
    assert not problems, "\n\n".join(problems)


def test_auth_errors_conform_to_the_document(
    server: str, schema: BaseSchema, fresh_company: Company, seeded: dict[str, list[str]]
) -> None:
    """No key, an unknown key, a read key: 401 / 403 (or 200 for a read) bodies as documented."""
    problems = auth_conforms(schema, server, auth_headers(fresh_company.read_token), seeded, CHECKS)
    assert not problems, "\n\n".join(problems)


def test_serial_conflicts_are_the_documented_409(
    server: str, schema: BaseSchema, api: httpx.Client, fresh_company: Company
) -> None:
    """The fuzzer's find, kept as an example: taking another device's serial number is a 409 with an
    `{"error": ...}` body, alone or together with a (re)assignment, on POST and on PATCH."""
    taken, other = create(api, fresh_company, device("Holder of DUP-1", serial_number="DUP-1"), device("Other"))
    headers = {"Authorization": f"Bearer {fresh_company.write_token}"}
    patch = schema[f"{BASE}/devices/{{device_id}}"]["PATCH"]
    post = schema[f"{BASE}/devices"]["POST"]
    ada_id = int(str(fresh_company.people[0]["id"]))
    patches: list[JsonValue] = [
        {"serial_number": "DUP-1"},
        {"serial_number": "DUP-1", "user_id": None},
        {"serial_number": "DUP-1", "user_id": ada_id},
    ]
    cases = [
        *(patch.Case(path_parameters={"device_id": str(other["id"])}, headers=headers, body=b) for b in patches),
        post.Case(headers=headers, body={"devices": [device("Copy", serial_number="DUP-1")]}),
        post.Case(headers=headers, body={"devices": [device("Twin", serial_number="DUP-2")] * 2}),
    ]
    problems = []
    for case in cases:
        response = case.call(base_url=server, timeout=10)
        try:
            case.validate_response(response, checks=CHECKS, transport_kwargs={"base_url": server})
            assert response.status_code == 409, response.text
            assert response.json()["error"].startswith("INVALID_SERIAL_NUMBER"), response.text
        except (schemathesis.errors.FailureGroup, AssertionError) as error:
            problems.append(f"{case.method} {case.formatted_path} {case.body!r}: {error}")
    assert not problems, "\n\n".join(problems)
    assert api.get(f"/devices/{other['id']}", headers=headers).json()["data"] == other, (
        "a refused PATCH changes nothing"
    )
    assert taken["serial_number"] == "DUP-1"
