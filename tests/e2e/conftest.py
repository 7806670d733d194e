"""Fixtures for the company devices API tests: a second fresh tenant for isolation checks."""

from __future__ import annotations

import pytest

from custody.db.engine import Database
from tests.conftest import Company, new_company


@pytest.fixture
def other_company(db: Database) -> Company:
    """A second new, empty company per test (same people names as `fresh_company`, other emails)."""
    return new_company(db, "Other")
