"""The served OpenAPI document of the device management API (seed 000), held to what the server does.

Schemathesis loads `/openapi.json` from a live `custody serve` and drives every operation it
documents with generated requests (valid ones, then invalid ones) sent with a write key of a fresh
company that holds a few devices (one fully described by its MDM) and employees, so requests by id
sometimes reach real rows. Every response must pass:

- `not_a_server_error` — no 5xx, ever;
- `status_code_conformance` — the status is one the operation documents;
- `content_type_conformance` — the body's media type is the documented one;
- `response_schema_conformance` — the body matches the schema documented for that status (records,
  pages, and the `{statusCode, message, error}` bodies), date-time patterns included;
- `response_headers_conformance` — documented headers (`Deprecation`, `Sunset`) are present;
- `negative_data_rejection` — a request the document calls invalid is refused with a 4xx.

A second pass sends generated requests without a key, with an unknown key and with a read key. Runs
are derandomized and bounded per operation (see `conformance`)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
import schemathesis
from schemathesis.schemas import BaseSchema

from custody.db.engine import Database
from tests.conftest import Company
from tests.e2e.conformance import STRICT_CHECKS, auth_conforms, auth_headers, conforms, operations
from tests.e2e.device_management import create_device, hex_of, set_device_columns

CHECKS = STRICT_CHECKS


@pytest.fixture
def schema(server: str) -> BaseSchema:
    return schemathesis.openapi.from_url(f"{server}/openapi.json", timeout=10)


@pytest.fixture
def seeded(management: httpx.Client, db: Database, fresh_company: Company) -> dict[str, list[str]]:
    """Real rows for the path parameters: devices (held and not, every kind) and employees, and one
    device with everything its MDM can show, so the record's schema meets real values, not nulls."""
    ada, grace = (hex_of(p) for p in fresh_company.people)
    made = [
        create_device(management, fresh_company, ownerId=ada, tags=["seed"], platform="MACOS", year=2024),
        create_device(management, fresh_company, type="SMARTPHONE", ownerId=grace, platform="IOS"),
        create_device(management, fresh_company, type="TABLET"),
    ]
    at = datetime(2024, 2, 29, 9, 30, tzinfo=UTC)
    set_device_columns(
        db,
        fresh_company,
        made[0]["id"],
        manufacturer="Apple Inc.",
        model_identifier="Mac15,6",
        lock_wipe_status="LOCKED",
        edr_provider="THREATDOWN",
        mdm={
            "status": "ENROLLED",
            "enrollment_date": at,
            "unenrollment_date": at,
            "os_name": "macOS",
            "os_version": "14.4",
            "build_version": "23E214",
        },
    )
    manager = management.post(
        "/employees",
        json={
            "firstName": "Seed",
            "lastName": "Manager",
            "email": "seed.manager@example.com",
            "managerId": ada,
            "startDate": "2024-02-29T00:00:00Z",
            "terminationDate": "2025-02-28T00:00:00Z",
        },
        headers=fresh_company.headers(),
    )
    assert manager.status_code == 201, manager.text
    return {"deviceId": [d["id"] for d in made], "employeeId": [ada, grace, manager.json()["id"]]}


def test_document_is_valid_openapi_3(server: str, schema: BaseSchema) -> None:
    """The document validates against the OpenAPI 3.x meta-schema and lists every route we serve,
    each behind a key, with the one error body for its 4xx answers."""
    raw = httpx.get(f"{server}/openapi.json", timeout=10).json()
    assert str(raw["openapi"]).startswith("3."), raw["openapi"]
    schema.validate()
    labels = {operation.label for operation in operations(schema)}
    assert labels == {
        "GET /devices",
        "POST /devices",
        "GET /devices/{deviceId}",
        "PATCH /devices/{deviceId}",
        "GET /employees",
        "POST /employees",
        "GET /employees/{employeeId}",
    }, labels
    assert raw.get("security"), "every operation needs a key"
    error = {"$ref": "#/components/schemas/Error"}
    for path, item in raw["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert {"400", "401"} <= set(responses), (method, path)
            assert ("403" in responses) is (method != "get"), (method, path)
            for status, response in responses.items():
                if status.startswith("4"):
                    assert response["content"]["application/json"]["schema"] == error, (method, path, status)


def test_document_is_as_strict_as_the_server(server: str) -> None:
    """What generated requests cannot show: the seed's patterns and enums, bodies that refuse
    unknown keys (no mass assignment), PATCH's required `ownerId`, the 100-per-page cap."""
    raw = httpx.get(f"{server}/openapi.json", timeout=10).json()
    components = raw["components"]["schemas"]
    for name in ("DevicePatch", "NewDevice", "NewEmployee"):
        assert components[name].get("additionalProperties") is False, name
    patch = components["DevicePatch"]
    assert patch["required"] == ["ownerId"] and patch["properties"]["ownerId"]["pattern"] == r"^[a-f\d]{24}$"
    device = components["Device"]
    assert sorted(device["required"]) == sorted(device["properties"]), "every field is always present"
    assert device["properties"]["type"]["enum"] == ["LAPTOP", "TABLET", "SMARTPHONE"]
    assert device["properties"]["lockWipeStatus"]["enum"] == ["LOCKED", "LOCKING", "UNLOCKING", "WIPED", "WIPING", None]
    assert device["properties"]["edrProvider"]["enum"] == ["SENTINELONE", "THREATDOWN", None]
    for key in ("createdAt", "updatedAt", "enrolledAt", "disenrolledAt"):
        assert device["properties"][key]["pattern"].startswith("^(?:(?:\\d\\d[2468][048]"), key
    for key in ("startDate", "terminationDate"):
        assert components["NewEmployee"]["properties"][key]["pattern"] == device["properties"]["createdAt"]["pattern"]
    listing = {p["name"]: p["schema"] for p in raw["paths"]["/devices"]["get"]["parameters"]}
    assert listing["perPage"]["maximum"] == 100 and listing["perPage"]["minimum"] == 1
    assert set(listing) == {"page", "perPage", "ownerId", "platform", "type", "tag", "search"}


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
