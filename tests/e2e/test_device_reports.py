"""Device reports on the ownership API (`/v1/devices/{id}/reports/`) against a real `custody serve`:
a device posts with its own token, callers read under seed 001's rule (a person only inside its
ownership spans), and the posture shows in the company devices API's `mdm`."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from custody.db.engine import Database
from custody.db.models import Ownership
from custody.domain.device_tokens import create_device_token, revoke_device_token
from custody.domain.tenancy import Caller, Tenant
from tests.conftest import Company, new_company
from tests.e2e.ownership import TIME, assert_error, new_device

T0 = datetime(2024, 1, 1, tzinfo=UTC)
ITEM_KEYS = [
    "id",
    "device",
    "reported_at",
    "received_at",
    "os_name",
    "os_version",
    "build_version",
    "last_seen_at",
    "firewall_enabled",
    "disk_encrypted",
    "screen_lock_enabled",
    "os_updates_enabled",
    "os_updates_available",
    "compromised",
]


def stamp(hours: float) -> str:
    return (T0 + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def v1(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{server}/v1", timeout=30) as client:
        yield client


@dataclass(frozen=True)
class Fleet:
    company: Company
    device: int
    spare: int  # never owned, never reporting
    token: str  # the device's token
    spare_token: str

    def device_headers(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}"}

    @property
    def ada(self) -> dict[str, str]:
        return self.company.headers(self.company.person_token)


@pytest.fixture
def fleet(db: Database, api: httpx.Client, fresh_company: Company) -> Fleet:
    """Ada (the person key) held the device over [1h, 3h) and [6h, 8h) of 2024-01-01; Grace over
    [3h, 5h). Each device has a token."""
    device, spare = (int(new_device(api, fresh_company)["id"]) for _ in range(2))
    ada, grace = (int(str(p["id"])) for p in fresh_company.people)
    with db.write() as session:
        tenant = Tenant(session, Caller(company_id=fresh_company.id, person_id=None, can_write=True))
        for person, start, end in ((ada, 1, 3), (grace, 3, 5), (ada, 6, 8)):
            tenant.add(
                Ownership(
                    company_id=fresh_company.id,
                    device_id=device,
                    person_id=person,
                    start_time=T0 + timedelta(hours=start),
                    end_time=T0 + timedelta(hours=end),
                )
            )
        _, token = create_device_token(tenant, device)
        _, spare_token = create_device_token(tenant, spare)
    return Fleet(company=fresh_company, device=device, spare=spare, token=token, spare_token=spare_token)


def post(v1: httpx.Client, fleet: Fleet, body: Any, token: str | None = None, device: int | None = None) -> Any:
    return v1.post(f"/devices/{device or fleet.device}/reports/", json=body, headers=fleet.device_headers(token))


def page(v1: httpx.Client, headers: dict[str, str], device: int, **params: Any) -> dict[str, Any]:
    response = v1.get(f"/devices/{device}/reports/", params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert list(body) == ["count", "next", "previous", "results"], body
    return body


def half_hourly(v1: httpx.Client, fleet: Fleet) -> None:
    """Reports every half hour from 0h to 10h, one batch."""
    body = {"reports": [{"reported_at": stamp(h / 2), "os_name": f"r{h}"} for h in range(21)]}
    response = post(v1, fleet, body)
    assert response.status_code == 201, response.text
    assert response.json() == {"count": 21}


def hours(body: dict[str, Any]) -> list[float]:
    return [(datetime.fromisoformat(r["reported_at"]) - T0) / timedelta(hours=1) for r in body["results"]]


def test_a_device_posts_and_the_company_reads_everything(v1: httpx.Client, fleet: Fleet) -> None:
    report = {
        "reported_at": "2024-01-01T08:00:00.000005+02:00",
        "os_name": "macOS",
        "os_version": "14.5",
        "build_version": "23F79",
        "last_seen_at": "2024-01-01T05:59:00Z",
        "firewall_enabled": True,
        "disk_encrypted": True,
        "screen_lock_enabled": False,
        "os_updates_enabled": True,
        "os_updates_available": False,
        "compromised": False,
    }
    assert post(v1, fleet, {"reports": [report]}).status_code == 201
    body = page(v1, fleet.company.headers(), fleet.device)
    assert body["count"] == 1
    item = body["results"][0]
    assert list(item) == ITEM_KEYS
    assert item["device"] == fleet.device
    assert item["reported_at"] == "2024-01-01T06:00:00.000005Z"
    assert item["last_seen_at"] == "2024-01-01T05:59:00.000000Z"
    assert TIME.match(item["received_at"])
    assert {k: item[k] for k in list(report)[1:] if k != "last_seen_at"} == {
        k: v for k, v in report.items() if k not in ("reported_at", "last_seen_at")
    }
    read_only = page(v1, fleet.company.headers(fleet.company.read_token), fleet.device)
    assert read_only["results"] == body["results"]


def test_a_person_reads_only_inside_its_spans(v1: httpx.Client, fleet: Fleet) -> None:
    half_hourly(v1, fleet)
    assert hours(page(v1, fleet.ada, fleet.device)) == [1, 1.5, 2, 2.5, 6, 6.5, 7, 7.5]
    window = page(v1, fleet.ada, fleet.device, start="2024-01-01T04:00:00+02:00", end=stamp(7))
    assert hours(window) == [2, 2.5, 6, 6.5]
    assert page(v1, fleet.ada, fleet.device, start=stamp(3), end=stamp(6)) == {
        "count": 0,
        "next": None,
        "previous": None,
        "results": [],
    }
    assert page(v1, fleet.company.headers(), fleet.device)["count"] == 21
    # A device Ada never owned is not found, like one that does not exist.
    assert_error(v1.get(f"/devices/{fleet.spare}/reports/", headers=fleet.ada), 404)
    assert_error(v1.get("/devices/999999999/reports/", headers=fleet.company.headers()), 404)


def test_pages_link_to_each_other(v1: httpx.Client, fleet: Fleet) -> None:
    half_hourly(v1, fleet)
    first = page(v1, fleet.ada, fleet.device, limit=3)
    assert (first["count"], hours(first), first["previous"]) == (8, [1, 1.5, 2], None)
    assert first["next"].endswith(f"/v1/devices/{fleet.device}/reports/?page=2&limit=3")
    following = httpx.get(first["next"], headers=fleet.ada, timeout=30).json()
    assert hours(following) == [2.5, 6, 6.5]
    assert following["previous"].endswith("page=1&limit=3")


def test_another_companys_keys_see_nothing(db: Database, v1: httpx.Client, fleet: Fleet) -> None:
    half_hourly(v1, fleet)
    other = new_company(db, "Other")
    for token in (other.write_token, other.read_token, other.person_token):
        assert_error(v1.get(f"/devices/{fleet.device}/reports/", headers=other.headers(token)), 404)


def test_posting_needs_this_devices_own_token(db: Database, v1: httpx.Client, fleet: Fleet) -> None:
    body = {"reports": [{"reported_at": stamp(1)}]}
    assert_error(v1.post(f"/devices/{fleet.device}/reports/", json=body), 401)
    assert_error(v1.post(f"/devices/{fleet.device}/reports/", json=body, headers=fleet.company.headers()), 401)
    assert_error(post(v1, fleet, body, token=fleet.spare_token), 404)  # another device's token
    assert_error(post(v1, fleet, body, device=fleet.spare), 404)
    # A device token is no API key.
    assert_error(v1.get(f"/devices/{fleet.device}/reports/", headers=fleet.device_headers()), 401)
    with db.write() as session:
        revoke_device_token(session, fleet.token)
    assert_error(post(v1, fleet, body), 401)
    assert page(v1, fleet.company.headers(), fleet.device)["count"] == 0


@pytest.mark.parametrize(
    "body",
    [
        [{"reported_at": "2024-01-01T00:00:00Z"}],
        {"reports": []},
        {"reports": [{"reported_at": "2024-01-01T00:00:00Z"}] * 1001},
        {"reports": [{"reported_at": "2024-01-01T00:00:00"}]},
        {"reports": [{"reported_at": "2024-02-30T00:00:00Z"}]},
        {"reports": [{"reported_at": "2024-01-01T00:00:00Z", "battery": 80}]},
        {"reports": [{"reported_at": "2024-01-01T00:00:00Z"}], "extra": 1},
        {"reports": [{"os_name": "macOS"}]},
        {"reports": [{"reported_at": "2024-01-01T00:00:00Z"}, {"reported_at": "2999-01-01T00:00:00Z"}]},
        {"reports": [{"reported_at": "2024-01-01T00:00:00Z", "os_name": "x" * 101}]},
        {"reports": [{"reported_at": "2024-01-01T00:00:00Z", "os_name": "a\u0000b"}]},
        {"reports": [{"reported_at": "2024-01-01T00:00:00Z", "compromised": "yes"}]},
    ],
    ids=lambda body: uuid.uuid4().hex[:4],
)
def test_a_bad_batch_is_a_400_and_stores_nothing(v1: httpx.Client, fleet: Fleet, body: Any) -> None:
    assert_error(post(v1, fleet, body), 400)
    assert page(v1, fleet.company.headers(), fleet.device)["count"] == 0


@pytest.mark.parametrize(
    "params",
    [
        {"start": "2024-01-01T00:00:00"},
        {"end": "yesterday"},
        {"start": "1700000000"},
        {"start": stamp(5), "end": stamp(1)},
        {"limit": 0},
        {"limit": 1001},
        {"page": 0},
    ],
)
def test_bad_query_parameters_are_400(v1: httpx.Client, fleet: Fleet, params: dict[str, Any]) -> None:
    response = v1.get(f"/devices/{fleet.device}/reports/", params=params, headers=fleet.company.headers())
    assert_error(response, 400)


def test_the_newest_report_shows_as_the_company_devices_mdm(v1: httpx.Client, api: httpx.Client, fleet: Fleet) -> None:
    assert api.get(f"/devices/{fleet.device}", headers=fleet.company.headers()).json()["data"]["mdm"] is None
    newest = {"reported_at": stamp(9), "os_name": "macOS", "firewall_enabled": True, "disk_encrypted": False}
    older = {"reported_at": stamp(2), "os_name": "old", "firewall_enabled": False}
    assert post(v1, fleet, {"reports": [newest, older]}).status_code == 201
    assert post(v1, fleet, {"reports": [{"reported_at": stamp(4), "os_name": "late"}]}).status_code == 201
    mdm = api.get(f"/devices/{fleet.device}", headers=fleet.company.headers()).json()["data"]["mdm"]
    assert mdm["status"] == "ENROLLED"
    assert (mdm["firewall_enabled"], mdm["is_encrypted"]) == (True, False)
    assert (mdm["last_sync_date"], mdm["last_seen_date"], mdm["enrollment_date"]) == (stamp(9), stamp(9), stamp(2))


def test_the_openapi_document_describes_both_operations(server: str) -> None:
    document = httpx.get(f"{server}/v1/openapi.json", timeout=30).json()
    operations = document["paths"]["/v1/devices/{device_id}/reports/"]
    assert set(operations) >= {"get", "post"}
    body = operations["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["$ref"].endswith("/ReportBatch")
