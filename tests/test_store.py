"""What the database itself guarantees, shown with plain SQL that bypasses Custody's Python."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from custody.db.engine import Database
from custody.domain.devices import DeviceSpec, create_devices
from custody.domain.people import create_company, create_person
from custody.domain.tenancy import Caller, Tenant


def stamp(db: Database, value: str) -> str:
    """A UTC instant literal as each engine stores it (SQLite: fixed-width naive UTC text)."""
    return f"{value}.000000" if db.dialect == "sqlite" else f"{value}+00"


@pytest.fixture
def fleet(db: Database) -> Iterator[dict[str, int]]:
    """Two companies: A with a device and two people, B with one person."""
    suffix = uuid.uuid4().hex[:8]
    with db.write() as session:
        a = create_company(session, f"A {suffix}")
        b = create_company(session, f"B {suffix}")
        ta = Tenant(session, Caller(company_id=a.id, person_id=None, can_write=True))
        tb = Tenant(session, Caller(company_id=b.id, person_id=None, can_write=True))
        p1 = create_person(ta, first_name="Ada", last_name="L", email=f"ada.{suffix}@a.test")
        p2 = create_person(ta, first_name="Bob", last_name="M", email=f"bob.{suffix}@a.test")
        q1 = create_person(tb, first_name="Eve", last_name="N", email=f"eve.{suffix}@b.test")
        create_devices(ta, [DeviceSpec(fields={"name": "Laptop", "type": "LAPTOP", "category": "COMPUTER"})])
        device_id = session.execute(text("SELECT max(id) FROM device WHERE company_id = :c"), {"c": a.id}).scalar_one()
    yield {"a": a.id, "b": b.id, "p1": p1.id, "p2": p2.id, "q1": q1.id, "device": device_id}


def insert_span(db: Database, company: int, device: int, person: int, start: str, end: str | None) -> None:
    with db.write() as session:
        session.execute(
            text(
                "INSERT INTO ownership (company_id, device_id, person_id, start_time, end_time) "
                "VALUES (:c, :d, :p, :s, :e)"
            ),
            {"c": company, "d": device, "p": person, "s": stamp(db, start), "e": end and stamp(db, end)},
        )


def test_overlapping_spans_are_refused_by_the_database(db: Database, fleet: dict[str, int]) -> None:
    a, device, p1, p2 = fleet["a"], fleet["device"], fleet["p1"], fleet["p2"]
    insert_span(db, a, device, p1, "2024-01-01 00:00:00", "2024-02-01 00:00:00")
    insert_span(db, a, device, p2, "2024-02-01 00:00:00", "2024-03-01 00:00:00")  # touching is fine
    with pytest.raises((IntegrityError, DBAPIError)):
        insert_span(db, a, device, p2, "2024-01-15 00:00:00", "2024-01-20 00:00:00")  # inside
    with pytest.raises((IntegrityError, DBAPIError)):
        insert_span(db, a, device, p2, "2023-12-01 00:00:00", "2024-01-02 00:00:00")  # straddles the start
    insert_span(db, a, device, p1, "2024-04-01 00:00:00", None)  # open
    with pytest.raises((IntegrityError, DBAPIError)):
        insert_span(db, a, device, p2, "2024-05-01 00:00:00", None)  # a second open span
    with pytest.raises((IntegrityError, DBAPIError)):
        insert_span(db, a, device, p2, "2025-01-01 00:00:00", "2025-02-01 00:00:00")  # inside the open one
    with db.read() as session:
        spans = session.execute(text("SELECT count(*) FROM ownership WHERE device_id = :d"), {"d": device})
        assert spans.scalar_one() == 3


def test_an_update_cannot_create_an_overlap(db: Database, fleet: dict[str, int]) -> None:
    a, device, p1, p2 = fleet["a"], fleet["device"], fleet["p1"], fleet["p2"]
    insert_span(db, a, device, p1, "2024-01-01 00:00:00", "2024-02-01 00:00:00")
    insert_span(db, a, device, p2, "2024-03-01 00:00:00", "2024-04-01 00:00:00")
    with pytest.raises((IntegrityError, DBAPIError)), db.write() as session:
        session.execute(
            text("UPDATE ownership SET end_time = :e WHERE person_id = :p AND device_id = :d"),
            {"e": stamp(db, "2024-03-15 00:00:00"), "p": p1, "d": device},
        )


def test_a_span_cannot_end_before_it_starts(db: Database, fleet: dict[str, int]) -> None:
    with pytest.raises((IntegrityError, DBAPIError)):
        insert_span(db, fleet["a"], fleet["device"], fleet["p1"], "2024-02-01 00:00:00", "2024-01-01 00:00:00")


def test_cross_company_references_are_refused_by_the_database(db: Database, fleet: dict[str, int]) -> None:
    # Company B's person on company A's device, whichever company the row claims.
    with pytest.raises(IntegrityError):
        insert_span(db, fleet["a"], fleet["device"], fleet["q1"], "2024-01-01 00:00:00", None)
    with pytest.raises(IntegrityError):
        insert_span(db, fleet["b"], fleet["device"], fleet["q1"], "2024-01-01 00:00:00", None)
    with pytest.raises(IntegrityError), db.write() as session:
        session.execute(
            text("UPDATE device SET holder_id = :p WHERE id = :d"), {"p": fleet["q1"], "d": fleet["device"]}
        )


def _counts(db: Database, company: int) -> tuple[dict[str, int], dict[str, int]]:
    with db.read() as session:
        kept = session.execute(
            text("SELECT client_status, n FROM device_count WHERE company_id = :c AND n <> 0"), {"c": company}
        )
        actual = session.execute(
            text(
                "SELECT client_status, count(*) FROM device WHERE company_id = :c AND deleted_at IS NULL "
                "GROUP BY client_status"
            ),
            {"c": company},
        )
        return {s: int(n) for s, n in kept}, {s: int(n) for s, n in actual}


def test_device_counts_follow_any_write(db: Database, fleet: dict[str, int]) -> None:
    a, device = fleet["a"], fleet["device"]
    kept, actual = _counts(db, a)
    assert kept == actual == {"AVAILABLE": 1}
    with db.write() as session:
        session.execute(text("UPDATE device SET client_status = 'IN_SERVICE' WHERE id = :d"), {"d": device})
    kept, actual = _counts(db, a)
    assert kept == actual == {"IN_SERVICE": 1}
    with db.write() as session:
        session.execute(text("UPDATE device SET deleted_at = created_at WHERE id = :d"), {"d": device})
    kept, actual = _counts(db, a)
    assert kept == actual == {}


def test_unknown_enum_values_are_refused_by_the_database(db: Database, fleet: dict[str, int]) -> None:
    with pytest.raises(IntegrityError), db.write() as session:
        session.execute(text("UPDATE device SET client_status = 'LOST' WHERE id = :d"), {"d": fleet["device"]})
