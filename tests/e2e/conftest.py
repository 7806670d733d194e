"""Fixtures for the black-box API tests: a second fresh tenant for isolation checks, and clients."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from custody.db.engine import Database
from tests.conftest import Company, new_company


@pytest.fixture
def other_company(db: Database) -> Company:
    """A second new, empty company per test (same people names as `fresh_company`, other emails)."""
    return new_company(db, "Other")


@pytest.fixture
def management(server: str) -> Iterator[httpx.Client]:
    """An HTTP client on the device management API, served at the root (`PATCH /devices/{deviceId}`)."""
    with httpx.Client(base_url=server, timeout=30) as client:
        yield client
