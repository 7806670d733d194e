"""GET /platform/v1/devices (seed 002): paging, search, filters, item shape; and the OpenAPI document."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import Company
from tests.e2e.company_devices import (
    DEVICE_CLIENT_STATUSES,
    JSON,
    KEYBOARD_LAYOUTS,
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
    search_ids,
)

# --------------------------------------------------------------------------- paging


def test_empty_company_lists_nothing(api: httpx.Client, fresh_company: Company) -> None:
    body = page(api, fresh_company)
    assert body["data"] == []
    assert body["meta"] == {"total": 0, "limit": 50, "offset": 0}


def test_paging_meta_and_stable_order(api: httpx.Client, fresh_company: Company) -> None:
    made = create(api, fresh_company, *(device(f"Pager {i}") for i in range(7)))
    made_ids = {d["id"] for d in made}

    everything = page(api, fresh_company)
    assert everything["meta"] == {"total": 7, "limit": 50, "offset": 0}
    assert set(ids(everything)) == made_ids and len(ids(everything)) == 7

    pages = [page(api, fresh_company, limit=3, offset=offset) for offset in (0, 3, 6)]
    assert [p["meta"] for p in pages] == [
        {"total": 7, "limit": 3, "offset": 0},
        {"total": 7, "limit": 3, "offset": 3},
        {"total": 7, "limit": 3, "offset": 6},
    ]
    assert [len(p["data"]) for p in pages] == [3, 3, 1]
    paged = [i for p in pages for i in ids(p)]
    assert paged == ids(everything), "pages must follow the full list's order, with no overlap or gap"

    # The order is stable: the same query answers the same order again.
    assert ids(page(api, fresh_company)) == ids(everything)
    assert ids(page(api, fresh_company, limit=3, offset=3)) == ids(pages[1])

    # An uneven window still lines up with the full list.
    window = page(api, fresh_company, limit=4, offset=2)
    assert window["meta"] == {"total": 7, "limit": 4, "offset": 2}
    assert ids(window) == ids(everything)[2:6]

    beyond = page(api, fresh_company, limit=3, offset=7)
    assert beyond["data"] == [] and beyond["meta"] == {"total": 7, "limit": 3, "offset": 7}
    far = page(api, fresh_company, offset=1000)
    assert far["data"] == [] and far["meta"] == {"total": 7, "limit": 50, "offset": 1000}


def test_limit_bounds_are_inclusive(api: httpx.Client, fresh_company: Company) -> None:
    create(api, fresh_company, device("One"), device("Two"))
    one = page(api, fresh_company, limit=1)
    assert one["meta"] == {"total": 2, "limit": 1, "offset": 0} and len(one["data"]) == 1
    hundred = page(api, fresh_company, limit=100)
    assert hundred["meta"] == {"total": 2, "limit": 100, "offset": 0} and len(hundred["data"]) == 2


def test_limit_default_is_50_and_caps_the_page(api: httpx.Client, fresh_company: Company) -> None:
    create(api, fresh_company, *(device(f"Bulk {i}") for i in range(51)))
    body = page(api, fresh_company)
    assert body["meta"] == {"total": 51, "limit": 50, "offset": 0}
    assert len(body["data"]) == 50
    rest = page(api, fresh_company, offset=50)
    assert len(rest["data"]) == 1 and rest["meta"] == {"total": 51, "limit": 50, "offset": 50}
    assert set(ids(rest)).isdisjoint(ids(body))


def test_offset_null_is_zero(api: httpx.Client, fresh_company: Company) -> None:
    create(api, fresh_company, device("N1"), device("N2"), device("N3"))
    zero = page(api, fresh_company, limit=2, offset=0)
    null = page(api, fresh_company, limit=2, offset="null")
    assert null["meta"] == {"total": 3, "limit": 2, "offset": 0}
    assert ids(null) == ids(zero)


BAD_QUERIES: list[dict[str, str]] = [
    {"limit": "0"},
    {"limit": "101"},
    {"limit": "-1"},
    {"limit": "abc"},
    {"limit": "1.5"},
    {"offset": "-1"},
    {"offset": "abc"},
    {"user_id": "abc"},
    {"client_status": "BROKEN"},
    {"client_status": "available"},
]


def test_bad_query_parameters_are_400(api: httpx.Client, fresh_company: Company) -> None:
    no_problems(
        [
            error_problem(str(params), api.get("/devices", params=params, headers=fresh_company.headers()), 400)
            for params in BAD_QUERIES
        ]
    )


def test_out_of_range_numbers_are_never_500(api: httpx.Client, fresh_company: Company) -> None:
    huge = "99999999999999999999"
    for params in ({"offset": huge}, {"user_id": huge}, {"limit": huge}):
        response = api.get("/devices", params=params, headers=fresh_company.headers())
        assert response.status_code in (200, 400), (params, response.status_code, response.text)
        body = response.json()
        if response.status_code == 200:
            assert body["data"] == [] and body["meta"]["total"] == 0, body
        else:
            assert isinstance(body.get("error"), str) and body["error"], body
    assert_error(api.get("/devices", params={"limit": huge}, headers=fresh_company.headers()), 400)


# --------------------------------------------------------------------------- item shape


FULL_CHARACTERISTICS: JSON = {
    "screen_size": "14 inches",
    "graphic": "M3 10-core GPU",
    "processor": "Apple M3 Pro",
    "ram": "18GB",
    "storage": "512GB SSD",
    "model_year": "2023",
    "connectivity": "Wi-Fi 6E",
    "keyboard_layout": "FRENCH_AZERTY",
    "resolution": "3024x1964",
    "has_microphone": True,
    "has_webcam": True,
    "noise_cancellation": False,
    "compliance": ["CE", "RoHS"],
    "connection_type": ["USB-C", "Thunderbolt"],
    "has_stool": False,
    "has_video_package": False,
    "has_screen": True,
    "has_premium_tablet": False,
    "color": "Space Black",
    "seats_number": "1",
    "assembly": "none",
    "os_platform": "macOS",
}


def test_every_documented_key_on_every_item(api: httpx.Client, fresh_company: Company) -> None:
    full = device(
        "MacBook Pro 14",
        serial_number="C02FULL0001",
        rent="49.90",
        tracking_number="1Z999AA10123456784",
        tracking_url="https://tracking.example/1Z999AA10123456784",
        client_status="IN_SERVICE",
        source="FLEET",
        comment="Engineering pool",
        characteristics=FULL_CHARACTERISTICS,
    )
    minimal = {"name": "Office chair", "type": "CHAIR", "category": "FURNITURE"}
    made_full, made_min = create(api, fresh_company, full, minimal)

    listed = {d["id"]: d for d in page(api, fresh_company)["data"]}
    assert set(listed) == {made_full["id"], made_min["id"]}
    for made in (made_full, made_min):
        one = get_one(api, fresh_company, made["id"])
        assert one == listed[made["id"]] == made, "POST, GET one and the list render the same device"

    got = listed[made_full["id"]]
    for key in ("serial_number", "rent", "tracking_number", "tracking_url", "client_status", "source", "comment"):
        assert got[key] == full[key], key
    assert (got["type"], got["category"]) == ("LAPTOP", "COMPUTER")
    assert got["characteristics"] == FULL_CHARACTERISTICS
    assert got["mdm"] is None, "a device that was never enrolled has mdm null"
    assert got["parcels"] == []

    bare = listed[made_min["id"]]
    assert (bare["name"], bare["type"], bare["category"]) == ("Office chair", "CHAIR", "FURNITURE")
    for key in ("serial_number", "rent", "tracking_number", "tracking_url", "source", "comment"):
        assert bare[key] is None, key
    assert all(value is None for value in bare["characteristics"].values()), bare["characteristics"]
    assert bare["mdm"] is None and bare["parcels"] == []


def test_order_is_the_intake_order_of_the_batch(api: httpx.Client, fresh_company: Company) -> None:
    first = create(api, fresh_company, device("Intake A"), device("Intake B"), device("Intake C"))
    second = create(api, fresh_company, device("Intake D"))
    for made in (*first, *second):
        order = get_one(api, fresh_company, made["id"])["order"]
        assert order is not None and order["order_id"] >= 1
        assert isinstance(order["order_date"], str) and order["order_date"], order
    orders = [get_one(api, fresh_company, d["id"])["order"] for d in first]
    assert len({o["order_id"] for o in orders}) == 1, "one batch, one intake order"
    for order in orders:
        assert sorted(order["device_names"]) == ["Intake A", "Intake B", "Intake C"]
        assert order["num_devices"] == 3
    lone = get_one(api, fresh_company, second[0]["id"])["order"]
    assert lone["order_id"] != orders[0]["order_id"]
    assert lone["device_names"] == ["Intake D"] and lone["num_devices"] == 1


def test_every_keyboard_layout_round_trips(api: httpx.Client, fresh_company: Company) -> None:
    items = [
        device(f"KB {layout}", characteristics={"keyboard_layout": layout})
        if i % 2
        else device(f"KB {layout}", keyboard_layout=layout)
        for i, layout in enumerate(KEYBOARD_LAYOUTS)
    ]
    made = create(api, fresh_company, *items)
    for layout, created in zip(KEYBOARD_LAYOUTS, made, strict=True):
        assert created["characteristics"]["keyboard_layout"] == layout
        assert get_one(api, fresh_company, created["id"])["characteristics"]["keyboard_layout"] == layout


# --------------------------------------------------------------------------- client_status filter


def test_client_status_filter(api: httpx.Client, fresh_company: Company) -> None:
    made = create(
        api, fresh_company, *(device(f"Status {s}", client_status=s) for s in DEVICE_CLIENT_STATUSES), device("Extra")
    )
    by_status = {d["client_status"]: d["id"] for d in made[:-1]}
    assert set(by_status) == set(DEVICE_CLIENT_STATUSES)
    extra_status = made[-1]["client_status"]
    for status in DEVICE_CLIENT_STATUSES:
        body = page(api, fresh_company, client_status=status)
        expected = {by_status[status]} | ({made[-1]["id"]} if status == extra_status else set())
        assert set(ids(body)) == expected, status
        assert body["meta"] == {"total": len(expected), "limit": 50, "offset": 0}
        assert all(d["client_status"] == status for d in body["data"])
    assert page(api, fresh_company)["meta"]["total"] == 10


def test_client_status_filter_counts_before_paging(api: httpx.Client, fresh_company: Company) -> None:
    create(
        api,
        fresh_company,
        *(device(f"Shipped {i}", client_status="SHIPPED") for i in range(5)),
        *(device(f"Kept {i}", client_status="IN_SERVICE") for i in range(2)),
    )
    body = page(api, fresh_company, client_status="SHIPPED", limit=2, offset=1)
    assert body["meta"] == {"total": 5, "limit": 2, "offset": 1}
    assert len(body["data"]) == 2 and all(d["client_status"] == "SHIPPED" for d in body["data"])


# --------------------------------------------------------------------------- search


def _assign(api: httpx.Client, company: Company, device_id: int, person: dict[str, Any] | None) -> JSON:
    response = api.patch(
        f"/devices/{device_id}", json={"user_id": None if person is None else person["id"]}, headers=company.headers()
    )
    assert response.status_code == 200, response.text
    body: JSON = response.json()["data"]
    return body


def test_search_name_and_serial_case_insensitive(api: httpx.Client, fresh_company: Company) -> None:
    mac, thinkpad, air = create(
        api,
        fresh_company,
        device("MacBook Pro 14", serial_number="SN12345"),
        device("ThinkPad X1 Carbon", serial_number="PF3QWERT"),
        device("MacBook Air", serial_number="ZZ998877"),
    )
    assert search_ids(api, fresh_company, "macbook") == {mac["id"], air["id"]}
    assert search_ids(api, fresh_company, "MACBOOK") == {mac["id"], air["id"]}
    assert search_ids(api, fresh_company, "thinkPAD") == {thinkpad["id"]}
    assert search_ids(api, fresh_company, "sn123") == {mac["id"]}
    assert search_ids(api, fresh_company, "pf3qwert") == {thinkpad["id"]}
    assert search_ids(api, fresh_company, "book pr") == {mac["id"]}, "substrings, not whole words"
    assert search_ids(api, fresh_company, "nothing-like-this") == set()


def test_search_seed_example_all_words_must_match(api: httpx.Client, fresh_company: Company) -> None:
    wanted, other_mac, other_serial = create(
        api,
        fresh_company,
        device("MacBook Pro 16", serial_number="SN123-4567"),
        device("MacBook Air", serial_number="QX999"),
        device("Dell Latitude", serial_number="SN1239999"),
    )
    assert search_ids(api, fresh_company, "macbook SN123") == {wanted["id"]}
    assert search_ids(api, fresh_company, "SN123 macbook") == {wanted["id"]}
    assert search_ids(api, fresh_company, "  macbook   sn123  ") == {wanted["id"]}
    assert search_ids(api, fresh_company, "macbook") == {wanted["id"], other_mac["id"]}
    assert search_ids(api, fresh_company, "sn123") == {wanted["id"], other_serial["id"]}
    assert search_ids(api, fresh_company, "macbook latitude") == set()


def test_search_total_counts_before_paging(api: httpx.Client, fresh_company: Company) -> None:
    create(api, fresh_company, *(device(f"Pixel {i}") for i in range(5)), device("Galaxy"), device("Nokia"))
    body = page(api, fresh_company, search="pixel", limit=2, offset=2)
    assert body["meta"] == {"total": 5, "limit": 2, "offset": 2}
    assert len(body["data"]) == 2 and all("Pixel" in d["name"] for d in body["data"])


def test_search_short_words(api: httpx.Client, fresh_company: Company) -> None:
    x1, t14, zbook = create(
        api,
        fresh_company,
        device("Lenovo X1", serial_number="KJ77"),
        device("Lenovo T14", serial_number="MN88"),
        device("HP Zbook", serial_number="PQ99"),
    )
    assert search_ids(api, fresh_company, "x1") == {x1["id"]}
    assert search_ids(api, fresh_company, "T1") == {t14["id"]}
    assert search_ids(api, fresh_company, "z") == {zbook["id"]}
    assert search_ids(api, fresh_company, "lenovo 4") == {t14["id"]}
    assert search_ids(api, fresh_company, "kj") == {x1["id"]}
    assert search_ids(api, fresh_company, "hp q") == {zbook["id"]}


def test_search_wildcards_and_quotes_are_literal(api: httpx.Client, fresh_company: Company) -> None:
    sale, a_b, hundred, quoted, apostrophe, path, *_plain = create(
        api,
        fresh_company,
        device("50%_off"),
        device("A_B dock"),
        device("Screen 100%"),
        device('Monitor "Ultra"'),
        device("Bob's phone"),
        device("C:\\temp box"),
        device("AxB dock"),
        device("Screen 1000"),
        device("5000ff"),
        device("Plain laptop"),
    )
    assert search_ids(api, fresh_company, "%") == {sale["id"], hundred["id"]}, "% must not match everything"
    assert search_ids(api, fresh_company, "_") == {sale["id"], a_b["id"]}, "_ must not match any character"
    assert search_ids(api, fresh_company, "%_") == {sale["id"]}
    assert search_ids(api, fresh_company, "50%_off") == {sale["id"]}
    assert search_ids(api, fresh_company, "a_b") == {a_b["id"]}
    assert search_ids(api, fresh_company, "100%") == {hundred["id"]}
    assert search_ids(api, fresh_company, '"') == {quoted["id"]}
    assert search_ids(api, fresh_company, '"ultra"') == {quoted["id"]}
    assert search_ids(api, fresh_company, "'") == {apostrophe["id"]}
    assert search_ids(api, fresh_company, "bob's") == {apostrophe["id"]}
    assert search_ids(api, fresh_company, "c:\\") == {path["id"]}
    assert search_ids(api, fresh_company, "\\") == {path["id"]}
    assert search_ids(api, fresh_company, "' OR '1'='1") == set()
    assert search_ids(api, fresh_company, "*") == set()


def test_search_is_case_insensitive_beyond_ascii(api: httpx.Client, fresh_company: Company) -> None:
    ecran, _other = create(api, fresh_company, device("ÉCRAN Dell"), device("Monitor HP"))
    assert search_ids(api, fresh_company, "écran") == {ecran["id"]}
    assert search_ids(api, fresh_company, "ÉCRAN") == {ecran["id"]}
    assert search_ids(api, fresh_company, "Écran dell") == {ecran["id"]}


def test_search_by_assignee_and_team(api: httpx.Client, fresh_company: Company) -> None:
    ada, grace = fresh_company.people
    by_post, by_patch, graces, nobody = create(
        api,
        fresh_company,
        device("Laptop one", user_id=ada["id"]),
        device("Laptop two"),
        device("Laptop three", user_id=grace["id"]),
        device("Laptop four"),
    )
    _assign(api, fresh_company, by_patch["id"], ada)
    adas = {by_post["id"], by_patch["id"]}
    # The emails share a random hex suffix: allow for "ada" turning up inside Grace's.
    ada_in_graces = {graces["id"]} if "ada" in str(grace["email"]).lower() else set()

    assert search_ids(api, fresh_company, "ada") == adas | ada_in_graces
    assert search_ids(api, fresh_company, "LOVELACE") == adas
    assert search_ids(api, fresh_company, "ada lovelace") == adas
    assert search_ids(api, fresh_company, str(ada["email"])) == adas
    assert search_ids(api, fresh_company, str(ada["email"]).upper()) == adas
    assert search_ids(api, fresh_company, "engineering") == adas
    assert search_ids(api, fresh_company, "Hopper") == {graces["id"]}
    assert search_ids(api, fresh_company, "operations") == {graces["id"]}
    assert search_ids(api, fresh_company, "grace three") == {graces["id"]}
    assert search_ids(api, fresh_company, "ada three") == ada_in_graces
    assert search_ids(api, fresh_company, "laptop") == adas | {graces["id"], nobody["id"]}


def test_search_follows_reassignment(api: httpx.Client, fresh_company: Company) -> None:
    ada, grace = fresh_company.people
    (moved,) = create(api, fresh_company, device("Roaming laptop", user_id=ada["id"]))
    assert search_ids(api, fresh_company, "lovelace") == {moved["id"]}
    assert search_ids(api, fresh_company, "hopper") == set()

    _assign(api, fresh_company, moved["id"], grace)
    assert search_ids(api, fresh_company, "lovelace") == set(), "the old holder no longer finds it"
    assert search_ids(api, fresh_company, "engineering") == set()
    assert search_ids(api, fresh_company, "hopper") == {moved["id"]}
    assert search_ids(api, fresh_company, "operations") == {moved["id"]}

    _assign(api, fresh_company, moved["id"], None)
    assert search_ids(api, fresh_company, "hopper") == set(), "unassigned: no holder matches"
    assert search_ids(api, fresh_company, "roaming") == {moved["id"]}


def test_search_combines_with_filters(api: httpx.Client, fresh_company: Company) -> None:
    ada, grace = fresh_company.people
    a_ship, a_serv, g_ship, _ = create(
        api,
        fresh_company,
        device("Phone alpha", user_id=ada["id"], client_status="SHIPPED"),
        device("Phone beta", user_id=ada["id"], client_status="IN_SERVICE"),
        device("Phone gamma", user_id=grace["id"], client_status="SHIPPED"),
        device("Tablet delta", user_id=ada["id"], client_status="SHIPPED"),
    )
    body = page(api, fresh_company, search="phone", user_id=ada["id"], client_status="SHIPPED")
    assert ids(body) == [a_ship["id"]] and body["meta"]["total"] == 1
    body = page(api, fresh_company, search="phone", client_status="SHIPPED")
    assert set(ids(body)) == {a_ship["id"], g_ship["id"]} and body["meta"]["total"] == 2
    body = page(api, fresh_company, search="phone", user_id=ada["id"])
    assert set(ids(body)) == {a_ship["id"], a_serv["id"]} and body["meta"]["total"] == 2


# --------------------------------------------------------------------------- user_id filter


def test_user_id_filter_is_the_current_holder(api: httpx.Client, fresh_company: Company) -> None:
    ada, grace = fresh_company.people
    a1, a2, g1, _free = create(
        api,
        fresh_company,
        device("Held A1", user_id=ada["id"]),
        device("Held A2", user_id=ada["id"]),
        device("Held G1", user_id=grace["id"]),
        device("Free"),
    )
    assert holder_ids(api, fresh_company, ada) == {a1["id"], a2["id"]}
    assert holder_ids(api, fresh_company, grace) == {g1["id"]}

    _assign(api, fresh_company, a2["id"], grace)
    assert holder_ids(api, fresh_company, ada) == {a1["id"]}, "a past holder is not the current holder"
    assert holder_ids(api, fresh_company, grace) == {g1["id"], a2["id"]}

    body = page(api, fresh_company, user_id=grace["id"], limit=1)
    assert body["meta"] == {"total": 2, "limit": 1, "offset": 0} and len(body["data"]) == 1


def test_user_id_filter_unknown_person_is_empty(api: httpx.Client, fresh_company: Company) -> None:
    create(api, fresh_company, device("Someone's", user_id=fresh_company.people[0]["id"]))
    body = page(api, fresh_company, user_id=987654321)
    assert body["data"] == [] and body["meta"] == {"total": 0, "limit": 50, "offset": 0}


# --------------------------------------------------------------------------- OpenAPI


def _resolve(document: JSON, node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = document
        for part in str(node["$ref"]).removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def _schema_facts(document: JSON, schema: Any) -> JSON:
    """Merge `minimum`/`maximum`/`default`/`enum` found in a schema and its oneOf/anyOf/allOf branches."""
    facts: JSON = {}
    schema = _resolve(document, schema)
    if not isinstance(schema, dict):
        return facts
    for key in ("minimum", "maximum", "default", "enum", "type"):
        if key in schema:
            facts[key] = [v for v in schema[key] if v is not None] if key == "enum" else schema[key]
    for branch_key in ("oneOf", "anyOf", "allOf"):
        for branch in schema.get(branch_key, []):
            for key, value in _schema_facts(document, branch).items():
                if key == "enum":
                    facts["enum"] = [*facts.get("enum", []), *[v for v in value if v is not None]]
                else:
                    facts.setdefault(key, value)
    return facts


def test_openapi_document(api: httpx.Client) -> None:
    response = api.get("/openapi.json")
    assert response.status_code == 200, response.text
    document: JSON = response.json()
    assert str(document.get("openapi", "")).startswith("3."), document.get("openapi")
    assert isinstance(document.get("info"), dict) and document["info"].get("title")
    paths = document["paths"]
    assert "/platform/v1/devices" in paths, sorted(paths)
    devices_path = paths["/platform/v1/devices"]
    assert {"get", "post"} <= set(devices_path), sorted(devices_path)

    raw_params = [*devices_path.get("parameters", []), *devices_path["get"].get("parameters", [])]
    resolved = [_resolve(document, raw) for raw in raw_params]
    params = {p["name"]: p for p in resolved if p.get("in") == "query"}
    assert {"limit", "offset", "search", "user_id", "client_status"} <= set(params), sorted(params)

    limit = _schema_facts(document, params["limit"].get("schema"))
    assert (limit.get("minimum"), limit.get("maximum"), limit.get("default")) == (1, 100, 50), limit
    offset = _schema_facts(document, params["offset"].get("schema"))
    assert offset.get("default") == 0, offset
    status = _schema_facts(document, params["client_status"].get("schema"))
    assert sorted(status.get("enum", [])) == sorted(DEVICE_CLIENT_STATUSES), status

    one = [p for p in paths if p.startswith("/platform/v1/devices/{") and p.endswith("}") and p.count("/") == 4]
    assert len(one) == 1, sorted(paths)
    assert {"get", "patch", "delete"} <= set(paths[one[0]]), sorted(paths[one[0]])
    assert any(p.startswith("/platform/v1/addresses/{") and "get" in paths[p] for p in paths), sorted(paths)


def test_openapi_needs_no_key_but_devices_do(api: httpx.Client) -> None:
    assert api.get("/openapi.json").status_code == 200
    assert_error(api.get("/devices"), 401)


def test_item_shape_helper_rejects_a_missing_key() -> None:
    """The shape check itself must be able to fail: a device missing a documented key is refused."""
    good: JSON = {
        "id": 1,
        "name": "n",
        "serial_number": None,
        "rent": None,
        "tracking_number": None,
        "tracking_url": None,
        "client_status": "AVAILABLE",
        "type": "LAPTOP",
        "category": "COMPUTER",
        "source": None,
        "comment": None,
        "characteristics": dict.fromkeys(FULL_CHARACTERISTICS),
        "mdm": None,
        "order": {
            "order_id": 1,
            "client_status": "RECEIVED",
            "device_names": ["n"],
            "rent": None,
            "rent_currency": None,
            "order_number": None,
            "contract_number": None,
            "order_date": "2024-01-01",
            "num_devices": 1,
        },
        "parcels": [],
    }
    assert_device_shape(good)
    for broken in (
        {k: v for k, v in good.items() if k != "comment"},
        {**good, "characteristics": {k: None for k in FULL_CHARACTERISTICS if k != "os_platform"}},
        {**good, "order": None},
        {**good, "client_status": "LOST"},
        {**good, "characteristics": {**dict.fromkeys(FULL_CHARACTERISTICS), "keyboard_layout": "AZERTY"}},
    ):
        with pytest.raises(AssertionError):
            assert_device_shape(broken)


def test_openapi_offset_documents_what_the_server_enforces(api: httpx.Client, fresh_company: Company) -> None:
    """The server refuses offset -1, so the document must say offset >= 0 (it matches what the server does)."""
    assert_error(api.get("/devices", params={"offset": -1}, headers=fresh_company.headers()), 400)
    document: JSON = api.get("/openapi.json").json()
    get = document["paths"]["/platform/v1/devices"]["get"]
    (offset,) = [p for p in (_resolve(document, raw) for raw in get["parameters"]) if p.get("name") == "offset"]
    assert _schema_facts(document, offset.get("schema")).get("minimum") == 0, offset
