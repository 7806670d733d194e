"""The device ownership API (seed 001) against a real `custody serve`: written from the seed and
CONTRACTS.md — shapes and time formats, take / conflict / release, filters, `current`, serial
lookups, trailing slashes, reservations, and the one ownership table seen from the other API."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from custody.db.engine import Database
from tests.conftest import Company
from tests.e2e.ownership import (
    JSON,
    OPEN_END,
    TIME,
    add_person,
    assert_error,
    assert_ownership_shape,
    hex_id_of,
    new_device,
    ownerships,
    take,
)


@pytest.fixture
def v1(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{server}/v1", timeout=30) as client:
        yield client


def _person_headers(company: Company) -> dict[str, str]:
    return company.headers(company.person_token)


def _ada(company: Company) -> int:
    return int(str(company.people[0]["id"]))


def _at(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --------------------------------------------------------------------------- take / shapes


def test_take_returns_the_seed_object(v1: httpx.Client, api: httpx.Client, fresh_company: Company) -> None:
    made = new_device(api, fresh_company)
    before = datetime.now(UTC)
    body = take(v1, _person_headers(fresh_company), made).json()
    assert_ownership_shape(body)
    assert body["device"] == made["id"] and body["manager"] == _ada(fresh_company)
    assert body["device_details"] == {
        "id": made["id"],
        "device_name": made["name"],
        "serial_number": made["serial_number"],
    }
    assert body["end_time"] == OPEN_END
    started = datetime.strptime(body["start_time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert before - timedelta(seconds=5) <= started <= datetime.now(UTC) + timedelta(seconds=5)
    got = v1.get(f"/device-ownerships/{body['id']}/", headers=_person_headers(fresh_company))
    assert got.status_code == 200 and got.json() == body


def test_taking_a_held_device_is_409_and_changes_nothing(
    v1: httpx.Client, api: httpx.Client, db: Database, fresh_company: Company
) -> None:
    made = new_device(api, fresh_company)
    first = take(v1, _person_headers(fresh_company), made).json()
    other = add_person(db, fresh_company)
    assert_error(take(v1, other.headers(), made, expect=None), 409, "device_already_owned")
    assert_error(take(v1, _person_headers(fresh_company), made, expect=None), 409, "device_already_owned")
    listed = ownerships(v1, fresh_company.headers(), device=made["id"])
    assert listed["count"] == 1 and listed["results"] == [first]


def test_take_needs_the_matching_serial_and_name(v1: httpx.Client, api: httpx.Client, fresh_company: Company) -> None:
    made = new_device(api, fresh_company)
    headers = _person_headers(fresh_company)
    wrong_name = {"serial_number": made["serial_number"], "device_name": made["name"] + "x"}
    wrong_serial = {"serial_number": made["serial_number"] + "x", "device_name": made["name"]}
    case = {"serial_number": made["serial_number"].lower(), "device_name": made["name"]}
    for body in (wrong_name, wrong_serial, case):
        assert_error(v1.post("/device-ownerships/", json=body, headers=headers), 400, "device_not_found")
    assert ownerships(v1, fresh_company.headers(), device=made["id"])["count"] == 0


def test_another_companys_device_cannot_be_taken_or_seen(
    v1: httpx.Client, api: httpx.Client, fresh_company: Company, other_company: Company
) -> None:
    theirs = new_device(api, other_company)
    taken = take(v1, _person_headers(other_company), theirs).json()
    assert_error(take(v1, _person_headers(fresh_company), theirs, expect=None), 400, "device_not_found")
    for path in (f"/device-ownerships/{taken['id']}/", f"/devices/{theirs['id']}/"):
        assert_error(v1.get(path, headers=fresh_company.headers()), 404)
    missing = v1.get("/device-ownerships/999999999/", headers=fresh_company.headers())
    foreign = v1.get(f"/device-ownerships/{taken['id']}/", headers=fresh_company.headers())
    assert missing.json() == foreign.json()
    release = v1.post(f"/device-ownerships/{taken['id']}/release/", headers=fresh_company.headers())
    assert_error(release, 404)
    assert ownerships(v1, fresh_company.headers(), serial_number=theirs["serial_number"])["count"] == 0
    assert ownerships(v1, other_company.headers(), device=theirs["id"])["results"][0]["end_time"] == OPEN_END


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"serial_number": "X"},
        {"device_name": "X"},
        {"serial_number": "", "device_name": "X"},
        {"serial_number": 5, "device_name": "X"},
        {"serial_number": "X", "device_name": "X", "colour": "red"},
        {"serial_number": "X", "device_name": "X", "start_time": "2030-01-01T00:00:00"},
        {"serial_number": "X", "device_name": "X", "start_time": "tomorrow"},
        {"serial_number": "X", "device_name": "X", "manager": 0},
        [],
        "text",
    ],
)
def test_malformed_take_bodies_are_400(v1: httpx.Client, fresh_company: Company, body: Any) -> None:
    response = v1.post("/device-ownerships/", json=body, headers=_person_headers(fresh_company))
    assert_error(response, 400)


def test_unparseable_json_is_400(v1: httpx.Client, fresh_company: Company) -> None:
    headers = {**_person_headers(fresh_company), "Content-Type": "application/json"}
    assert_error(v1.post("/device-ownerships/", content=b"{", headers=headers), 400)


def test_times_are_checked(v1: httpx.Client, api: httpx.Client, fresh_company: Company) -> None:
    made = new_device(api, fresh_company)
    headers = _person_headers(fresh_company)
    past = take(v1, headers, made, expect=None, start_time=_at(-timedelta(hours=1)))
    assert_error(past, 400, "invalid_start_time")
    backwards = take(v1, headers, made, expect=None, start_time=_at(timedelta(days=2)), end_time=_at(timedelta(days=1)))
    assert_error(backwards, 400, "invalid_end_time")
    assert ownerships(v1, fresh_company.headers(), device=made["id"])["count"] == 0


# --------------------------------------------------------------------------- who may act


def test_auth(v1: httpx.Client, api: httpx.Client, fresh_company: Company) -> None:
    made = new_device(api, fresh_company)
    assert_error(v1.get("/device-ownerships/"), 401, "not_authenticated")
    assert_error(v1.get("/devices/", headers={"Authorization": "Bearer cst_nope"}), 401)
    assert_error(take(v1, {}, made, expect=None), 401)
    assert_error(take(v1, fresh_company.headers(fresh_company.read_token), made, expect=None), 403)
    assert v1.get("/device-ownerships/", headers=fresh_company.headers(fresh_company.read_token)).status_code == 200


def test_company_key_takes_for_a_named_manager(v1: httpx.Client, api: httpx.Client, fresh_company: Company) -> None:
    made = new_device(api, fresh_company)
    grace = int(str(fresh_company.people[1]["id"]))
    assert_error(take(v1, fresh_company.headers(), made, expect=None), 400, "manager_required")
    assert_error(take(v1, fresh_company.headers(), made, expect=None, manager=999999999), 400, "invalid_manager")
    body = take(v1, fresh_company.headers(), made, manager=grace).json()
    assert body["manager"] == grace


def test_person_key_cannot_act_for_someone_else(
    v1: httpx.Client, api: httpx.Client, db: Database, fresh_company: Company
) -> None:
    made = new_device(api, fresh_company)
    grace = int(str(fresh_company.people[1]["id"]))
    assert_error(take(v1, _person_headers(fresh_company), made, expect=None, manager=grace), 403)
    mine = take(v1, _person_headers(fresh_company), made, manager=_ada(fresh_company)).json()
    other = add_person(db, fresh_company)
    assert_error(v1.post(f"/device-ownerships/{mine['id']}/release/", headers=other.headers()), 404)
    assert_error(v1.get(f"/device-ownerships/{mine['id']}/", headers=other.headers()), 404)
    assert ownerships(v1, other.headers())["count"] == 0
    assert ownerships(v1, fresh_company.headers(), device=made["id"])["results"][0]["end_time"] == OPEN_END


# --------------------------------------------------------------------------- release


def test_release_ends_the_span_and_keeps_it(
    v1: httpx.Client, api: httpx.Client, db: Database, fresh_company: Company
) -> None:
    made = new_device(api, fresh_company)
    headers = _person_headers(fresh_company)
    taken = take(v1, headers, made).json()
    released = v1.post(f"/device-ownerships/{taken['id']}/release/", headers=headers)
    assert released.status_code == 200, released.text
    body = released.json()
    assert_ownership_shape(body)
    assert body["id"] == taken["id"] and body["start_time"] == taken["start_time"]
    assert body["end_time"] != OPEN_END and TIME.match(body["end_time"])
    assert body["end_time"] >= body["start_time"]
    assert_error(v1.post(f"/device-ownerships/{taken['id']}/release/", headers=headers), 409, "already_released")
    assert v1.get(f"/device-ownerships/{taken['id']}/", headers=headers).json() == body
    # Free again: someone else takes it; the history holds both spans.
    other = add_person(db, fresh_company)
    take(v1, other.headers(), made)
    history = ownerships(v1, fresh_company.headers(), device=made["id"])["results"]
    assert [h["manager"] for h in history] == [_ada(fresh_company), other.id]
    with db.read() as session:
        rows = session.execute(text("SELECT count(*) FROM ownership WHERE device_id = :d"), {"d": made["id"]})
        assert rows.scalar_one() == 2


def test_company_key_releases_anyones_ownership(v1: httpx.Client, api: httpx.Client, fresh_company: Company) -> None:
    made = new_device(api, fresh_company)
    taken = take(v1, _person_headers(fresh_company), made).json()
    released = v1.post(f"/device-ownerships/{taken['id']}/release/", headers=fresh_company.headers())
    assert released.status_code == 200 and released.json()["end_time"] != OPEN_END
    assert_error(
        v1.post(f"/device-ownerships/{taken['id']}/release/", headers=fresh_company.headers(fresh_company.read_token)),
        403,
    )


# --------------------------------------------------------------------------- lists and filters


def test_filters(v1: httpx.Client, api: httpx.Client, db: Database, fresh_company: Company) -> None:
    a, b = new_device(api, fresh_company), new_device(api, fresh_company)
    ada = _person_headers(fresh_company)
    other = add_person(db, fresh_company)
    old = take(v1, ada, a).json()
    v1.post(f"/device-ownerships/{old['id']}/release/", headers=ada)
    now_a = take(v1, other.headers(), a).json()
    now_b = take(v1, ada, b).json()
    admin = fresh_company.headers()

    def ids(**params: Any) -> list[int]:
        return [r["id"] for r in ownerships(v1, admin, **params)["results"]]

    assert ids() == [old["id"], now_a["id"], now_b["id"]]
    assert ids(device=a["id"]) == [old["id"], now_a["id"]]
    assert ids(manager=other.id) == [now_a["id"]]
    assert ids(serial_number=b["serial_number"]) == [now_b["id"]]
    assert ids(serial_number="no-such-serial") == []
    assert ids(current="true") == [now_a["id"], now_b["id"]]
    assert ids(current="false") == [old["id"]]
    assert ids(device=a["id"], current="true") == [now_a["id"]]
    # A window overlapping everything, one entirely before, and one entirely after.
    assert ids(start=_at(-timedelta(days=1)), end=_at(timedelta(days=1))) == [old["id"], now_a["id"], now_b["id"]]
    assert ids(end=_at(-timedelta(days=1))) == []
    assert ids(start=_at(timedelta(days=1))) == [now_a["id"], now_b["id"]]
    # A person key sees only its own.
    assert [r["id"] for r in ownerships(v1, ada)["results"]] == [old["id"], now_b["id"]]
    assert [r["id"] for r in ownerships(v1, ada, device=a["id"])["results"]] == [old["id"]]


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 101},
        {"page": 0},
        {"page": "x"},
        {"device": "abc"},
        {"manager": -1},
        {"current": "maybe"},
        {"start": "yesterday"},
        {"start": "2024-01-01T00:00:00"},
    ],
)
def test_bad_list_parameters_are_400(v1: httpx.Client, fresh_company: Company, params: dict[str, Any]) -> None:
    assert_error(v1.get("/device-ownerships/", params=params, headers=fresh_company.headers()), 400)


def test_pages_follow_next_links(v1: httpx.Client, api: httpx.Client, fresh_company: Company) -> None:
    headers = _person_headers(fresh_company)
    taken = [take(v1, headers, new_device(api, fresh_company)).json()["id"] for _ in range(5)]
    first = ownerships(v1, headers, limit=2)
    assert first["count"] == 5 and first["previous"] is None
    seen, body = [], first
    while True:
        seen += [r["id"] for r in body["results"]]
        if body["next"] is None:
            break
        assert "/v1/device-ownerships/?" in body["next"], body["next"]
        response = httpx.get(body["next"], headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["previous"] is not None
    assert seen == taken
    beyond = ownerships(v1, headers, limit=2, page=4)
    assert beyond["results"] == [] and beyond["count"] == 5


def test_devices_current_and_serial_lookup(
    v1: httpx.Client, api: httpx.Client, db: Database, fresh_company: Company
) -> None:
    a, b, c = (new_device(api, fresh_company) for _ in range(3))
    ada = _person_headers(fresh_company)
    span = take(v1, ada, a).json()
    take(v1, ada, b)
    v1.post(f"/device-ownerships/{span['id']}/release/", headers=ada)

    def devices(headers: dict[str, str], **params: Any) -> list[JSON]:
        response = v1.get("/devices/", params=params, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert list(body) == ["count", "next", "previous", "results"]
        results: list[JSON] = body["results"]
        assert body["count"] == len(results)
        return results

    details = {
        d["id"]: {"id": d["id"], "device_name": d["name"], "serial_number": d["serial_number"]} for d in (a, b, c)
    }
    assert devices(ada, current="true") == [details[b["id"]]]
    assert devices(ada) == [details[a["id"]], details[b["id"]]]  # every device it has owned
    assert devices(ada, serial_number=b["serial_number"]) == [details[b["id"]]]
    assert devices(ada, serial_number=c["serial_number"]) == []  # never owned: not visible
    assert devices(fresh_company.headers(), serial_number=c["serial_number"]) == [details[c["id"]]]
    assert devices(fresh_company.headers(), current="true") == [details[b["id"]]]
    assert v1.get(f"/devices/{a['id']}/", headers=ada).json() == details[a["id"]]
    assert_error(v1.get(f"/devices/{c['id']}/", headers=ada), 404)
    assert v1.get(f"/devices/{c['id']}/", headers=fresh_company.headers()).json() == details[c["id"]]
    other = add_person(db, fresh_company)
    assert devices(other.headers()) == []


def test_every_documented_path_ends_with_a_slash(server: str) -> None:
    document = httpx.get(f"{server}/v1/openapi.json").json()
    paths = list(document["paths"])
    assert {
        "/v1/device-ownerships/",
        "/v1/device-ownerships/{ownership_id}/release/",
        "/v1/devices/",
        "/v1/devices/{device_id}/",
    } <= set(paths)
    assert all(p.endswith("/") for p in paths), paths


# --------------------------------------------------------------------------- reservations


def test_reservations_book_ahead_without_overlap(
    v1: httpx.Client, api: httpx.Client, db: Database, fresh_company: Company
) -> None:
    made = new_device(api, fresh_company)
    ada = _person_headers(fresh_company)
    other = add_person(db, fresh_company)
    start, end = _at(timedelta(days=2)), _at(timedelta(days=3))
    booked = take(v1, ada, made, start_time=start, end_time=end).json()
    assert booked["start_time"] == start and booked["end_time"] == end
    assert ownerships(v1, ada, current="true")["count"] == 0
    # Overlapping bookings are refused, adjacent ones are fine.
    clash = take(v1, other.headers(), made, expect=None, start_time=_at(timedelta(days=2, hours=12)))
    assert_error(clash, 409, "device_reserved")
    after = take(v1, other.headers(), made, start_time=end).json()
    assert after["end_time"] == OPEN_END
    # Taking it now runs until the first booking starts; the booking is not cancelled.
    now = take(v1, other.headers(), made).json()
    assert now["end_time"] == start
    assert len(ownerships(v1, fresh_company.headers(), device=made["id"])["results"]) == 3
    # Cancelling a booking that has not started: it ends where it starts, the record stays.
    cancelled = v1.post(f"/device-ownerships/{booked['id']}/release/", headers=ada).json()
    assert cancelled["end_time"] == cancelled["start_time"] == start


def test_a_reservation_takes_effect_in_the_other_views_by_itself(
    v1: httpx.Client, api: httpx.Client, fresh_company: Company
) -> None:
    made = new_device(api, fresh_company)
    ada = _person_headers(fresh_company)
    booked = take(v1, ada, made, start_time=_at(timedelta(seconds=2)), end_time=_at(timedelta(seconds=4))).json()
    held = api.get(f"/devices/{made['id']}", headers=fresh_company.headers()).json()["data"]
    assert held["user_id"] is None

    def holder_after(deadline: float, want: int | None) -> int | None:
        seen = None
        while time.monotonic() < deadline:
            seen = api.get(f"/devices/{made['id']}", headers=fresh_company.headers()).json()["data"]["user_id"]
            if seen == want:
                break
            time.sleep(0.2)
        return seen

    assert holder_after(time.monotonic() + 15, _ada(fresh_company)) == _ada(fresh_company)
    assert ownerships(v1, ada, current="true")["results"][0]["id"] == booked["id"]
    assert holder_after(time.monotonic() + 15, None) is None
    assert ownerships(v1, ada, current="true")["count"] == 0


# --------------------------------------------------------------------------- one table, three views


def test_take_and_release_show_in_the_company_devices_api(
    v1: httpx.Client, api: httpx.Client, fresh_company: Company
) -> None:
    made = new_device(api, fresh_company)
    ada = _person_headers(fresh_company)
    taken = take(v1, ada, made).json()
    got = api.get(f"/devices/{made['id']}", headers=fresh_company.headers()).json()["data"]
    assert got == {**made, "user_id": _ada(fresh_company)}  # the rest of the stored item is unchanged
    listed = api.get("/devices", params={"user_id": _ada(fresh_company)}, headers=fresh_company.headers()).json()
    assert listed["data"] == [got]
    # The holder's name, email and team are the device's search words now, and not after the release.
    for words in ("ada lovelace", "Engineering", str(fresh_company.people[0]["email"])):
        found = api.get("/devices", params={"search": words}, headers=fresh_company.headers()).json()
        assert [d["id"] for d in found["data"]] == [made["id"]], words
    v1.post(f"/device-ownerships/{taken['id']}/release/", headers=ada)
    released = api.get(f"/devices/{made['id']}", headers=fresh_company.headers()).json()["data"]
    assert released == {**made, "user_id": None}
    assert api.get("/devices", params={"search": "lovelace"}, headers=fresh_company.headers()).json()["data"] == []
    by_serial = api.get("/devices", params={"search": made["serial_number"]}, headers=fresh_company.headers()).json()
    assert by_serial["data"] == [released]


def test_assignments_in_the_company_devices_api_are_ownerships(
    v1: httpx.Client, api: httpx.Client, fresh_company: Company
) -> None:
    made = new_device(api, fresh_company)
    ada, grace = _ada(fresh_company), int(str(fresh_company.people[1]["id"]))
    headers = fresh_company.headers()
    for holder in (ada, grace, None):
        response = api.patch(f"/devices/{made['id']}", json={"user_id": holder}, headers=headers)
        assert response.status_code == 200, response.text
    history = ownerships(v1, headers, device=made["id"])["results"]
    assert [h["manager"] for h in history] == [ada, grace]
    assert all(h["end_time"] != OPEN_END for h in history)
    assert history[0]["end_time"] <= history[1]["start_time"]
    # Held through 002 means held: a take through 001 is refused.
    api.patch(f"/devices/{made['id']}", json={"user_id": grace}, headers=headers)
    assert_error(take(v1, _person_headers(fresh_company), made, expect=None), 409, "device_already_owned")


@pytest.mark.parametrize("text_", ["nul\x00byte", "lone\ud800surrogate"])
def test_text_no_database_can_hold_is_400(
    v1: httpx.Client, api: httpx.Client, fresh_company: Company, text_: str
) -> None:
    """NUL (PostgreSQL cannot store or even compare it) and lone surrogates: 400 on both engines."""
    headers = {**_person_headers(fresh_company), "Content-Type": "application/json"}
    escaped = text_.encode("unicode_escape").decode().replace("\\x00", "\\u0000")
    body = f'{{"serial_number": "{escaped}", "device_name": "x"}}'.encode()
    assert_error(v1.post("/device-ownerships/", content=body, headers=headers), 400)
    for path in ("/device-ownerships/", "/devices/"):
        assert_error(v1.get(path, params={"serial_number": "a\x00b"}, headers=fresh_company.headers()), 400)


def test_the_device_management_api_sees_and_makes_ownerships(
    server: str, v1: httpx.Client, api: httpx.Client, db: Database, fresh_company: Company
) -> None:
    made = new_device(api, fresh_company)
    device_hex = hex_id_of(server, fresh_company, made)
    ada = _person_headers(fresh_company)
    ada_hex = str(fresh_company.people[0]["hex_id"])
    other = add_person(db, fresh_company)
    taken = take(v1, ada, made).json()

    def owner() -> str | None:
        response = httpx.get(f"{server}/devices/{device_hex}", headers=fresh_company.headers())
        assert response.status_code == 200, response.text
        found: str | None = response.json()["ownerId"]
        return found

    assert owner() == ada_hex
    moved = httpx.patch(
        f"{server}/devices/{device_hex}", json={"ownerId": other.hex_id}, headers=fresh_company.headers()
    )
    assert moved.status_code == 200 and moved.json()["ownerId"] == other.hex_id, moved.text
    history = ownerships(v1, fresh_company.headers(), device=made["id"])["results"]
    assert [(h["id"] == taken["id"], h["manager"]) for h in history] == [(True, _ada(fresh_company)), (False, other.id)]
    assert history[0]["end_time"] != OPEN_END and history[1]["end_time"] == OPEN_END
    assert_error(v1.post(f"/device-ownerships/{taken['id']}/release/", headers=ada), 409, "already_released")
    cleared = httpx.patch(f"{server}/devices/{device_hex}", json={"ownerId": None}, headers=fresh_company.headers())
    assert cleared.status_code == 200 and cleared.json()["ownerId"] is None
    assert ownerships(v1, fresh_company.headers(), device=made["id"], current="true")["count"] == 0
    assert len(ownerships(v1, fresh_company.headers(), device=made["id"])["results"]) == 2
    release = v1.post(f"/device-ownerships/{history[1]['id']}/release/", headers=other.headers())
    assert_error(release, 409, "already_released")
