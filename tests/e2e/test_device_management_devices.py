"""The device record, `GET /devices/{deviceId}`, `GET /devices` and `POST /devices` of the device
management API (seed 000), black-box against a running server."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from custody.db.engine import Database
from tests.conftest import Company
from tests.e2e.device_management import (
    DATE_TIME,
    DEPRECATION,
    EDR_PROVIDERS,
    LOCK_WIPE_STATUSES,
    PLATFORMS,
    SUNSET,
    TYPES,
    assert_device_shape,
    assert_error,
    company_item,
    create_device,
    get_device,
    hex_of,
    ids,
    list_devices,
    set_device_columns,
    spans,
    unknown_hex,
)

AT = datetime(2024, 2, 29, 9, 30, tzinfo=UTC)


# --------------------------------------------------------------------------- the record


def test_a_fully_described_device_shows_every_field(
    management: httpx.Client, db: Database, fresh_company: Company
) -> None:
    ada = fresh_company.people[0]
    made = create_device(
        management,
        fresh_company,
        name="Ada's MacBook",
        serialNumber="C02FULL0001",
        platform="MACOS",
        type="LAPTOP",
        brand="Apple",
        modelName="MacBook Pro 14",
        year=2024,
        ownerId=hex_of(ada),
        tags=["engineering", "remote"],
    )
    set_device_columns(
        db,
        fresh_company,
        made["id"],
        manufacturer="Apple Inc.",
        model_identifier="Mac15,6",
        edr_provider="SENTINELONE",
        mdm={
            "status": "ENROLLED",
            "enrollment_date": AT,
            "unenrollment_date": datetime(2025, 1, 31, 23, 59, 59, tzinfo=UTC),
            "os_name": "macOS",
            "os_version": "14.4.1",
            "build_version": "23E224",
        },
    )
    device = get_device(management, fresh_company, made["id"])
    assert device == {
        "id": made["id"],
        "tags": ["engineering", "remote"],
        "isEnrolled": True,
        "createdAt": made["createdAt"],
        "updatedAt": made["updatedAt"],
        "ownerId": hex_of(ada),
        "name": "Ada's MacBook",
        "serialNumber": "C02FULL0001",
        "computerName": "Ada's MacBook",
        "type": "LAPTOP",
        "platform": "MACOS",
        "brand": "Apple",
        "manufacturer": "Apple Inc.",
        "modelName": "MacBook Pro 14",
        "modelIdentifier": "Mac15,6",
        "year": 2024,
        "osVersion": "14.4.1",
        "osName": "macOS",
        "buildVersion": "23E224",
        "enrolledAt": "2024-02-29T09:30:00Z",
        "disenrolledAt": "2025-01-31T23:59:59Z",
        "lockWipeStatus": None,
        "edrProvider": "SENTINELONE",
    }


def test_a_bare_device_has_every_key_with_nulls(management: httpx.Client, fresh_company: Company) -> None:
    response = management.post("/devices", json={"type": "SMARTPHONE"}, headers=fresh_company.headers())
    assert response.status_code == 201, response.text
    device = response.json()
    assert_device_shape(device)
    assert device["tags"] == [] and device["isEnrolled"] is False
    assert device["platform"] == "UNKNOWN", "an unknown platform is the seed's UNKNOWN, never null"
    for key in ("ownerId", "name", "serialNumber", "computerName", "year", "enrolledAt", "disenrolledAt"):
        assert device[key] is None, key
    assert device["lockWipeStatus"] is None, "null in the normal state"
    assert device["edrProvider"] is None
    assert device["createdAt"] == device["updatedAt"]


def test_every_enum_value_is_shown_as_the_seed_spells_it(
    management: httpx.Client, api: httpx.Client, db: Database, fresh_company: Company
) -> None:
    """Types, platforms, lock / wipe states and EDR providers; the lock / wipe state is the one the
    company devices API's `mdm` shows too (`is_locked`, DEVICE_WIPE_PENDING)."""
    for kind in TYPES:
        for platform in PLATFORMS:
            device = create_device(management, fresh_company, type=kind, platform=platform)
            assert (device["type"], device["platform"]) == (kind, platform)
    device = create_device(management, fresh_company, type="TABLET", platform="IPADOS")
    set_device_columns(db, fresh_company, device["id"], mdm={"status": "ENROLLED", "enrollment_date": AT})
    for status in LOCK_WIPE_STATUSES:
        set_device_columns(db, fresh_company, device["id"], lock_wipe_status=status)
        assert get_device(management, fresh_company, device["id"])["lockWipeStatus"] == status
        mdm = company_item(api, fresh_company, device["serialNumber"])["mdm"]
        assert mdm["is_locked"] is (status == "LOCKED"), (status, mdm)
        assert (mdm["status"] == "DEVICE_WIPE_PENDING") is (status == "WIPING"), (status, mdm)
    for provider in EDR_PROVIDERS:
        set_device_columns(db, fresh_company, device["id"], edr_provider=provider)
        assert get_device(management, fresh_company, device["id"])["edrProvider"] == provider


