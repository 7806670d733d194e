"""32 people take the same free device at the same instant, 100 rounds, over real HTTP to a
server with several worker processes: each round exactly one wins, the rest get 409, nothing
answers 5xx, and the history has no overlapping spans."""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import text

from custody.db.engine import Database
from tests.conftest import Company, running_server
from tests.e2e.ownership import Person, add_person, new_device

CLIENTS = 32
ROUNDS = 100
WORKERS = 4


@pytest.fixture(scope="module")
def multi_worker_server(database_url: str, db: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_server(database_url, tmp_path_factory.mktemp("race"), workers=WORKERS) as url:
        yield url


def test_one_winner_per_round(multi_worker_server: str, db: Database, fresh_company: Company) -> None:
    base = f"{multi_worker_server}/v1"
    with httpx.Client(base_url=f"{multi_worker_server}/platform/v1", timeout=60) as api:
        made = new_device(api, fresh_company)
    people: list[Person] = [add_person(db, fresh_company, f"Racer{i}") for i in range(CLIENTS)]
    body = {"serial_number": made["serial_number"], "device_name": made["name"]}
    barrier = threading.Barrier(CLIENTS)
    clients = [httpx.Client(base_url=base, timeout=60, headers=p.headers()) for p in people]
    statuses: list[Counter[int]] = [Counter() for _ in range(ROUNDS)]
    winners: list[list[int]] = [[] for _ in range(ROUNDS)]
    tally = threading.Lock()  # `Counter[k] += 1` is a read and a write: threads could lose counts

    def racer(index: int) -> None:
        client = clients[index]
        for round_ in range(ROUNDS):
            barrier.wait()  # everyone fires together
            response = client.post("/device-ownerships/", json=body)
            with tally:
                statuses[round_][response.status_code] += 1
            if response.status_code == 201:
                winners[round_].append(response.json()["id"])
            barrier.wait()  # every answer is in
            if index == 0 and winners[round_]:
                # The company releases the winner's span so the next round starts from a free device.
                released = client.post(
                    f"{base}/device-ownerships/{winners[round_][0]}/release/", headers=fresh_company.headers()
                )
                assert released.status_code == 200, released.text
            barrier.wait()

    try:
        with ThreadPoolExecutor(CLIENTS) as pool:
            list(pool.map(racer, range(CLIENTS)))
    finally:
        for client in clients:
            client.close()

    for round_, counts in enumerate(statuses):
        assert counts == Counter({201: 1, 409: CLIENTS - 1}), f"round {round_}: {dict(counts)}"
    with db.read() as session:
        spans = session.execute(
            text("SELECT start_time, end_time FROM ownership WHERE device_id = :d ORDER BY start_time, id"),
            {"d": made["id"]},
        ).all()
    assert len(spans) == ROUNDS
    assert all(end is not None for _, end in spans)
    for (_, earlier_end), (later_start, _) in itertools.pairwise(spans):
        assert earlier_end <= later_start
