"""Keys and the one error style of the device management API (seed 000): 401 without a valid key,
403 when a read-only key writes, other companies' ids like unknown ones, and every 4xx as
`{"statusCode", "message", "error"}` — never a 422, never a 500."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import Company
from tests.e2e.device_management import assert_error, create_device, get_device, hex_of, unknown_hex

BAD_KEYS: list[dict[str, str]] = [
    {},
    {"Authorization": ""},
    {"Authorization": "Bearer"},
    {"Authorization": "Bearer cst_not-a-key"},
    {"Authorization": "Bearer not-even-the-prefix"},
    {"Authorization": "Basic dXNlcjpwYXNz"},
]


def _routes(device_id: str, employee_id: str) -> list[tuple[str, str, Any]]:
    return [
        ("GET", "/devices", None),
        ("GET", f"/devices/{device_id}", None),
        ("PATCH", f"/devices/{device_id}", {"ownerId": None}),
        ("POST", "/devices", {"type": "LAPTOP"}),
        ("GET", "/employees", None),
        ("GET", f"/employees/{employee_id}", None),
        ("POST", "/employees", {"firstName": "A", "lastName": "B", "email": "a.b@example.com"}),
    ]


def test_no_valid_key_is_401_everywhere(management: httpx.Client, fresh_company: Company) -> None:
    device = create_device(management, fresh_company)
    for method, path, body in _routes(device["id"], hex_of(fresh_company.people[0])):
        for headers in BAD_KEYS:
            response = management.request(method, path, json=body, headers=headers)
            assert_error(response, 401)
            assert response.headers["WWW-Authenticate"] == "Bearer", (method, path)
            assert "Deprecation" not in response.headers


def test_the_key_is_checked_before_the_body(management: httpx.Client, fresh_company: Company) -> None:
    device = create_device(management, fresh_company)
    response = management.patch(f"/devices/{device['id']}", content=b"{", headers={"Content-Type": "application/json"})
    assert_error(response, 401)
    response = management.patch(
        f"/devices/{device['id']}",
        content=b"{",
        headers={**fresh_company.headers(fresh_company.read_token), "Content-Type": "application/json"},
    )
    assert_error(response, 403)


def test_a_read_key_reads_but_may_not_write(management: httpx.Client, fresh_company: Company) -> None:
    ada = hex_of(fresh_company.people[0])
    device = create_device(management, fresh_company)
    read = fresh_company.headers(fresh_company.read_token)
    for method, path, body in _routes(device["id"], ada):
        response = management.request(method, path, json=body, headers=read)
        if method == "GET":
            assert response.status_code == 200, (path, response.text)
        else:
            assert_error(response, 403, "read-only")
    response = management.patch(f"/devices/{device['id']}", json={"ownerId": ada}, headers=read)
    assert_error(response, 403)
    assert get_device(management, fresh_company, device["id"]) == device, "a refused write changes nothing"


def test_a_revoked_or_foreign_key_sees_nothing_of_the_company(
    management: httpx.Client, fresh_company: Company, other_company: Company
) -> None:
    device = create_device(management, fresh_company)
    employee = hex_of(fresh_company.people[0])
    theirs = other_company.headers()
    assert_error(management.get(f"/devices/{device['id']}", headers=theirs), 404)
    assert_error(management.get(f"/employees/{employee}", headers=theirs), 404)
    assert_error(management.patch(f"/devices/{device['id']}", json={"ownerId": None}, headers=theirs), 404)
    page = management.get("/devices", headers=theirs).json()
    assert device["id"] not in [d["id"] for d in page["data"]]
    listed = management.get("/employees", headers=theirs).json()["data"]
    assert employee not in [e["id"] for e in listed]
    # Another company's ids answer exactly like ids that do not exist.
    foreign = management.get(f"/devices/{device['id']}", headers=theirs).json()
    missing = management.get(f"/devices/{unknown_hex()}", headers=theirs).json()
    assert {k: v for k, v in foreign.items() if k != "message"} == {k: v for k, v in missing.items() if k != "message"}


def test_unknown_paths_and_methods_answer_in_this_apis_style(management: httpx.Client, fresh_company: Company) -> None:
    device = create_device(management, fresh_company)
    headers = fresh_company.headers()
    for path in ("/nope", "/devices/a/b", "/employees/x/devices", "/v2/devices"):
        assert_error(management.get(path, headers=headers), 404)
    for method, path in (
        ("DELETE", f"/devices/{device['id']}"),
        ("PUT", f"/devices/{device['id']}"),
        ("DELETE", "/devices"),
        ("PATCH", f"/employees/{hex_of(fresh_company.people[0])}"),
        ("PUT", "/employees"),
    ):
        response = management.request(method, path, headers=headers)
        assert_error(response, 405)
        assert "GET" in response.headers.get("Allow", ""), (method, path, response.headers)


def test_the_other_apis_keep_their_own_base_paths(management: httpx.Client, fresh_company: Company) -> None:
    """The device management API is the fallback at the root; the other two keep theirs."""
    headers = fresh_company.headers()
    assert management.get("/platform/v1/devices", headers=headers).json().keys() == {"data", "meta"}
    assert management.get("/platform/v1/openapi.json").json()["info"]["title"].endswith("company devices API")
    document = management.get("/openapi.json")
    assert document.status_code == 200
    assert document.json()["info"]["title"].endswith("device management API")