def test_is_enrolled_follows_the_mdm_enrollment(management: httpx.Client, db: Database, fresh_company: Company) -> None:
    expected = {
        "ENROLLED": True,
        "DEVICE_WIPE_PENDING": True,
        "UNENROLLED": False,
        "ENROLLMENT_IN_PROGRESS": False,
        "SUBSCRIBED": False,
    }
    for status, enrolled in expected.items():
        device = create_device(management, fresh_company)
        set_device_columns(db, fresh_company, device["id"], mdm={"status": status, "enrollment_date": AT})
        found = get_device(management, fresh_company, device["id"])
        assert found["isEnrolled"] is enrolled, status
        assert found["enrolledAt"] == "2024-02-29T09:30:00Z"


def test_every_emitted_timestamp_matches_the_seed_pattern(
    management: httpx.Client, db: Database, fresh_company: Company
) -> None:
    """Fractions of seconds and far dates included: second precision, UTC `Z`."""
    device = create_device(management, fresh_company)
    set_device_columns(
        db,
        fresh_company,
        device["id"],
        mdm={
            "status": "UNENROLLED",
            "enrollment_date": datetime(2000, 2, 29, 23, 59, 59, 999999, tzinfo=UTC),
            "unenrollment_date": datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
        },
    )
    for found in (
        get_device(management, fresh_company, device["id"]),
        list_devices(management, fresh_company)["data"][0],
    ):
        stamps = [found[k] for k in ("createdAt", "updatedAt", "enrolledAt", "disenrolledAt")]
        assert all(DATE_TIME.match(s) for s in stamps), stamps
        assert found["enrolledAt"] == "2000-02-29T23:59:59Z"
        assert found["disenrolledAt"] == "9999-12-31T23:59:59Z"


# --------------------------------------------------------------------------- GET /devices/{deviceId}


def test_unknown_foreign_and_other_kinds_of_device_are_404(
    management: httpx.Client, api: httpx.Client, fresh_company: Company, other_company: Company
) -> None:
    theirs = create_device(management, other_company)
    screen = api.post(
        "/devices",
        json={"devices": [{"name": "Screen", "type": "SCREEN", "category": "DISPLAY", "serial_number": "SCR-1"}]},
        headers=fresh_company.headers(),
    )
    assert screen.status_code == 201, screen.text
    retired = create_device(management, fresh_company)
    company_id = company_item(api, fresh_company, retired["serialNumber"])["id"]
    assert api.delete(f"/devices/{company_id}", headers=fresh_company.headers()).status_code == 200
    for device_id in (unknown_hex(), theirs["id"], retired["id"]):
        assert_error(management.get(f"/devices/{device_id}", headers=fresh_company.headers()), 404, "not found")
    # The screen exists (in the company devices API) but is no device of this API.
    screens = [d for d in list_devices(management, fresh_company)["data"] if d["serialNumber"] == "SCR-1"]
    assert screens == []
    assert get_device(management, other_company, theirs["id"]) == theirs


def test_malformed_device_ids_are_400(management: httpx.Client, fresh_company: Company) -> None:
    for raw in ("a" * 23, "a" * 25, "A" * 24, "g" * 24, "123", "%20" + "a" * 24, "a" * 24 + "%0A"):
        assert_error(management.get(f"/devices/{raw}", headers=fresh_company.headers()), 400)


# --------------------------------------------------------------------------- GET /devices


