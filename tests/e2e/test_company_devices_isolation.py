"""Keys and tenants in the company devices API (seed 002): 401 / 403, and one company never sees another."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.conftest import Company, run_cli
from tests.e2e.company_devices import (
    assert_error,
    create,
    device,
    error_problem,
    get_one,
    holder_ids,
    ids,
    no_problems,
    page,
    search_ids,
    total,
)

ENDPOINTS: list[tuple[str, str, Any]] = [
    ("GET", "/devices", None),
    ("GET", "/devices/{id}", None),
    ("POST", "/devices", {"devices": [device("Sneaky")]}),
    ("PATCH", "/devices/{id}", {"comment": "sneaky"}),
    ("DELETE", "/devices/{id}", None),
    ("GET", "/addresses/1", None),
]


def _call(
    api: httpx.Client, method: str, path: str, body: Any, device_id: int, headers: dict[str, str]
) -> httpx.Response:
    kwargs: dict[str, Any] = {} if body is None else {"json": body}
    return api.request(method, path.format(id=device_id), headers=headers, **kwargs)


def _bad_auth_headers(company: Company) -> dict[str, dict[str, str]]:
    token = company.write_token
    return {
        "no header": {},
        "empty header": {"Authorization": ""},
        "bearer without token": {"Authorization": "Bearer"},
        "token without scheme": {"Authorization": token},
        "basic scheme": {"Authorization": f"Basic {token}"},
        "token scheme": {"Authorization": f"Token {token}"},
        "unknown token": {"Authorization": "Bearer cst_00000000_doesnotexistdoesnotexistdoesnotexist00"},
        "altered token": {"Authorization": f"Bearer {token[:-1]}{'A' if token[-1] != 'A' else 'B'}"},
        "garbage": {"Authorization": "Bearer not-a-key"},
    }


# --------------------------------------------------------------------------- 401


def test_missing_or_wrong_key_is_401(api: httpx.Client, fresh_company: Company) -> None:
    (made,) = create(api, fresh_company, device("Guarded", comment="original"))
    no_problems(
        [
            error_problem(f"{method} {path} with {label}", _call(api, method, path, body, made["id"], headers), 401)
            for method, path, body in ENDPOINTS
            for label, headers in _bad_auth_headers(fresh_company).items()
        ]
    )
    assert page(api, fresh_company)["meta"]["total"] == 1
    assert get_one(api, fresh_company, made["id"]) == made


def test_no_key_beats_a_bad_body_or_a_bad_id(api: httpx.Client) -> None:
    assert_error(api.post("/devices", content=b"{not json", headers={"Content-Type": "application/json"}), 401)
    assert_error(api.post("/devices", json={"devices": []}), 401)
    assert_error(api.get("/devices", params={"limit": 0}), 401)
    assert_error(api.get("/devices/abc"), 401)
    assert_error(api.patch("/devices/1", json={}), 401)


def test_revoked_key_is_401(api: httpx.Client, fresh_company: Company, database_url: str) -> None:
    (made,) = create(api, fresh_company, device("Before revocation"))
    assert api.get("/devices", headers=fresh_company.headers()).status_code == 200

    answer = run_cli(database_url, "key", "revoke", fresh_company.write_token)
    assert answer.get("revoked") is True, answer
    no_problems(
        [
            error_problem(f"{method} {path}", _call(api, method, path, body, made["id"], fresh_company.headers()), 401)
            for method, path, body in ENDPOINTS
        ]
    )
    # Only that key is revoked: the company's read key still reads, and nothing was written.
    body = page(api, fresh_company, fresh_company.read_token)
    assert ids(body) == [made["id"]] and body["meta"]["total"] == 1
    one = api.get(f"/devices/{made['id']}", headers=fresh_company.headers(fresh_company.read_token))
    assert one.status_code == 200 and one.json()["data"] == made


# --------------------------------------------------------------------------- 403


def test_read_key_reads(api: httpx.Client, fresh_company: Company) -> None:
    (made,) = create(api, fresh_company, device("Readable", serial_number="READ-1"))
    read = fresh_company.read_token
    body = page(api, fresh_company, read)
    assert ids(body) == [made["id"]] and body["meta"]["total"] == 1
    assert ids(page(api, fresh_company, read, search="read-1")) == [made["id"]]
    one = api.get(f"/devices/{made['id']}", headers=fresh_company.headers(read))
    assert one.status_code == 200 and one.json()["data"] == made
    assert_error(api.get("/addresses/987654321", headers=fresh_company.headers(read)), 404, "ADDRESS_NOT_FOUND")


def test_read_key_cannot_write(api: httpx.Client, fresh_company: Company) -> None:
    (made,) = create(api, fresh_company, device("Protected", comment="original"))
    read = fresh_company.headers(fresh_company.read_token)

    assert_error(api.post("/devices", json={"devices": [device("Nope")]}, headers=read), 403, "INSUFFICIENT_SCOPE")
    assert_error(
        api.patch(f"/devices/{made['id']}", json={"comment": "changed"}, headers=read), 403, "INSUFFICIENT_SCOPE"
    )
    assert_error(
        api.patch(f"/devices/{made['id']}", json={"user_id": fresh_company.people[0]["id"]}, headers=read),
        403,
        "INSUFFICIENT_SCOPE",
    )
    assert_error(api.delete(f"/devices/{made['id']}", headers=read), 403, "INSUFFICIENT_SCOPE")

    assert total(api, fresh_company) == 1
    assert get_one(api, fresh_company, made["id"]) == made
    assert holder_ids(api, fresh_company, fresh_company.people[0]) == set()


# --------------------------------------------------------------------------- tenant isolation


def _same_answer(a: httpx.Response, b: httpx.Response) -> None:
    assert (a.status_code, a.json()) == (b.status_code, b.json()), (a.text, b.text)


def test_lists_and_search_never_cross_companies(
    api: httpx.Client, fresh_company: Company, other_company: Company
) -> None:
    a_ada = fresh_company.people[0]
    a_devices = create(
        api,
        fresh_company,
        device("Acme MacBook", serial_number="ACME-ONLY-77", user_id=a_ada["id"]),
        device("Acme ThinkPad", client_status="SHIPPED"),
    )
    (b_device,) = create(api, other_company, device("Other tablet"))

    b_page = page(api, other_company)
    assert ids(b_page) == [b_device["id"]] and b_page["meta"]["total"] == 1
    assert ids(page(api, other_company, other_company.read_token)) == [b_device["id"]]
    for text in ("ACME-ONLY-77", "acme", "macbook", "lovelace", str(a_ada["email"]), "engineering"):
        assert search_ids(api, other_company, text) == set(), text
    assert page(api, other_company, client_status="SHIPPED")["meta"]["total"] == 0

    a_page = page(api, fresh_company)
    assert set(ids(a_page)) == {d["id"] for d in a_devices} and a_page["meta"]["total"] == 2


def test_user_id_filter_with_another_companys_person_is_empty(
    api: httpx.Client, fresh_company: Company, other_company: Company
) -> None:
    a_ada = fresh_company.people[0]
    create(api, fresh_company, device("Held by A's Ada", user_id=a_ada["id"]))
    create(api, other_company, device("B device"))
    body = page(api, other_company, user_id=a_ada["id"])
    assert body["data"] == [] and body["meta"] == {"total": 0, "limit": 50, "offset": 0}
    assert holder_ids(api, fresh_company, a_ada) != set()


@pytest.mark.parametrize(
    ("method", "body"),
    [("GET", None), ("PATCH", {"comment": "hijacked"}), ("PATCH", {"user_id": None}), ("DELETE", None)],
    ids=["GET", "PATCH comment", "PATCH user_id", "DELETE"],
)
def test_another_companys_device_is_404_like_a_missing_one(
    api: httpx.Client, fresh_company: Company, other_company: Company, method: str, body: Any
) -> None:
    a_ada = fresh_company.people[0]
    (a_device,) = create(api, fresh_company, device("A's device", comment="original", user_id=a_ada["id"]))
    (b_device,) = create(api, other_company, device("B's device"))

    # A gone device of B's own gives the "does not exist" answer to compare with.
    (b_gone,) = create(api, other_company, device("B's deleted"))
    assert api.delete(f"/devices/{b_gone['id']}", headers=other_company.headers()).status_code == 200
    missing_id = max(a_device["id"], b_device["id"], b_gone["id"]) + 100_000

    def call(device_id: int) -> httpx.Response:
        kwargs: dict[str, Any] = {} if body is None else {"json": body}
        return api.request(method, f"/devices/{device_id}", headers=other_company.headers(), **kwargs)

    foreign = call(a_device["id"])
    assert_error(foreign, 404, "DEVICE_NOT_FOUND")
    _same_answer(foreign, call(missing_id))
    _same_answer(foreign, call(b_gone["id"]))

    # Nothing changed in company A.
    assert get_one(api, fresh_company, a_device["id"]) == a_device
    assert holder_ids(api, fresh_company, a_ada) == {a_device["id"]}
    assert total(api, fresh_company) == 1


def test_cannot_assign_another_companys_device_or_person(
    api: httpx.Client, fresh_company: Company, other_company: Company
) -> None:
    (a_device,) = create(api, fresh_company, device("A laptop"))
    b_grace = other_company.people[1]
    # B cannot hand A's device to B's person: the device does not exist for B.
    response = api.patch(f"/devices/{a_device['id']}", json={"user_id": b_grace["id"]}, headers=other_company.headers())
    assert_error(response, 404, "DEVICE_NOT_FOUND")
    # A cannot hand its device to B's person.
    response = api.patch(f"/devices/{a_device['id']}", json={"user_id": b_grace["id"]}, headers=fresh_company.headers())
    assert "INVALID_USER" in assert_error(response, 400)
    assert holder_ids(api, other_company, b_grace) == set()
    assert get_one(api, fresh_company, a_device["id"]) == a_device


def test_cli_companies_are_isolated(api: httpx.Client, cli_companies: tuple[Company, Company]) -> None:
    acme, globex = cli_companies
    serial = f"ACME-{uuid.uuid4().hex[:10]}"
    (made,) = create(api, acme, device("Acme secret", serial_number=serial, user_id=acme.people[1]["id"]))
    assert search_ids(api, globex, serial) == set()
    assert made["id"] not in ids(page(api, globex, limit=100))
    assert_error(api.get(f"/devices/{made['id']}", headers=globex.headers()), 404, "DEVICE_NOT_FOUND")
    assert page(api, globex, user_id=acme.people[1]["id"])["meta"]["total"] == 0
    response = api.post(
        "/devices", json={"devices": [device("Globex grab", user_id=acme.people[0]["id"])]}, headers=globex.headers()
    )
    assert "INVALID_USER" in assert_error(response, 400)
    assert search_ids(api, acme, serial) == {made["id"]}
