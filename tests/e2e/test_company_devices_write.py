"""GET/POST/PATCH/DELETE of single devices and GET /addresses/{id} in the company devices API (seed 002)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import Company
from tests.e2e.company_devices import (
    BAD_PATH_IDS,
    HUGE_ID,
    JSON,
    assert_device_shape,
    assert_error,
    create,
    device,
    error_problem,
    get_one,
    holder_ids,
    ids,
    no_problems,
    page,
    total,
)

# --------------------------------------------------------------------------- GET /devices/{id}


def test_get_one_device(api: httpx.Client, fresh_company: Company) -> None:
    (made,) = create(api, fresh_company, device("Solo", serial_number="SOLO-1"))
    response = api.get(f"/devices/{made['id']}", headers=fresh_company.headers())
    assert response.status_code == 200, response.text
    body = response.json()
    assert list(body) == ["data"], "one resource answers {data: {...}}"
    assert_device_shape(body["data"])
    assert body["data"] == made


def _by_id(api: httpx.Client, company: Company, method: str, raw: str) -> httpx.Response:
    kwargs: dict[str, Any] = {"json": {"comment": "x"}} if method == "PATCH" else {}
    return api.request(method, f"/devices/{raw}", headers=company.headers(), **kwargs)


def test_bad_path_ids_are_400(api: httpx.Client, fresh_company: Company) -> None:
    (made,) = create(api, fresh_company, device("Bystander"))
    no_problems(
        [
            error_problem(f"{method} /devices/{raw}", _by_id(api, fresh_company, method, raw), 400)
            for method in ("GET", "PATCH", "DELETE")
            for raw in BAD_PATH_IDS
        ]
    )
    assert get_one(api, fresh_company, made["id"]) == made


def test_unknown_ids_are_404(api: httpx.Client, fresh_company: Company) -> None:
    no_problems(
        [
            error_problem(f"{method} /devices/{raw}", _by_id(api, fresh_company, method, raw), 404, "DEVICE_NOT_FOUND")
            for method in ("GET", "PATCH", "DELETE")
            for raw in (HUGE_ID, "9223372036854775807", "9223372036854775808", "987654321")
        ]
    )


# --------------------------------------------------------------------------- POST /devices


def test_batch_create(api: httpx.Client, fresh_company: Company) -> None:
    ada = fresh_company.people[0]
    items = [
        device("Batch laptop", serial_number="BATCH-001", keyboard_layout="GERMAN_QWERTZ", user_id=ada["id"]),
        {"name": "Batch phone", "type": "SMARTPHONE", "category": "PHONE", "comment": "spare"},
        {
            "name": "Batch screen",
            "type": "SCREEN",
            "category": "DISPLAY",
            "characteristics": {"screen_size": "27 inches", "has_webcam": False, "keyboard_layout": "DUTCH_QWERTY"},
        },
    ]
    response = api.post("/devices", json={"devices": items}, headers=fresh_company.headers())
    assert response.status_code == 201, response.text
    body = response.json()
    assert list(body) == ["data"] and list(body["data"]) == ["devices"], body
    made = body["data"]["devices"]
    assert [d["name"] for d in made] == ["Batch laptop", "Batch phone", "Batch screen"]
    assert len({d["id"] for d in made}) == 3
    for created in made:
        assert_device_shape(created)
        assert get_one(api, fresh_company, created["id"]) == created

    laptop, phone, screen = made
    assert laptop["serial_number"] == "BATCH-001"
    assert laptop["characteristics"]["keyboard_layout"] == "GERMAN_QWERTZ"
    assert (phone["type"], phone["category"], phone["comment"]) == ("SMARTPHONE", "PHONE", "spare")
    assert screen["characteristics"]["screen_size"] == "27 inches"
    assert screen["characteristics"]["has_webcam"] is False
    assert screen["characteristics"]["keyboard_layout"] == "DUTCH_QWERTY"
    assert screen["characteristics"]["has_microphone"] is None
    assert holder_ids(api, fresh_company, ada) == {laptop["id"]}
    assert page(api, fresh_company)["meta"]["total"] == 3


BAD_BATCHES: list[tuple[str, Any]] = [
    ("empty list", {"devices": []}),
    ("no devices key", {}),
    ("devices not a list", {"devices": {"name": "x", "type": "LAPTOP", "category": "COMPUTER"}}),
    ("body is a list", [{"name": "x", "type": "LAPTOP", "category": "COMPUTER"}]),
    ("unknown top-level field", {"devices": [device("x")], "dry_run": True}),
    ("missing name", {"devices": [{"type": "LAPTOP", "category": "COMPUTER"}]}),
    ("missing type", {"devices": [{"name": "x", "category": "COMPUTER"}]}),
    ("missing category", {"devices": [{"name": "x", "type": "LAPTOP"}]}),
    ("null name", {"devices": [device("x") | {"name": None}]}),
    ("unknown item field", {"devices": [device("x", colour="red")]}),
    ("name not a string", {"devices": [device("x") | {"name": 123}]}),
    ("type not a string", {"devices": [device("x") | {"type": ["LAPTOP"]}]}),
    ("user_id not an integer", {"devices": [device("x", user_id="abc")]}),
    ("user_id zero", {"devices": [device("x", user_id=0)]}),
    ("item not an object", {"devices": ["laptop"]}),
    ("invalid client_status", {"devices": [device("x", client_status="BROKEN")]}),
    ("lowercase client_status", {"devices": [device("x", client_status="available")]}),
    ("invalid keyboard_layout", {"devices": [device("x", keyboard_layout="AZERTY")]}),
    ("lowercase keyboard_layout", {"devices": [device("x", keyboard_layout="french_azerty")]}),
    (
        "invalid keyboard_layout in characteristics",
        {"devices": [device("x", characteristics={"keyboard_layout": "X"})]},
    ),
    ("unknown characteristic", {"devices": [device("x", characteristics={"weight": "2kg"})]}),
    ("characteristic bool not a bool", {"devices": [device("x", characteristics={"has_webcam": "yes"})]}),
    ("compliance not a list", {"devices": [device("x", characteristics={"compliance": "CE"})]}),
    ("characteristics not an object", {"devices": [device("x", characteristics="fast")]}),
]


def test_bad_batches_are_400_and_create_nothing(api: httpx.Client, fresh_company: Company) -> None:
    no_problems(
        [
            error_problem(label, api.post("/devices", json=body, headers=fresh_company.headers()), 400)
            for label, body in BAD_BATCHES
        ]
    )
    assert total(api, fresh_company) == 0


def test_malformed_json_is_400(api: httpx.Client, fresh_company: Company) -> None:
    headers = {**fresh_company.headers(), "Content-Type": "application/json"}
    bodies = [b'{"devices": [', b"not json", b"", b'{"devices": [{"name": "x", "type": "LAPTOP", "category": "X",}]}']
    no_problems([error_problem(repr(raw), api.post("/devices", content=raw, headers=headers), 400) for raw in bodies])
    assert total(api, fresh_company) == 0


def test_one_bad_item_fails_the_whole_batch(api: httpx.Client, fresh_company: Company) -> None:
    create(api, fresh_company, device("Existing"))
    items = [device("Good one"), device("Good two"), {"name": "Bad", "type": "LAPTOP"}]
    assert_error(api.post("/devices", json={"devices": items}, headers=fresh_company.headers()), 400)
    assert total(api, fresh_company) == 1
    assert [d["name"] for d in page(api, fresh_company)["data"]] == ["Existing"]


def test_user_id_of_another_company_is_invalid_user(
    api: httpx.Client, fresh_company: Company, other_company: Company
) -> None:
    stranger = other_company.people[0]
    items = [device("Fine"), device("Stolen", user_id=stranger["id"])]
    response = api.post("/devices", json={"devices": items}, headers=fresh_company.headers())
    assert "INVALID_USER" in assert_error(response, 400)
    assert total(api, fresh_company) == 0
    assert total(api, other_company) == 0

    unknown = api.post(
        "/devices", json={"devices": [device("Ghost", user_id=987654321)]}, headers=fresh_company.headers()
    )
    assert (unknown.status_code, unknown.json()) == (response.status_code, response.json()), (
        "another company's person is refused exactly like a person who does not exist"
    )
    assert total(api, fresh_company) == 0


def test_duplicate_serial_in_a_company_is_409(api: httpx.Client, fresh_company: Company) -> None:
    create(api, fresh_company, device("First", serial_number="DUP-123"))
    again = api.post(
        "/devices",
        json={"devices": [device("Other"), device("Second", serial_number="DUP-123")]},
        headers=fresh_company.headers(),
    )
    assert_error(again, 409)
    assert total(api, fresh_company) == 1

    within = api.post(
        "/devices",
        json={"devices": [device("Twin A", serial_number="TWIN-9"), device("Twin B", serial_number="TWIN-9")]},
        headers=fresh_company.headers(),
    )
    assert_error(within, 409)
    assert total(api, fresh_company) == 1


def test_same_serial_in_another_company_is_fine(
    api: httpx.Client, fresh_company: Company, other_company: Company
) -> None:
    create(api, fresh_company, device("Mine", serial_number="SHARED-SN-1"))
    (theirs,) = create(api, other_company, device("Theirs", serial_number="SHARED-SN-1"))
    assert theirs["serial_number"] == "SHARED-SN-1"
    assert total(api, fresh_company) == 1 and total(api, other_company) == 1


def test_created_device_keys_and_defaults(api: httpx.Client, fresh_company: Company) -> None:
    (made,) = create(api, fresh_company, device("Defaults"))
    assert made["mdm"] is None
    assert made["parcels"] == []
    assert made["order"]["device_names"] == ["Defaults"] and made["order"]["num_devices"] == 1


# --------------------------------------------------------------------------- PATCH /devices/{id}


def _patch(api: httpx.Client, company: Company, device_id: int, body: Any) -> httpx.Response:
    return api.patch(f"/devices/{device_id}", json=body, headers=company.headers())


def _patched(api: httpx.Client, company: Company, device_id: int, body: Any) -> JSON:
    response = _patch(api, company, device_id, body)
    assert response.status_code == 200, response.text
    envelope = response.json()
    assert list(envelope) == ["data"], envelope
    assert_device_shape(envelope["data"])
    assert envelope["data"]["id"] == device_id
    assert get_one(api, company, device_id) == envelope["data"], "PATCH answers the stored device"
    result: JSON = envelope["data"]
    return result


def test_patch_empty_body_is_400(api: httpx.Client, fresh_company: Company) -> None:
    (made,) = create(api, fresh_company, device("Untouched"))
    message = assert_error(_patch(api, fresh_company, made["id"], {}), 400)
    assert "EMPTY_PATCH_BODY" in message
    assert get_one(api, fresh_company, made["id"]) == made


def test_patch_fields_and_null_clears(api: httpx.Client, fresh_company: Company) -> None:
    (made,) = create(api, fresh_company, device("Before", serial_number="PATCH-1", comment="old", rent="10.00"))
    after = _patched(api, fresh_company, made["id"], {"name": "After", "comment": "new", "client_status": "IN_SERVICE"})
    assert (after["name"], after["comment"], after["client_status"]) == ("After", "new", "IN_SERVICE")
    assert after["serial_number"] == "PATCH-1" and after["rent"] == "10.00", "fields not sent are kept"

    cleared = _patched(api, fresh_company, made["id"], {"comment": None})
    assert cleared["comment"] is None
    assert cleared["name"] == "After" and cleared["serial_number"] == "PATCH-1"
    cleared = _patched(api, fresh_company, made["id"], {"serial_number": None, "rent": None})
    assert cleared["serial_number"] is None and cleared["rent"] is None


def test_patch_user_id_assigns_and_null_unassigns(api: httpx.Client, fresh_company: Company) -> None:
    ada, grace = fresh_company.people
    (made,) = create(api, fresh_company, device("Assignable"))
    assert holder_ids(api, fresh_company, ada) == set()

    _patched(api, fresh_company, made["id"], {"user_id": ada["id"]})
    assert holder_ids(api, fresh_company, ada) == {made["id"]}

    _patched(api, fresh_company, made["id"], {"user_id": grace["id"]})
    assert holder_ids(api, fresh_company, ada) == set()
    assert holder_ids(api, fresh_company, grace) == {made["id"]}

    _patched(api, fresh_company, made["id"], {"user_id": None})
    assert holder_ids(api, fresh_company, ada) == set()
    assert holder_ids(api, fresh_company, grace) == set()
    assert total(api, fresh_company) == 1


def test_patch_characteristics_is_partial(api: httpx.Client, fresh_company: Company) -> None:
    (made,) = create(
        api,
        fresh_company,
        device(
            "Specs",
            characteristics={"ram": "16GB", "storage": "512GB", "keyboard_layout": "SWISS_QWERTZ", "has_webcam": True},
        ),
    )
    after = _patched(api, fresh_company, made["id"], {"characteristics": {"ram": "32GB"}})
    assert after["characteristics"] == {
        **made["characteristics"],
        "ram": "32GB",
    }, "characteristics not sent keep their value"
    assert after["characteristics"]["storage"] == "512GB"
    assert after["characteristics"]["keyboard_layout"] == "SWISS_QWERTZ"
    assert after["characteristics"]["has_webcam"] is True

    after = _patched(api, fresh_company, made["id"], {"characteristics": {"keyboard_layout": None}})
    assert after["characteristics"]["keyboard_layout"] is None
    assert after["characteristics"]["ram"] == "32GB"

    after = _patched(api, fresh_company, made["id"], {"characteristics": {"keyboard_layout": "ITALIAN_QWERTY"}})
    assert after["characteristics"]["keyboard_layout"] == "ITALIAN_QWERTY"
    assert after["name"] == "Specs"


BAD_PATCHES: list[tuple[str, Any]] = [
    ("unknown field", {"colour": "red"}),
    ("unknown field beside a good one", {"comment": "ok", "colour": "red"}),
    ("id is not writable", {"id": 5}),
    ("comment not a string", {"comment": 5}),
    ("name not a string", {"name": ["x"]}),
    ("user_id not an integer", {"user_id": "abc"}),
    ("invalid client_status", {"client_status": "BROKEN"}),
    ("invalid keyboard_layout", {"characteristics": {"keyboard_layout": "QWERTY"}}),
    ("unknown characteristic", {"characteristics": {"weight": "2kg"}}),
    ("bool characteristic not a bool", {"characteristics": {"has_webcam": "yes"}}),
    ("body is a list", [{"comment": "x"}]),
]


def test_bad_patches_are_400_and_change_nothing(api: httpx.Client, fresh_company: Company) -> None:
    (made,) = create(api, fresh_company, device("Stable", comment="keep", characteristics={"ram": "8GB"}))
    no_problems(
        [error_problem(label, _patch(api, fresh_company, made["id"], body), 400) for label, body in BAD_PATCHES]
    )
    assert get_one(api, fresh_company, made["id"]) == made


def test_patch_malformed_json_is_400(api: httpx.Client, fresh_company: Company) -> None:
    (made,) = create(api, fresh_company, device("Stable"))
    headers = {**fresh_company.headers(), "Content-Type": "application/json"}
    assert_error(api.patch(f"/devices/{made['id']}", content=b'{"comment": ', headers=headers), 400)
    assert get_one(api, fresh_company, made["id"]) == made


def test_patch_user_id_of_another_company_is_invalid_user(
    api: httpx.Client, fresh_company: Company, other_company: Company
) -> None:
    ada = fresh_company.people[0]
    (made,) = create(api, fresh_company, device("Held", user_id=ada["id"]))
    stranger = _patch(api, fresh_company, made["id"], {"user_id": other_company.people[0]["id"]})
    assert "INVALID_USER" in assert_error(stranger, 400)
    ghost = _patch(api, fresh_company, made["id"], {"user_id": 987654321})
    assert (ghost.status_code, ghost.json()) == (stranger.status_code, stranger.json())
    assert holder_ids(api, fresh_company, ada) == {made["id"]}, "the holder is unchanged"


def test_patch_serial_to_a_taken_one_is_409(api: httpx.Client, fresh_company: Company) -> None:
    _first, second = create(
        api, fresh_company, device("One", serial_number="TAKEN-1"), device("Two", serial_number="FREE-2")
    )
    assert_error(_patch(api, fresh_company, second["id"], {"serial_number": "TAKEN-1"}), 409)
    assert get_one(api, fresh_company, second["id"]) == second


# --------------------------------------------------------------------------- DELETE /devices/{id}


def test_delete_device(api: httpx.Client, fresh_company: Company) -> None:
    keep, gone = create(api, fresh_company, device("Keep"), device("Gone", serial_number="GONE-42"))
    assert total(api, fresh_company) == 2

    response = api.delete(f"/devices/{gone['id']}", headers=fresh_company.headers())
    assert response.status_code == 200, response.text
    body = response.json()
    assert list(body) == ["data"], body
    assert_device_shape(body["data"])
    assert body["data"]["id"] == gone["id"] and body["data"]["name"] == "Gone"

    assert_error(api.get(f"/devices/{gone['id']}", headers=fresh_company.headers()), 404, "DEVICE_NOT_FOUND")
    listed = page(api, fresh_company)
    assert ids(listed) == [keep["id"]] and listed["meta"]["total"] == 1
    assert page(api, fresh_company, search="GONE-42")["meta"]["total"] == 0

    again = api.delete(f"/devices/{gone['id']}", headers=fresh_company.headers())
    assert_error(again, 404, "DEVICE_NOT_FOUND")
    assert_error(_patch(api, fresh_company, gone["id"], {"comment": "x"}), 404, "DEVICE_NOT_FOUND")
    assert get_one(api, fresh_company, keep["id"]) == keep


def test_deleted_device_leaves_holder_and_status_filters(api: httpx.Client, fresh_company: Company) -> None:
    ada = fresh_company.people[0]
    (held,) = create(api, fresh_company, device("Held then deleted", user_id=ada["id"], client_status="DELIVERED"))
    assert api.delete(f"/devices/{held['id']}", headers=fresh_company.headers()).status_code == 200
    assert holder_ids(api, fresh_company, ada) == set()
    assert page(api, fresh_company, client_status="DELIVERED")["meta"]["total"] == 0
    assert page(api, fresh_company, search="lovelace")["meta"]["total"] == 0


# --------------------------------------------------------------------------- GET /addresses/{id}


def test_unknown_address_is_404(api: httpx.Client, fresh_company: Company) -> None:
    no_problems(
        [
            error_problem(raw, api.get(f"/addresses/{raw}", headers=fresh_company.headers()), 404, "ADDRESS_NOT_FOUND")
            for raw in ("987654321", "1", HUGE_ID)
        ]
    )


def test_bad_address_id_is_400(api: httpx.Client, fresh_company: Company) -> None:
    no_problems(
        [error_problem(raw, api.get(f"/addresses/{raw}", headers=fresh_company.headers()), 400) for raw in BAD_PATH_IDS]
    )
