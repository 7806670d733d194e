"""Inputs at the edges of what the databases can hold: a clear 4xx or a correct answer, never a 500."""

from __future__ import annotations

import httpx

from tests.conftest import Company


def test_nul_characters_are_refused_everywhere(api: httpx.Client, fresh_company: Company) -> None:
    headers = fresh_company.headers()
    item = {"name": "ok", "type": "LAPTOP", "category": "COMPUTER"}
    bad_items = [
        {**item, "name": "a\x00b"},
        {**item, "rent": "12\x00"},
        {**item, "characteristics": {"ram": "16\x00GB"}},
        {**item, "characteristics": {"compliance": ["ISO\x00"]}},
    ]
    for bad in bad_items:
        response = api.post("/devices", json={"devices": [bad]}, headers=headers)
        assert response.status_code == 400, (bad, response.text)
        assert "INVALID_TEXT" in response.json()["error"]
    assert api.get("/devices", headers=headers).json()["meta"]["total"] == 0

    created = api.post("/devices", json={"devices": [item]}, headers=headers).json()["data"]["devices"][0]
    patched = api.patch(f"/devices/{created['id']}", json={"comment": "x\x00"}, headers=headers)
    assert patched.status_code == 400
    assert api.get(f"/devices/{created['id']}", headers=headers).json()["data"]["comment"] is None

    searched = api.get("/devices", params={"search": "a\x00b"}, headers=headers)
    assert searched.status_code == 400
    assert "INVALID_TEXT" in searched.json()["error"]


def test_numbers_beyond_64_bits_are_answered_not_crashed(api: httpx.Client, fresh_company: Company) -> None:
    headers = fresh_company.headers()
    api.post("/devices", json={"devices": [{"name": "ok", "type": "LAPTOP", "category": "COMPUTER"}]}, headers=headers)
    largest = 2**63 - 1
    page = api.get("/devices", params={"offset": largest}, headers=headers)
    assert page.status_code == 200
    assert page.json()["data"] == []
    assert page.json()["meta"] == {"total": 1, "limit": 50, "offset": largest}
    assert api.get("/devices", params={"user_id": largest}, headers=headers).json()["meta"]["total"] == 0
    too_big = {"name": "x", "type": "LAPTOP", "category": "COMPUTER", "user_id": 2**64}
    response = api.post("/devices", json={"devices": [too_big]}, headers=headers)
    assert response.status_code == 400
    for huge in (largest, 2**63, 10**30):
        assert api.get(f"/devices/{huge}", headers=headers).status_code == 404
        assert api.get(f"/addresses/{huge}", headers=headers).status_code == 404
