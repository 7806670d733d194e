"""`PATCH /devices/{deviceId}` of the device management API (seed 000), to the letter: `ownerId`
assigns, `null` unassigns, through the one ownership table the other two APIs read."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from custody.db.engine import Database
from tests.conftest import Company
from tests.e2e.device_management import (
    assert_error,
    assign,
    company_item,
    create_device,
    get_device,
    hex_of,
    list_devices,
    spans,
    unknown_hex,
)


def test_assign_reassign_unassign_through_the_ownership_table(
    management: httpx.Client, db: Database, fresh_company: Company
) -> None:
    ada, grace = fresh_company.people
    device = create_device(management, fresh_company)
    assert spans(db, fresh_company, device["id"]) == []

    assigned = assign(management, fresh_company, device["id"], hex_of(ada))
    assert spans(db, fresh_company, device["id"]) == [(ada["id"], True)]
    assert assigned["updatedAt"] >= device["updatedAt"]
    assert {k: v for k, v in assigned.items() if k not in ("ownerId", "updatedAt")} == {
        k: v for k, v in device.items() if k not in ("ownerId", "updatedAt")
    }, "only the assignee changes"

    assign(management, fresh_company, device["id"], hex_of(grace))
    assert spans(db, fresh_company, device["id"]) == [(ada["id"], False), (grace["id"], True)], (
        "the previous holder's span ends, a new one opens"
    )

    assign(management, fresh_company, device["id"], None)
    assert spans(db, fresh_company, device["id"]) == [(ada["id"], False), (grace["id"], False)], (
        "unassigning ends the span and keeps its row"
    )
    assert get_device(management, fresh_company, device["id"])["ownerId"] is None


def test_repeating_an_assignment_changes_nothing(
    management: httpx.Client, db: Database, fresh_company: Company
) -> None:
    ada = fresh_company.people[0]
    device = create_device(management, fresh_company)
    assert assign(management, fresh_company, device["id"], None)["updatedAt"] == device["updatedAt"]
    assert spans(db, fresh_company, device["id"]) == []
    first = assign(management, fresh_company, device["id"], hex_of(ada))
    again = assign(management, fresh_company, device["id"], hex_of(ada))
    assert again == first
    assert spans(db, fresh_company, device["id"]) == [(ada["id"], True)]


def test_an_assignment_here_shows_in_the_company_devices_api_and_back(
    management: httpx.Client, api: httpx.Client, fresh_company: Company
) -> None:
    ada, grace = fresh_company.people
    device = create_device(management, fresh_company)
    item = company_item(api, fresh_company, device["serialNumber"])
    assert item["user_id"] is None

    assign(management, fresh_company, device["id"], hex_of(ada))
    one = api.get(f"/devices/{item['id']}", headers=fresh_company.headers())
    assert one.status_code == 200 and one.json()["data"]["user_id"] == ada["id"], one.text
    held = api.get("/devices", params={"user_id": str(ada["id"])}, headers=fresh_company.headers()).json()["data"]
    assert [d["id"] for d in held] == [item["id"]]
    assert company_item(api, fresh_company, "lovelace")["id"] == item["id"], "search finds the new holder"

    # ... and the other way: the company devices API's `user_id` is this API's `ownerId`.
    moved = api.patch(f"/devices/{item['id']}", json={"user_id": grace["id"]}, headers=fresh_company.headers())
    assert moved.status_code == 200, moved.text
    assert get_device(management, fresh_company, device["id"])["ownerId"] == hex_of(grace)
    owned = list_devices(management, fresh_company, ownerId=hex_of(grace))["data"]
    assert [d["id"] for d in owned] == [device["id"]]
    assert api.patch(f"/devices/{item['id']}", json={"user_id": None}, headers=fresh_company.headers()).is_success
    assert get_device(management, fresh_company, device["id"])["ownerId"] is None

    assign(management, fresh_company, device["id"], hex_of(grace))
    assign(management, fresh_company, device["id"], None)
    assert api.get(f"/devices/{item['id']}", headers=fresh_company.headers()).json()["data"]["user_id"] is None


def test_owner_id_must_be_24_lower_case_hex_digits(
    management: httpx.Client, db: Database, fresh_company: Company
) -> None:
    ada = fresh_company.people[0]
    device = create_device(management, fresh_company)
    assign(management, fresh_company, device["id"], hex_of(ada))
    before = get_device(management, fresh_company, device["id"])
    good = hex_of(fresh_company.people[1])
    bodies: list[Any] = [
        {"ownerId": good[:23]},
        {"ownerId": good + "0"},
        {"ownerId": good.upper()},
        {"ownerId": "g" * 24},
        {"ownerId": "z" + good[1:]},
        {"ownerId": " " + good[1:]},
        {"ownerId": good + "\n"},
        {"ownerId": ""},
        {"ownerId": 123},
        {"ownerId": True},
        {"ownerId": [good]},
        {"ownerId": {"id": good}},
        {},
        {"owner_id": good},
        {"ownerid": good},
        {"ownerId": good, "id": unknown_hex()},
        {"ownerId": good, "isEnrolled": True},
        {"ownerId": good, "lockWipeStatus": "LOCKED"},
        {"ownerId": None, "name": "renamed"},
        {"ownerId": good, "tags": ["x"]},
        [{"ownerId": good}],
        None,
        good,
    ]
    for body in bodies:
        response = management.patch(f"/devices/{device['id']}", json=body, headers=fresh_company.headers())
        assert_error(response, 400)
    for raw in (b"", b"{", b'{"ownerId": }', b"{'ownerId': null}", b'{"ownerId": null', b"\xff"):
        response = management.patch(
            f"/devices/{device['id']}",
            content=raw,
            headers={**fresh_company.headers(), "Content-Type": "application/json"},
        )
        assert_error(response, 400)
    assert get_device(management, fresh_company, device["id"]) == before, "a refused PATCH changes nothing"
    assert spans(db, fresh_company, device["id"]) == [(ada["id"], True)]


def test_an_owner_who_is_no_employee_of_the_company_is_404_and_changes_nothing(
    management: httpx.Client, db: Database, fresh_company: Company, other_company: Company
) -> None:
    ada = fresh_company.people[0]
    device = create_device(management, fresh_company, ownerId=hex_of(ada))
    for owner in (unknown_hex(), hex_of(other_company.people[0])):
        response = management.patch(
            f"/devices/{device['id']}", json={"ownerId": owner}, headers=fresh_company.headers()
        )
        assert_error(response, 404, "employee")
    assert get_device(management, fresh_company, device["id"]) == device
    assert spans(db, fresh_company, device["id"]) == [(ada["id"], True)]


def test_unknown_foreign_and_malformed_devices(
    management: httpx.Client, fresh_company: Company, other_company: Company
) -> None:
    ada = hex_of(fresh_company.people[0])
    theirs = create_device(management, other_company)
    for device_id in (unknown_hex(), theirs["id"]):
        response = management.patch(f"/devices/{device_id}", json={"ownerId": ada}, headers=fresh_company.headers())
        assert_error(response, 404, "device")
    for raw in ("a" * 23, "A" * 24, "not-an-id"):
        response = management.patch(f"/devices/{raw}", json={"ownerId": ada}, headers=fresh_company.headers())
        assert_error(response, 400)
    assert get_device(management, other_company, theirs["id"]) == theirs


def test_a_person_key_of_the_company_may_assign(management: httpx.Client, fresh_company: Company) -> None:
    """Any write key of the company may (re)assign; the seed knows no narrower rule."""
    grace = hex_of(fresh_company.people[1])
    device = create_device(management, fresh_company)
    response = management.patch(
        f"/devices/{device['id']}", json={"ownerId": grace}, headers=fresh_company.headers(fresh_company.person_token)
    )
    assert response.status_code == 200, response.text
    assert response.json()["ownerId"] == grace


def test_concurrent_assignments_leave_one_consistent_history(
    server: str, management: httpx.Client, api: httpx.Client, db: Database, fresh_company: Company
) -> None:
    """Many clients (re)assigning one device at once, mixed with the company devices API: no 5xx, at
    most one open span, spans that never overlap, and `ownerId` is the open span's holder."""
    device = create_device(management, fresh_company)
    item = company_item(api, fresh_company, device["serialNumber"])["id"]
    people = [(p["id"], hex_of(p)) for p in fresh_company.people] + [(None, None)]

    def write(i: int) -> int:
        person_id, owner_id = people[i % 3]
        with httpx.Client(base_url=server, timeout=60, headers=fresh_company.headers()) as client:
            if i % 4 == 0:
                response = client.patch(f"/platform/v1/devices/{item}", json={"user_id": person_id})
            else:
                response = client.patch(f"/devices/{device['id']}", json={"ownerId": owner_id})
            return response.status_code

    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(write, range(48)))
    assert statuses == [200] * len(statuses)
    history = spans(db, fresh_company, device["id"])
    open_spans = [person for person, is_open in history if is_open]
    assert len(open_spans) <= 1
    owner = get_device(management, fresh_company, device["id"])["ownerId"]
    by_id = dict(people)
    assert owner == (by_id[open_spans[0]] if open_spans else None)
