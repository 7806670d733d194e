"""Deep list pages served from the kept block counts (migration 0005) read exactly the page a plain
`ORDER BY id LIMIT OFFSET` reads, from either end of the list, after deletes, restores and
status changes shift the rows before them; and the kept counts equal a fresh GROUP BY."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Select, text

from custody.db.engine import Database
from custody.domain import devices
from custody.domain.devices import BLOCK, BLOCK_BITS, DeviceChanges, DeviceQuery, DeviceSpec, _block_page
from custody.domain.keys import create_key, hash_token
from custody.domain.people import create_company
from custody.domain.tenancy import Caller, Tenant, TenantSnapshot

# Company A's devices by status: IN_SERVICE spans several blocks with more than BLOCK of them, so
# its filtered pages take the block path too; SHIPPED is sparse (fewer than BLOCK: `list_devices`
# pages it by plain OFFSET, the block statements are checked on it all the same).
MIX = ("IN_SERVICE",) * 6 + ("AVAILABLE",) * 3 + ("SHIPPED",)
FILTERS = (None, "IN_SERVICE", "AVAILABLE", "SHIPPED")


def _create(db: Database, caller: Caller, count: int, start: int) -> None:
    with db.write() as session:
        specs = [
            DeviceSpec(fields={"name": f"D{i}", "client_status": MIX[i % len(MIX)]})
            for i in range(start, start + count)
        ]
        devices.create_devices(Tenant(session, caller), specs)


@pytest.fixture
def two_fleets(db: Database) -> Iterator[tuple[Caller, Caller]]:
    """Company A (about 4,500 devices) and B (about 2,000), created in alternating batches so that
    their ids interleave and both span several blocks."""
    suffix = uuid.uuid4().hex[:8]
    with db.write() as session:
        a = Caller(company_id=create_company(session, f"A {suffix}").id, person_id=None, can_write=True)
        b = Caller(company_id=create_company(session, f"B {suffix}").id, person_id=None, can_write=True)
    made = {a: 0, b: 0}
    for caller, count in ((a, 700), (b, 300), (a, 1300), (b, 900), (a, 500), (b, 800), (a, 2000)):
        _create(db, caller, count, made[caller])
        made[caller] += count
    yield a, b


def reference(db: Database, company_id: int, status: str | None) -> list[bytes]:
    """Every listed doc of the company (of that status) in id order, by a plain query, as the
    list returns them (UTF-8 bytes)."""
    sql = "SELECT doc FROM device WHERE company_id = :c AND deleted_at IS NULL"
    if status is not None:
        sql += " AND client_status = :s"
    with db.read() as session:
        found = session.execute(text(sql + " ORDER BY id"), {"c": company_id, "s": status}).scalars()
        return [doc.encode() for doc in found]


def listed_ids(db: Database, company_id: int, status: str | None = None) -> list[int]:
    sql = "SELECT id FROM device WHERE company_id = :c AND deleted_at IS NULL"
    if status is not None:
        sql += " AND client_status = :s"
    with db.read() as session:
        return list(session.execute(text(sql + " ORDER BY id"), {"c": company_id, "s": status}).scalars())


def offsets_to_check(ids: list[int], rng: random.Random) -> list[int]:
    """Around every block boundary, both ends, the middle, past the end, and a few at random."""
    total = len(ids)
    picked = {0, 1, BLOCK - 1, BLOCK, BLOCK + 1, total // 2 - 1, total // 2, total // 2 + 1}
    picked |= {total - 51, total - 50, total - 49, total - 1, total, total + 1, total + BLOCK}
    for position in range(1, total):
        if ids[position] >> BLOCK_BITS != ids[position - 1] >> BLOCK_BITS:  # first row of a block
            picked |= {position - 1, position, position + 1}
    picked |= {rng.randrange(total + 1) for _ in range(10)}
    return sorted(o for o in picked if o >= 0)


def check_pages(db: Database, caller: Caller, rng: random.Random) -> int:
    """Every checked page, of every filter, equals the reference's slice: through `list_devices` on
    the read snapshot and on a session, through each direction of the block statement, and on
    PostgreSQL through `keyed_page` (whose one statement picks the direction itself)."""
    with db.write() as session:
        token_hash = hash_token(create_key(Tenant(session, caller), person_id=None, read_only=True)[1])
    checked = 0
    for status in FILTERS:
        expected_all = reference(db, caller.company_id, status)
        ids = listed_ids(db, caller.company_id, status)
        total = len(expected_all)
        for offset in offsets_to_check(ids, rng):
            for limit in (50, 1):
                query = DeviceQuery(limit=limit, offset=offset, client_status=status)
                expected = (expected_all[offset : offset + limit], total)
                with db.snapshot() as reader:
                    snapshot = TenantSnapshot(reader, caller)
                    assert devices.list_devices(snapshot, query) == expected, (status, offset, limit)
                    params = {"limit": limit, "offset": offset, "client_status": status}
                    for from_end in (False, True):
                        statement = _block_page(status is not None, from_end)  # not through the spy
                        docs = [row[0] for row in snapshot.rows(statement, params)]
                        assert docs == expected[0], (status, offset, limit, from_end)
                if db.dialect == "postgresql":
                    with db.statement() as reader:
                        keyed = devices.keyed_page(reader, token_hash, query)
                    assert keyed is not None and keyed[1:] == expected, (status, offset, limit)
                checked += 1
        with db.read() as session:  # the ORM session's path binds its parameters itself
            for offset in (BLOCK, total // 2, total - 50):
                got = devices.list_devices(Tenant(session, caller), DeviceQuery(offset=offset, client_status=status))
                assert got == (expected_all[offset : offset + 50], total)
    return checked


def kept_blocks(db: Database) -> tuple[dict[tuple[int, str, int], int], dict[tuple[int, str, int], int]]:
    """The kept block counts (rows of 0 left out), and the same counted afresh from the devices."""
    with db.read() as session:
        kept = session.execute(text("SELECT company_id, client_status, block, n FROM device_block_count WHERE n <> 0"))
        fresh = session.execute(
            text(
                f"SELECT company_id, client_status, id >> {BLOCK_BITS}, count(*) FROM device "
                f"WHERE deleted_at IS NULL GROUP BY company_id, client_status, id >> {BLOCK_BITS} "
                f"UNION ALL SELECT company_id, '', id >> {BLOCK_BITS}, count(*) FROM device "
                f"WHERE deleted_at IS NULL GROUP BY company_id, id >> {BLOCK_BITS}"
            )
        )
        return {(c, s, int(k)): int(n) for c, s, k, n in kept}, {(c, s, int(k)): int(n) for c, s, k, n in fresh}


def test_deep_pages_equal_plain_offset_after_changes(
    db: Database, two_fleets: tuple[Caller, Caller], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = two_fleets
    rng = random.Random(7)
    a_ids, b_ids = listed_ids(db, a.company_id), listed_ids(db, b.company_id)
    assert a_ids[0] < b_ids[0] < a_ids[-1] and b_ids[-1] < a_ids[-1]  # interleaved
    assert len({i >> BLOCK_BITS for i in a_ids}) >= 4
    assert len(listed_ids(db, a.company_id, "IN_SERVICE")) > 2 * BLOCK  # its filtered pages go deep too
    # `list_devices` really serves deep pages from the block counts, from the nearer end.
    used: list[tuple[bool, bool]] = []

    def spy(status: bool, from_end: bool) -> Select[Any]:
        used.append((status, from_end))
        return _block_page(status, from_end)

    monkeypatch.setattr(devices, "_block_page", spy)
    assert check_pages(db, a, rng) > 100
    assert {(False, False), (False, True), (True, False), (True, True)} <= set(used)
    check_pages(db, b, rng)

    # Through the domain: soft deletes and status changes in A's first blocks, one at a time.
    with db.write() as session:
        tenant = Tenant(session, a)
        for device_id in a_ids[:300:3]:
            devices.delete_device(tenant, device_id)
        for device_id in a_ids[1:600:3]:
            devices.update_device(tenant, device_id, DeviceChanges(fields={"client_status": "SHIPPED"}))
    check_pages(db, a, rng)

    # Plain SQL, many rows per statement (PostgreSQL's statement triggers see them all at once): a
    # whole block of A emptied, IN_SERVICE devices of the next ones moved to AVAILABLE, B's first
    # devices deleted for good, and some of A's deleted devices listed again.
    a_ids = listed_ids(db, a.company_id)
    first_block = a_ids[len(a_ids) // 4] >> BLOCK_BITS
    with db.write() as session:
        params = {"a": a.company_id, "b": b.company_id, "lo": first_block * BLOCK, "hi": (first_block + 1) * BLOCK}
        session.execute(
            text("UPDATE device SET deleted_at = updated_at WHERE company_id = :a AND id >= :lo AND id < :hi"), params
        )
        session.execute(
            text(
                "UPDATE device SET client_status = 'AVAILABLE' WHERE company_id = :a AND id >= :hi "
                "AND id < :hi + 2 * 1024 AND client_status = 'IN_SERVICE' AND id % 2 = 0"
            ),
            params,
        )
        session.execute(
            text("DELETE FROM device WHERE id IN (SELECT id FROM device WHERE company_id = :b LIMIT 150)"), params
        )
        session.execute(
            text("UPDATE device SET deleted_at = NULL WHERE company_id = :a AND id < :lo AND deleted_at IS NOT NULL"),
            params,
        )
    _create(db, a, 300, 10_000)  # and new ones at the end
    assert not [i for i in listed_ids(db, a.company_id) if first_block * BLOCK <= i < (first_block + 1) * BLOCK]
    check_pages(db, a, rng)
    check_pages(db, b, rng)

    kept, fresh = kept_blocks(db)
    assert kept == fresh

    total = len(listed_ids(db, a.company_id))
    with db.snapshot() as reader:  # far past the end: empty, with the total, without a walk
        assert devices.list_devices(TenantSnapshot(reader, a), DeviceQuery(offset=devices.OFFSET_CAP)) == ([], total)
