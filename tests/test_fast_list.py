"""The framework-free `GET /devices` answers exactly as the Litestar route, and leaves it the rest."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from custody.apis.company_devices.app import create_company_devices_app
from custody.apis.company_devices.fast import FastList, plain_query
from custody.db.engine import Database
from custody.domain.devices import DeviceQuery, DeviceSpec, create_devices
from custody.domain.tenancy import Caller, Tenant
from tests.conftest import Company, new_company

BASE = "/platform/v1"


async def _call(app: Any, query: str, token: str | None) -> tuple[int, dict[bytes, bytes], bytes]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": f"{BASE}/devices",
        "raw_path": f"{BASE}/devices".encode(),
        "root_path": "",
        "query_string": query.encode(),
        "headers": [(b"host", b"test")] + ([(b"authorization", f"Bearer {token}".encode())] if token else []),
        "client": ("127.0.0.1", 1),
        "server": ("test", 80),
        "state": {},
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    headers = dict(sent[0]["headers"])
    return sent[0]["status"], headers, b"".join(m.get("body", b"") for m in sent[1:])


class _Spy:
    """The wrapped app: records whether the fast path passed a request on."""

    def __init__(self, app: Any) -> None:
        self.app, self.calls = app, 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.calls += 1
        await self.app(scope, receive, send)


@pytest.fixture
def company(db: Database) -> Company:
    company = new_company(db, "Fast")
    with db.write() as session:
        tenant = Tenant(session, Caller(company_id=company.id, person_id=None, can_write=True))
        specs = [
            DeviceSpec(
                fields={"name": f"Laptop {i}", "serial_number": f"FAST-{company.id}-{i}", "client_status": status},
                holder_id=int(str(company.people[i % 2]["id"])) if i % 3 == 0 else None,
            )
            for i, status in enumerate(["AVAILABLE", "IN_SERVICE", "ARCHIVED"] * 4)
        ]
        create_devices(tenant, specs)
    return company


def test_plain_requests_are_answered_as_the_route_answers_them(db: Database, company: Company) -> None:
    route = create_company_devices_app(db, BASE)
    spy = _Spy(route)
    fast = FastList(spy, db, BASE)
    ada = company.people[0]["id"]
    queries = [
        "",
        "limit=5",
        "limit=5&offset=3",
        "offset=11",
        "offset=500",
        "limit=100&client_status=IN_SERVICE",
        f"user_id={ada}",
        f"user_id={ada}&client_status=AVAILABLE&limit=1",
        "search=laptop%201",
        "search=Lovelace",
        "search=fast+laptop",
        "user_id=9223372036854775807",
    ]
    for query in queries:
        got = asyncio.run(_call(fast, query, company.read_token))
        assert spy.calls == 0, query  # answered without the route
        assert got == asyncio.run(_call(route, query, company.read_token)), query
        assert got[0] == 200


def test_pages_carry_the_stored_items_as_they_are(db: Database, company: Company) -> None:
    """Items are the stored documents' bytes: UTF-8 beyond ASCII comes through whole, in pages of
    none, one and several items, in the answer's one JSON document."""
    name = "Écran Zoë 日本 ✓"
    with db.write() as session:
        tenant = Tenant(session, Caller(company_id=company.id, person_id=None, can_write=True))
        create_devices(tenant, [DeviceSpec(fields={"name": name, "client_status": "AVAILABLE"})])
    fast = FastList(_Spy(create_company_devices_app(db, BASE)), db, BASE)
    for query, names in [
        ("search=zo%C3%AB", [name]),
        ("offset=500", []),
        ("limit=2&offset=12", [name]),
        ("limit=3", ["Laptop 0", "Laptop 1", "Laptop 2"]),
    ]:
        status, headers, body = asyncio.run(_call(fast, query, company.read_token))
        page = json.loads(body)
        assert (status, int(headers[b"content-length"])) == (200, len(body)), query
        assert [item["name"] for item in page["data"]] == names, query
        assert page["meta"]["total"] == (1 if query.startswith("search") else 13), query


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=101",
        "limit=050",
        "limit=%2B5",
        "limit=",
        "offset=-1",
        "limit=5&limit=6",
        "client_status=LOST",
        "search=",
        "search=" + "x" * 201,
        "search=a%00b",
        "user_id=0",
        "user_id=9223372036854775808",
        "unknown=1",
    ],
)
def test_everything_else_goes_to_the_route(db: Database, company: Company, query: str) -> None:
    route = create_company_devices_app(db, BASE)
    spy = _Spy(route)
    status, _, body = asyncio.run(_call(FastList(spy, db, BASE), query, company.read_token))
    assert spy.calls == 1
    assert (status, body) == asyncio.run(_call(route, query, company.read_token))[::2]


@pytest.mark.parametrize("token", [None, "cfk_live_unknown"])
def test_callers_without_a_live_key_go_to_the_route(db: Database, company: Company, token: str | None) -> None:
    spy = _Spy(create_company_devices_app(db, BASE))
    status, _, body = asyncio.run(_call(FastList(spy, db, BASE), "limit=5", token))
    assert spy.calls == 1
    assert (status, body) == (401, b'{"error":"UNAUTHORIZED"}')


def test_plain_query_parses_every_parameter() -> None:
    assert plain_query(b"limit=7&offset=9&search=a+b&user_id=3&client_status=SHIPPED") == DeviceQuery(
        limit=7, offset=9, search="a b", user_id=3, client_status="SHIPPED"
    )
    assert plain_query(b"") == DeviceQuery()