def test_pagination_arithmetic(management: httpx.Client, fresh_company: Company) -> None:
    made = [create_device(management, fresh_company, name=f"Paged {n}")["id"] for n in range(7)]
    pages = [list_devices(management, fresh_company, page=n, perPage=3) for n in (1, 2, 3, 4)]
    assert [ids(p) for p in pages] == [made[0:3], made[3:6], made[6:], []], "creation order, no overlap"
    for number, page in enumerate(pages, start=1):
        assert page["pagination"] == {"totalElements": 7, "totalPages": 3, "page": number, "perPage": 3}
    assert list_devices(management, fresh_company, perPage=7)["pagination"]["totalPages"] == 1
    assert list_devices(management, fresh_company, perPage=100)["pagination"] == {
        "totalElements": 7,
        "totalPages": 1,
        "page": 1,
        "perPage": 100,
    }
    default = list_devices(management, fresh_company)
    assert default["pagination"] == {"totalElements": 7, "totalPages": 1, "page": 1, "perPage": 20}
    assert ids(default) == made
    far = list_devices(management, fresh_company, page=2**31 - 1, perPage=100)
    assert far["data"] == [] and far["pagination"]["totalElements"] == 7


def test_an_empty_company_has_zero_pages(management: httpx.Client, fresh_company: Company) -> None:
    page = list_devices(management, fresh_company)
    assert page == {"data": [], "pagination": {"totalElements": 0, "totalPages": 0, "page": 1, "perPage": 20}}


def test_bad_paging_parameters_are_400(management: httpx.Client, fresh_company: Company) -> None:
    for params in (
        {"perPage": 101},
        {"perPage": 0},
        {"perPage": -1},
        {"perPage": "ten"},
        {"page": 0},
        {"page": -3},
        {"page": "1.5"},
        {"page": 2**31},
        {"page": 2**64},
    ):
        assert_error(management.get("/devices", params=params, headers=fresh_company.headers()), 400)


def test_filters(management: httpx.Client, fresh_company: Company) -> None:
    ada, grace = (hex_of(p) for p in fresh_company.people)
    mac = create_device(management, fresh_company, name="Studio Mac", platform="MACOS", ownerId=ada, tags=["design"])
    phone = create_device(
        management, fresh_company, type="SMARTPHONE", platform="IOS", name="Ada phone", ownerId=ada, tags=["x"]
    )
    tablet = create_device(management, fresh_company, type="TABLET", name="Kiosk", tags=["design", "lobby"])
    unknown = create_device(management, fresh_company, name="Mystery box", ownerId=grace)

    def found(**params: Any) -> list[str]:
        return ids(list_devices(management, fresh_company, **params))

    assert found(ownerId=ada) == [mac["id"], phone["id"]]
    assert found(ownerId=grace) == [unknown["id"]]
    assert found(ownerId=unknown_hex()) == []
    assert found(platform="MACOS") == [mac["id"]]
    assert found(platform="UNKNOWN") == [tablet["id"], unknown["id"]], "no platform shows, and filters, as UNKNOWN"
    assert found(type="SMARTPHONE") == [phone["id"]]
    assert found(type="LAPTOP") == [mac["id"], unknown["id"]]
    assert found(tag="design") == [mac["id"], tablet["id"]]
    assert found(tag="lobby") == [tablet["id"]]
    assert found(tag="desig") == [], "a tag matches whole"
    assert found(search="studio") == [mac["id"]]
    assert found(search="MYSTERY") == [unknown["id"]]
    assert found(search=mac["serialNumber"][-6:]) == [mac["id"]]
    assert found(search="grace") == [unknown["id"]], "search matches the holder"
    assert found(search="ada phone") == [phone["id"]], "every word must match"
    assert found(search="100%") == []
    assert found(ownerId=ada, type="LAPTOP", tag="design", platform="MACOS", search="mac") == [mac["id"]]
    page = list_devices(management, fresh_company, tag="design", perPage=1)
    assert page["pagination"] == {"totalElements": 2, "totalPages": 2, "page": 1, "perPage": 1}


def test_bad_filters_are_400(management: httpx.Client, fresh_company: Company) -> None:
    for params in (
        {"ownerId": "a" * 23},
        {"ownerId": "A" * 24},
        {"platform": "macos"},
        {"platform": "CHROMEOS"},
        {"type": "SCREEN"},
        {"type": "laptop"},
        {"tag": ""},
        {"search": "x" * 201},
        {"search": "nul\x00byte"},
    ):
        assert_error(management.get("/devices", params=params, headers=fresh_company.headers()), 400)


