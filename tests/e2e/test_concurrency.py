"""Many clients writing the same device at once, over real HTTP: no 5xx, no overlapping spans."""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy import text

from custody.db.engine import Database
from tests.conftest import Company

CLIENTS = 32


def test_concurrent_reassignments_leave_one_consistent_history(
    server: str, db: Database, fresh_company: Company
) -> None:
    headers = fresh_company.headers()
    base = f"{server}/platform/v1"
    created = httpx.post(
        f"{base}/devices",
        json={"devices": [{"name": "Shared", "type": "LAPTOP", "category": "COMPUTER"}]},
        headers=headers,
    )
    device_id = created.json()["data"]["devices"][0]["id"]
    holders = [p["id"] for p in fresh_company.people] + [None]

    def assign(i: int) -> int:
        with httpx.Client(timeout=60) as client:
            response = client.patch(f"{base}/devices/{device_id}", json={"user_id": holders[i % 3]}, headers=headers)
            return response.status_code

    with ThreadPoolExecutor(CLIENTS) as pool:
        statuses = list(pool.map(assign, range(CLIENTS * 3)))
    assert statuses == [200] * len(statuses)

    with db.read() as session:
        spans = session.execute(
            text("SELECT start_time, end_time FROM ownership WHERE device_id = :d ORDER BY start_time, id"),
            {"d": device_id},
        ).all()
        holder = session.execute(text("SELECT holder_id FROM device WHERE id = :d"), {"d": device_id}).scalar_one()
    open_spans = [s for s in spans if s.end_time is None]
    assert len(open_spans) <= 1
    for earlier, later in itertools.pairwise(spans):
        assert earlier.end_time is not None and earlier.end_time <= later.start_time
    current = httpx.get(f"{base}/devices?user_id={holder}", headers=headers).json() if holder else None
    assert (current is None and not open_spans) or (current is not None and current["meta"]["total"] == 1)
