"""The list pages served from kept counts and by ids picked first (seed 000's devices, seed 001's
ownerships and devices) answer exactly what the plain queries answer: the same totals, the same
pages at any offset, after changes made through the domain."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import text

from custody.db.engine import Database
from custody.domain import management, ownership
from custody.domain.devices import DeviceSpec, create_devices, delete_device
from custody.domain.people import create_company, create_person
from custody.domain.tenancy import Caller, Tenant, TenantSnapshot
from custody.domain.timefmt import utcnow

KINDS = ("LAPTOP", "TABLET", "SMARTPHONE", "SCREEN", "CHAIR")


def _fleet(db: Database) -> tuple[Caller, list[int]]:
    """A company with devices of managed and other kinds, some deleted, some held, with spans
    taken, released, booked and ended by a device's retirement."""
    suffix = uuid.uuid4().hex[:8]
    with db.write() as session:
        company = create_company(session, f"pages-{suffix}")
        caller = Caller(company_id=company.id, person_id=None, can_write=True)
        tenant = Tenant(session, caller)
        people = [
            create_person(tenant, first_name=f"P{i}", last_name="L", email=f"p{i}.{suffix}@a.test").id for i in range(3)
        ]
        specs = [
            DeviceSpec(
                fields={"type": KINDS[i % 5], "serial_number": f"S{i}-{suffix}", "name": f"d{i}"},
                holder_id=people[i % 3] if i % 4 == 0 else None,
            )
            for i in range(130)
        ]
        create_devices(tenant, specs)
    with db.write() as session:
        tenant = Tenant(session, caller)
        for i in range(1, 130, 6):
            span, _ = ownership.take(tenant, ownership.Take(f"S{i}-{suffix}", f"d{i}", person_id=people[i % 3]))
            if i % 12 == 1:
                ownership.release(tenant, span.id)
        start = utcnow() + timedelta(days=3)
        ownership.take(tenant, ownership.Take(f"S2-{suffix}", "d2", start_time=start, person_id=people[1]))
    with db.write() as session:
        tenant = Tenant(session, caller)
        ids = [row[0] for row in session.execute(text(f"SELECT id FROM device WHERE company_id = {caller.company_id}"))]
        for device_id in ids[::9]:
            delete_device(tenant, device_id)
        for device_hex in (
            session.execute(
                text(
                    f"SELECT hex_id FROM device WHERE company_id = {caller.company_id} "
                    "AND type = 'LAPTOP' AND deleted_at IS NULL"
                )
            )
            .scalars()
            .all()[:6]
        ):
            management.assign_device(tenant, device_hex, None)
    return caller, people


def _ownership_counts(db: Database) -> tuple[dict[tuple[int, int], int], dict[tuple[int, int], int]]:
    """The kept counts and a fresh count, by company and shard (`device_id % 16`)."""
    with db.read() as session:
        kept = session.execute(text("SELECT company_id, shard, n FROM ownership_count WHERE n <> 0"))
        fresh = session.execute(
            text("SELECT company_id, device_id % 16, count(*) FROM ownership GROUP BY company_id, device_id % 16")
        )
        return {(int(c), int(s)): int(n) for c, s, n in kept}, {(int(c), int(s)): int(n) for c, s, n in fresh}


def test_the_kept_ownership_count_is_every_span(db: Database) -> None:
    caller, _ = _fleet(db)
    kept, fresh = _ownership_counts(db)
    spans = sum(n for (company, _), n in fresh.items() if company == caller.company_id)
    assert kept == fresh and spans > 30
    assert len([key for key in fresh if key[0] == caller.company_id]) > 1  # spread over shards
    with db.read() as session:
        _, total = ownership.list_ownerships(Tenant(session, caller), ownership.OwnershipQuery())
    assert total == spans


def test_pages_are_the_plain_querys_pages(db: Database) -> None:
    caller, people = _fleet(db)
    company = caller.company_id
    with db.read() as session:
        tenant = Tenant(session, caller)
        spans = f"SELECT id, person_id FROM ownership WHERE company_id = {company} ORDER BY id"
        span_persons = [(row[0], row[1]) for row in session.execute(text(spans))]
        span_ids = [i for i, _ in span_persons]
        listed = f"SELECT id FROM device WHERE company_id = {company} AND deleted_at IS NULL ORDER BY id"
        device_ids = session.execute(text(listed)).scalars().all()
        for limit, page in ((7, 1), (7, 3), (10, 5), (50, 2), (7, 100)):
            offset = (page - 1) * limit
            rows, total = ownership.list_ownerships(tenant, ownership.OwnershipQuery(page=page, limit=limit))
            assert total == len(span_ids) and [s.id for s, _ in rows] == span_ids[offset : offset + limit]
            mine = Tenant(session, Caller(company_id=company, person_id=people[0], can_write=False))
            own = [i for i, person in span_persons if person == people[0]]
            own_rows, own_total = ownership.list_ownerships(mine, ownership.OwnershipQuery(page=page, limit=limit))
            assert own_total == len(own) and [s.id for s, _ in own_rows] == own[offset : offset + limit]
            devices, count = ownership.list_owned_devices(tenant, ownership.DeviceLookup(page=page, limit=limit))
            assert count == len(device_ids) and [d.id for d in devices] == device_ids[offset : offset + limit]
    kinds = "('LAPTOP', 'TABLET', 'SMARTPHONE')"
    with db.snapshot() as reader:
        snapshot = TenantSnapshot(reader, caller)
        for kind in (None, "TABLET", "LAPTOP"):
            which = f"= '{kind}'" if kind else f"IN {kinds}"
            plain = f"SELECT hex_id FROM device WHERE company_id = {company} AND deleted_at IS NULL AND type {which}"
            expected = [row[0] for row in reader.rows(text(plain + " ORDER BY id"), {})]
            for per_page, page in ((7, 1), (7, 4), (20, 2), (20, 50)):
                query = management.DeviceFilter(page=page, per_page=per_page, type=kind)
                found = management.list_devices(snapshot, query)
                offset = (page - 1) * per_page
                assert found.total == len(expected)
                assert [item["id"] for item in found.items] == expected[offset : offset + per_page]