def test_the_list_leaves_out_devices_of_other_kinds(
    management: httpx.Client, api: httpx.Client, fresh_company: Company
) -> None:
    laptop = create_device(management, fresh_company)
    others = [
        {"name": n, "type": t, "category": "OTHER"}
        for n, t in (("Screen", "SCREEN"), ("Chair", "CHAIR"), ("L", "laptop"))
    ]
    assert api.post("/devices", json={"devices": others}, headers=fresh_company.headers()).status_code == 201
    page = list_devices(management, fresh_company)
    assert ids(page) == [laptop["id"]]
    assert page["pagination"]["totalElements"] == 1


def test_totals_follow_type_changes_and_deletions_made_through_the_other_api(
    management: httpx.Client, api: httpx.Client, fresh_company: Company
) -> None:
    """`totalElements` of the unfiltered and type-filtered lists comes from kept counts: they must
    follow a type changed, a device deleted and a device added through the company devices API."""
    made = [create_device(management, fresh_company, type=kind) for kind in ("LAPTOP", "LAPTOP", "TABLET")]
    items = [company_item(api, fresh_company, m["serialNumber"]) for m in made]

    def totals() -> tuple[int, int, int]:
        return (
            list_devices(management, fresh_company)["pagination"]["totalElements"],
            list_devices(management, fresh_company, type="LAPTOP")["pagination"]["totalElements"],
            list_devices(management, fresh_company, type="TABLET")["pagination"]["totalElements"],
        )

    assert totals() == (3, 2, 1)
    headers = fresh_company.headers()
    assert api.patch(f"/devices/{items[0]['id']}", json={"type": "TABLET"}, headers=headers).status_code == 200
    assert totals() == (3, 1, 2)
    assert api.patch(f"/devices/{items[1]['id']}", json={"type": "SCREEN"}, headers=headers).status_code == 200
    assert totals() == (2, 0, 2)
    assert api.delete(f"/devices/{items[2]['id']}", headers=headers).status_code == 200
    assert totals() == (1, 0, 1)
    batch = {"devices": [{"name": "New", "type": "SMARTPHONE", "category": "PHONE"}]}
    assert api.post("/devices", json=batch, headers=headers).status_code == 201
    assert totals() == (2, 0, 1)
    assert len(list_devices(management, fresh_company)["data"]) == 2


# --------------------------------------------------------------------------- POST /devices


def test_create_a_device(management: httpx.Client, api: httpx.Client, db: Database, fresh_company: Company) -> None:
    ada = fresh_company.people[0]
    body = {
        "serialNumber": "NEW-0001",
        "name": "New phone",
        "platform": "ANDROID",
        "type": "SMARTPHONE",
        "brand": "Google",
        "modelName": "Pixel 8",
        "year": 2023,
        "ownerId": hex_of(ada),
        "tags": ["field", "field", "sales"],
    }
    response = management.post("/devices", json=body, headers=fresh_company.headers())
    assert response.status_code == 201, response.text
    device = response.json()
    assert_device_shape(device)
    assert {k: device[k] for k in body} == {**body, "tags": ["field", "sales"]}
    assert device["computerName"] == "New phone" and device["isEnrolled"] is False
    assert get_device(management, fresh_company, device["id"]) == device
    # The same device in the company devices API: its type, its holder, an intake order, searchable.
    item = company_item(api, fresh_company, "new phone")
    assert (item["name"], item["serial_number"], item["type"], item["user_id"]) == (
        "New phone",
        "NEW-0001",
        "SMARTPHONE",
        ada["id"],
    )
    assert item["order"]["client_status"] and item["order"]["device_names"] == ["New phone"], item["order"]
    assert item["order"]["num_devices"] == 1
    assert spans(db, fresh_company, device["id"]) == [(ada["id"], True)]


