"""Too many requests on the ownership API: 429 with `Retry-After`, counted per key across worker
processes (the counts live in the database), with the limit taken from the setting."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from custody.db.engine import Database
from tests.conftest import Company, running_server
from tests.e2e.ownership import assert_error

LIMIT = 12
WORKERS = 3


@pytest.fixture(scope="module")
def limited_server(database_url: str, db: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = {"CUSTODY_OWNERSHIP_RATE_LIMIT": str(LIMIT)}
    with running_server(database_url, tmp_path_factory.mktemp("limited"), WORKERS, settings) as url:
        yield url


def test_a_key_over_its_limit_gets_429_with_retry_after(limited_server: str, fresh_company: Company) -> None:
    with httpx.Client(base_url=f"{limited_server}/v1", headers=fresh_company.headers(), timeout=30) as v1:
        first = v1.get("/devices/")
        assert first.status_code == 200, first.text
        assert first.headers["RateLimit-Limit"] == str(LIMIT)
        assert first.headers["RateLimit-Remaining"] == str(LIMIT - 1)
        assert 1 <= int(first.headers["RateLimit-Reset"]) <= 60
        # Sent at once, over several connections (so several workers): the shared count holds.
        with ThreadPoolExecutor(8) as pool:
            statuses = Counter(
                pool.map(
                    lambda _: (
                        httpx.get(
                            f"{limited_server}/v1/devices/", headers=fresh_company.headers(), timeout=30
                        ).status_code
                    ),
                    range(LIMIT + 8),
                )
            )
        # One window may end mid-test; then the new one admits more, never fewer.
        assert statuses[200] >= LIMIT - 1 and statuses[200] + statuses[429] == LIMIT + 8, statuses
        refused = v1.get("/device-ownerships/")
        if refused.status_code == 200:  # the window turned over: use the new one up
            for _ in range(LIMIT):
                refused = v1.get("/device-ownerships/")
        assert_error(refused, 429, "throttled")
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
    # Another key of the same company has its own count.
    other = httpx.get(f"{limited_server}/v1/devices/", headers=fresh_company.headers(fresh_company.read_token))
    assert other.status_code == 200, other.text
    # The other APIs are not limited by this setting.
    api = httpx.get(f"{limited_server}/platform/v1/devices", headers=fresh_company.headers())
    assert api.status_code == 200
