"""`GET /employees/{id}`, `GET /employees` and `POST /employees` of the device management API
(seed 000): the people of a company by 24-hex id, with the devices they hold now."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.conftest import Company
from tests.e2e.device_management import (
    JSON,
    PAGINATION_KEYS,
    assert_employee_shape,
    assert_error,
    assign,
    create_device,
    hex_of,
    unknown_hex,
)


def new_employee(client: httpx.Client, company: Company, **fields: Any) -> JSON:
    body = {"firstName": "Alan", "lastName": "Turing", "email": f"alan.{uuid.uuid4().hex[:8]}@example.com", **fields}
    response = client.post("/employees", json=body, headers=company.headers())
    assert response.status_code == 201, response.text
    employee: JSON = response.json()
    assert_employee_shape(employee)
    return employee


def get_employee(client: httpx.Client, company: Company, employee_id: str) -> JSON:
    response = client.get(f"/employees/{employee_id}", headers=company.headers())
    assert response.status_code == 200, response.text
    employee: JSON = response.json()
    assert_employee_shape(employee)
    return employee


def employees(client: httpx.Client, company: Company, **params: Any) -> JSON:
    response = client.get("/employees", params=params, headers=company.headers())
    assert response.status_code == 200, response.text
    page: JSON = response.json()
    assert list(page) == ["data", "pagination"] and list(page["pagination"]) == PAGINATION_KEYS, page
    for employee in page["data"]:
        assert_employee_shape(employee)
    return page


def test_create_and_read_an_employee(management: httpx.Client, fresh_company: Company) -> None:
    ada = fresh_company.people[0]
    body = {
        "firstName": "Katherine",
        "lastName": "Johnson",
        "email": "Katherine.Johnson@Example.com",
        "teams": ["Flight Research", "Analysis", "Analysis"],
        "managerId": hex_of(ada),
        "startDate": "2024-02-29T08:00:00Z",
        "terminationDate": "2025-03-01T17:30:00.250Z",
    }
    response = management.post("/employees", json=body, headers=fresh_company.headers())
    assert response.status_code == 201, response.text
    made = response.json()
    assert_employee_shape(made)
    assert {k: made[k] for k in ("firstName", "lastName", "managerId", "startDate")} == {
        "firstName": "Katherine",
        "lastName": "Johnson",
        "managerId": hex_of(ada),
        "startDate": "2024-02-29T08:00:00Z",
    }
    assert made["email"] == "katherine.johnson@example.com", "emails are kept lower-case"
    assert made["teams"] == ["Flight Research", "Analysis"]
    assert made["terminationDate"] == "2025-03-01T17:30:00Z", "emitted at second precision"
    assert made["deviceIds"] == []
    assert get_employee(management, fresh_company, made["id"]) == made


def test_device_ids_are_the_devices_held_now(
    management: httpx.Client, api: httpx.Client, fresh_company: Company
) -> None:
    ada, grace = (hex_of(p) for p in fresh_company.people)
    first = create_device(management, fresh_company, ownerId=ada)
    second = create_device(management, fresh_company, type="SMARTPHONE", ownerId=ada)
    # A screen held by Ada is no device of this API: it is not listed.
    screen = {"name": "Screen", "type": "SCREEN", "category": "DISPLAY", "user_id": fresh_company.people[0]["id"]}
    assert api.post("/devices", json={"devices": [screen]}, headers=fresh_company.headers()).status_code == 201
    assert get_employee(management, fresh_company, ada)["deviceIds"] == [first["id"], second["id"]]
    assert get_employee(management, fresh_company, grace)["deviceIds"] == []

    assign(management, fresh_company, first["id"], grace)
    assert get_employee(management, fresh_company, ada)["deviceIds"] == [second["id"]]
    assert get_employee(management, fresh_company, grace)["deviceIds"] == [first["id"]]
    assign(management, fresh_company, second["id"], None)
    listed = {e["id"]: e["deviceIds"] for e in employees(management, fresh_company)["data"]}
    assert listed == {ada: [], grace: [first["id"]]}


def test_list_employees_pages_and_search(management: httpx.Client, fresh_company: Company) -> None:
    made = [new_employee(management, fresh_company, lastName=f"Paged{n}")["id"] for n in range(4)]
    everyone = [hex_of(p) for p in fresh_company.people] + made
    page = employees(management, fresh_company)
    assert [e["id"] for e in page["data"]] == everyone, "creation order"
    assert page["pagination"] == {"totalElements": 6, "totalPages": 1, "page": 1, "perPage": 20}
    pages = [employees(management, fresh_company, page=n, perPage=4) for n in (1, 2, 3)]
    assert [[e["id"] for e in p["data"]] for p in pages] == [everyone[:4], everyone[4:], []]
    assert all(p["pagination"]["totalPages"] == 2 for p in pages)
    assert [e["id"] for e in employees(management, fresh_company, search="paged2")["data"]] == [made[2]]
    assert [e["lastName"] for e in employees(management, fresh_company, search="ADA lovelace")["data"]] == ["Lovelace"]
    assert employees(management, fresh_company, search="example.com paged3")["pagination"]["totalElements"] == 1
    assert employees(management, fresh_company, search="nobody_here")["data"] == []
    for params in ({"perPage": 101}, {"perPage": 0}, {"page": 0}, {"page": "x"}, {"search": "x" * 201}):
        assert_error(management.get("/employees", params=params, headers=fresh_company.headers()), 400)


def test_employee_dates_are_validated_like_the_seed_pattern(management: httpx.Client, fresh_company: Company) -> None:
    for ok in ("2024-02-29T00:00:00Z", "2000-02-29T12:00Z", "2023-12-31T23:59:59.999999Z", "0028-02-29T00:02:00Z"):
        assert new_employee(management, fresh_company, startDate=ok)["startDate"].startswith(ok[:10])
    for bad in (
        "2023-02-29T00:00:00Z",
        "1900-02-29T00:00:00Z",
        "2024-04-31T00:00:00Z",
        "2024-13-01T00:00:00Z",
        "2024-02-29",
        "2024-02-29T24:00:00Z",
        "2024-02-29T10:00:00+01:00",
        "2024-02-29T10:00:00",
        "2024-02-29 10:00:00Z",
        "2024-02-29T10:00:00Z\n",
        "0000-01-01T00:00:00Z",
        "",
    ):
        for key in ("startDate", "terminationDate"):
            body = {"firstName": "Bad", "lastName": "Date", "email": f"bad.{uuid.uuid4().hex[:8]}@x.io", key: bad}
            assert_error(management.post("/employees", json=body, headers=fresh_company.headers()), 400)
    assert employees(management, fresh_company)["pagination"]["totalElements"] == 6, "nothing was written"


def test_termination_cannot_precede_start(management: httpx.Client, fresh_company: Company) -> None:
    body = {
        "firstName": "Time",
        "lastName": "Traveller",
        "email": "time.traveller@example.com",
        "startDate": "2024-03-01T00:00:00Z",
        "terminationDate": "2024-02-29T23:59:59Z",
    }
    assert_error(management.post("/employees", json=body, headers=fresh_company.headers()), 400, "termination")
    same_day = new_employee(
        management, fresh_company, startDate="2024-03-01T00:00:00Z", terminationDate="2024-03-01T00:00:00Z"
    )
    assert same_day["startDate"] == same_day["terminationDate"]


def test_the_manager_must_be_an_employee_of_the_same_company(
    management: httpx.Client, fresh_company: Company, other_company: Company
) -> None:
    for manager in (unknown_hex(), hex_of(other_company.people[0])):
        body = {"firstName": "No", "lastName": "Boss", "email": f"{uuid.uuid4().hex[:8]}@x.io", "managerId": manager}
        assert_error(management.post("/employees", json=body, headers=fresh_company.headers()), 404, "manager")
    malformed: list[Any] = ["A" * 24, "a" * 23, 42]
    for wrong in malformed:
        body = {"firstName": "No", "lastName": "Boss", "email": f"{uuid.uuid4().hex[:8]}@x.io", "managerId": wrong}
        assert_error(management.post("/employees", json=body, headers=fresh_company.headers()), 400)
    report = new_employee(management, fresh_company, managerId=hex_of(fresh_company.people[1]))
    assert report["managerId"] == hex_of(fresh_company.people[1])
    assert employees(management, fresh_company)["pagination"]["totalElements"] == 3


def test_bad_employee_bodies_are_400_and_a_taken_email_409(management: httpx.Client, fresh_company: Company) -> None:
    taken = str(fresh_company.people[0]["email"])
    good = {"firstName": "Grace", "lastName": "Brewster", "email": "grace.brewster@example.com"}
    bodies: list[Any] = [
        {},
        {**good, "firstName": ""},
        {**good, "lastName": " "},
        {**good, "firstName": None},
        {**good, "email": "not-an-email"},
        {**good, "email": "two@@example.com"},
        {**good, "email": ".dot@example.com"},
        {**good, "teams": "Engineering"},
        {**good, "teams": [""]},
        {**good, "deviceIds": []},
        {**good, "id": unknown_hex()},
        {**good, "role": "admin"},
        {**good, "firstName": "x" * 101},
        {**good, "firstName": "nul\x00"},
        [good],
    ]
    for body in bodies:
        assert_error(management.post("/employees", json=body, headers=fresh_company.headers()), 400)
    assert_error(management.post("/employees", json={**good, "email": taken}, headers=fresh_company.headers()), 409)
    assert_error(
        management.post("/employees", json={**good, "email": taken.upper()}, headers=fresh_company.headers()), 409
    )
    assert employees(management, fresh_company)["pagination"]["totalElements"] == 2


def test_unknown_foreign_and_malformed_employee_ids(
    management: httpx.Client, fresh_company: Company, other_company: Company
) -> None:
    theirs = hex_of(other_company.people[0])
    for employee_id in (unknown_hex(), theirs):
        assert_error(management.get(f"/employees/{employee_id}", headers=fresh_company.headers()), 404)
    for raw in ("a" * 23, "A" * 24, "g" * 24):
        assert_error(management.get(f"/employees/{raw}", headers=fresh_company.headers()), 400)
    assert get_employee(management, other_company, theirs)["id"] == theirs