def test_create_refuses_bad_input_and_writes_nothing(management: httpx.Client, fresh_company: Company) -> None:
    create_device(management, fresh_company, serialNumber="TAKEN-1")
    bodies: list[Any] = [
        {},
        {"name": "no type"},
        {"type": None},
        {"type": "SCREEN"},
        {"type": "laptop"},
        {"type": "LAPTOP", "platform": "macOS"},
        {"type": "LAPTOP", "id": "a" * 24},
        {"type": "LAPTOP", "isEnrolled": True},
        {"type": "LAPTOP", "lockWipeStatus": "LOCKED"},
        {"type": "LAPTOP", "computerName": "x"},
        {"type": "LAPTOP", "year": "2024"},
        {"type": "LAPTOP", "year": 2**31},
        {"type": "LAPTOP", "year": 1.5},
        {"type": "LAPTOP", "name": ""},
        {"type": "LAPTOP", "name": "x" * 201},
        {"type": "LAPTOP", "serialNumber": ""},
        {"type": "LAPTOP", "serialNumber": "tab\there"},
        {"type": "LAPTOP", "tags": "one"},
        {"type": "LAPTOP", "tags": [""]},
        {"type": "LAPTOP", "tags": [1]},
        {"type": "LAPTOP", "ownerId": "A" * 24},
        {"type": "LAPTOP", "ownerId": "a" * 25},
        {"type": "LAPTOP", "name": "nul\x00"},
        ["LAPTOP"],
        "LAPTOP",
    ]
    for body in bodies:
        assert_error(management.post("/devices", json=body, headers=fresh_company.headers()), 400)
    for raw in (b"{", b"", b'{"type": "LAPTOP",}', b"null"):
        response = management.post(
            "/devices", content=raw, headers={**fresh_company.headers(), "Content-Type": "application/json"}
        )
        assert_error(response, 400)
    assert_error(
        management.post("/devices", json={"type": "LAPTOP", "ownerId": unknown_hex()}, headers=fresh_company.headers()),
        404,
        "not found",
    )
    assert_error(
        management.post(
            "/devices", json={"type": "LAPTOP", "serialNumber": "TAKEN-1"}, headers=fresh_company.headers()
        ),
        409,
    )
    assert list_devices(management, fresh_company)["pagination"]["totalElements"] == 1


def test_another_companys_employee_cannot_be_given_a_device(
    management: httpx.Client, fresh_company: Company, other_company: Company
) -> None:
    theirs = hex_of(other_company.people[0])
    response = management.post("/devices", json={"type": "LAPTOP", "ownerId": theirs}, headers=fresh_company.headers())
    assert_error(response, 404)
    assert list_devices(management, fresh_company)["pagination"]["totalElements"] == 0


# --------------------------------------------------------------------------- deprecation


def test_responses_carrying_a_device_announce_the_deprecation(management: httpx.Client, fresh_company: Company) -> None:
    ada = hex_of(fresh_company.people[0])
    created = management.post("/devices", json={"type": "LAPTOP"}, headers=fresh_company.headers())
    device_id = created.json()["id"]
    responses = {
        "POST /devices": created,
        "GET /devices/{id}": management.get(f"/devices/{device_id}", headers=fresh_company.headers()),
        "GET /devices": management.get("/devices", headers=fresh_company.headers()),
        "PATCH /devices/{id}": management.patch(
            f"/devices/{device_id}", json={"ownerId": ada}, headers=fresh_company.headers()
        ),
    }
    for label, response in responses.items():
        assert response.status_code in (200, 201), (label, response.text)
        assert response.headers["Sunset"] == SUNSET, label
        deprecation = response.headers["Deprecation"]
        assert DEPRECATION.match(deprecation), (label, deprecation)
        since = datetime.fromtimestamp(int(deprecation[1:]), UTC)
        assert since <= datetime(2026, 4, 13, tzinfo=UTC), "deprecated before it is removed"
    employees = management.get("/employees", headers=fresh_company.headers())
    assert employees.status_code == 200 and "Deprecation" not in employees.headers
    missing = management.get(f"/devices/{unknown_hex()}", headers=fresh_company.headers())
    assert missing.status_code == 404 and "Sunset" not in missing.headers


def test_the_document_marks_computer_name_deprecated(management: httpx.Client) -> None:
    document = management.get("/openapi.json").json()
    device = document["components"]["schemas"]["Device"]["properties"]
    assert device["computerName"].get("deprecated") is True
    assert "2026-04-13" in device["computerName"]["description"]
    assert not any(p.get("deprecated") for k, p in device.items() if k != "computerName")
    for method, path in (("get", "/devices"), ("get", "/devices/{deviceId}"), ("patch", "/devices/{deviceId}")):
        headers = document["paths"][path][method]["responses"]["200"]["headers"]
        assert {"Deprecation", "Sunset"} <= set(headers), (method, path)
