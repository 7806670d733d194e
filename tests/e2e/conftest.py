"""Fixtures for the company devices API tests: a second fresh tenant for isolation checks."""

from __future__ import annotations

import uuid

import pytest

from custody.db.engine import Database
from custody.domain.keys import create_key
from custody.domain.people import create_company, create_person
from custody.domain.tenancy import Caller, Tenant
from tests.conftest import Company


def _new_company(db: Database, label: str) -> Company:
    suffix = uuid.uuid4().hex[:8]
    with db.write() as session:
        company = create_company(session, f"{label} {suffix}")
        tenant = Tenant(session, Caller(company_id=company.id, person_id=None, can_write=True))
        people = tuple(
            create_person(
                tenant, first_name=first, last_name=last, email=f"{first.lower()}.{suffix}@other.test", team=team
            )
            for first, last, team in (("Ada", "Lovelace", "Engineering"), ("Grace", "Hopper", "Operations"))
        )
        _, write = create_key(tenant, person_id=None, read_only=False)
        _, read = create_key(tenant, person_id=None, read_only=True)
        _, personal = create_key(tenant, person_id=people[0].id, read_only=False)
        people_json: tuple[dict[str, object], ...] = tuple(
            {
                "id": p.id,
                "hex_id": p.hex_id,
                "first_name": p.first_name,
                "last_name": p.last_name,
                "email": p.email,
                "team": p.team,
            }
            for p in people
        )
        return Company(id=company.id, write_token=write, read_token=read, people=people_json, person_token=personal)


@pytest.fixture
def other_company(db: Database) -> Company:
    """A second new, empty company per test (same people names as `fresh_company`, other emails)."""
    return _new_company(db, "Other")
