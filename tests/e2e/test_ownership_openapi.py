"""The served OpenAPI document of the device ownership API (seed 001), held to what the server does:
schemathesis drives every documented operation (valid and invalid requests, real ids of a company
that holds devices and ownerships), and every answer must be documented — status, media type and
body (`{"detail", "code"}` for every 4xx) — and never a 5xx. Then the same without a key, with an
unknown key and with a read key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis.schemas import BaseSchema

from tests.conftest import Company
from tests.e2e.conformance import STRICT_CHECKS as CHECKS
from tests.e2e.conformance import auth_conforms, conforms, operations
from tests.e2e.ownership import new_device, take

BASE = "/v1"


@pytest.fixture
def schema(server: str) -> BaseSchema:
    return schemathesis.openapi.from_url(f"{server}{BASE}/openapi.json", timeout=10)


@pytest.fixture
def seeded(server: str, api: httpx.Client, fresh_company: Company) -> dict[str, list[str]]:
    """Devices, a span held now, a released one and a booking, for the path parameters."""
    devices = [new_device(api, fresh_company) for _ in range(3)]
    ada = fresh_company.headers(fresh_company.person_token)
    with httpx.Client(base_url=f"{server}{BASE}", timeout=30) as v1:
        held = take(v1, ada, devices[0]).json()
        released = take(v1, ada, devices[1]).json()
        v1.post(f"/device-ownerships/{released['id']}/release/", headers=ada)
        start = (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
        booked = take(v1, ada, devices[2], start_time=start).json()
    return {
        "ownership_id": [str(held["id"]), str(released["id"]), str(booked["id"])],
        "device_id": [str(d["id"]) for d in devices],
    }


def test_document_is_valid_and_complete(server: str, schema: BaseSchema) -> None:
    raw = httpx.get(f"{server}{BASE}/openapi.json", timeout=10).json()
    assert str(raw["openapi"]).startswith("3.")
    schema.validate()
    labels = {operation.label for operation in operations(schema)}
    assert {
        f"GET {BASE}/device-ownerships/",
        f"POST {BASE}/device-ownerships/",
        f"GET {BASE}/device-ownerships/{{ownership_id}}/",
        f"POST {BASE}/device-ownerships/{{ownership_id}}/release/",
        f"GET {BASE}/devices/",
        f"GET {BASE}/devices/{{device_id}}/",
    } <= labels, labels
    take_body = raw["components"]["schemas"]["Take"]
    assert take_body.get("additionalProperties") is False, "the take body refuses unknown keys"


def test_every_operation_conforms_to_the_document(
    server: str, schema: BaseSchema, fresh_company: Company, seeded: dict[str, list[str]]
) -> None:
    for token in (fresh_company.person_token, fresh_company.write_token):
        problems = conforms(schema, server, {"Authorization": f"Bearer {token}"}, seeded, CHECKS)
        assert not problems, "\n\n".join(problems)


def test_auth_errors_conform_to_the_document(
    server: str, schema: BaseSchema, fresh_company: Company, seeded: dict[str, list[str]]
) -> None:
    tokens: list[dict[str, Any]] = [
        {},
        {"Authorization": "Bearer cst_not-a-key"},
        {"Authorization": f"Bearer {fresh_company.read_token}"},
    ]
    problems = auth_conforms(schema, server, tokens, seeded, CHECKS)
    assert not problems, "\n\n".join(problems)
