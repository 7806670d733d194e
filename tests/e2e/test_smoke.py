from __future__ import annotations

import httpx

from tests.conftest import Company


def test_list_needs_a_key(api: httpx.Client) -> None:
    assert api.get("/devices").status_code == 401


def test_create_then_list(api: httpx.Client, fresh_company: Company) -> None:
    created = api.post(
        "/devices",
        json={"devices": [{"name": "X1", "type": "LAPTOP", "category": "COMPUTER"}]},
        headers=fresh_company.headers(),
    )
    assert created.status_code == 201, created.text
    page = api.get("/devices", headers=fresh_company.headers()).json()
    assert page["meta"] == {"total": 1, "limit": 50, "offset": 0}
