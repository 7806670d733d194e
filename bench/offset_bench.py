"""Deep list pages: `list_devices` (kept block counts, migration 0005) against the plain
`ORDER BY id LIMIT 50 OFFSET k` it replaced, in one process on one database, for the first page,
block boundaries, the middle and the deepest page (offset N-50), with and without a client_status
filter. Every compared page is checked equal. Times are the database part of a request: a read
snapshot, the page and the total, median of repeated runs.

    .venv/bin/python bench/offset_bench.py --devices 1000000          # fresh SQLite file, built here
    CUSTODY_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/offsets .venv/bin/python bench/offset_bench.py
    .venv/bin/python bench/offset_bench.py --url sqlite:////tmp/fleet.db --company 1   # an existing fleet

The built fleet: one big company of 1,000 devices made by `create_devices` (statuses drawn with the
demo's weights) and copied by plain INSERT ... SELECT until it has N (the device triggers keep the
counts and the search index), with three small companies' devices interleaved between the copies."""

from __future__ import annotations

import argparse
import functools
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from custody.db.engine import Database
from custody.db.models import Device
from custody.demo import DEVICE_STATUS_WEIGHTS
from custody.domain.devices import DeviceQuery, DeviceSpec, _list_statements, create_devices, list_devices
from custody.domain.people import create_company
from custody.domain.tenancy import Caller, Tenant, TenantSnapshot

SEED = 1_000
# Copied columns: all but the ones that must differ per row (or be fresh).
_FRESH = {"id", "hex_id", "serial_number", "holder_id"}


def _seed(db: Database, company_id: int, count: int, rng: random.Random) -> None:
    statuses, weights = list(DEVICE_STATUS_WEIGHTS), list(DEVICE_STATUS_WEIGHTS.values())
    with db.write() as session:
        tenant = Tenant(session, Caller(company_id=company_id, person_id=None, can_write=True))
        specs = [
            DeviceSpec(
                fields={
                    "name": f"Device {i}",
                    "type": rng.choice(("LAPTOP", "SCREEN", "SMARTPHONE")),
                    "client_status": rng.choices(statuses, weights)[0],
                }
            )
            for i in range(count)
        ]
        create_devices(tenant, specs)


def build(db: Database, devices: int) -> int:
    """The fleet described above; returns the big company's id."""
    rng = random.Random(5)
    db.upgrade()
    with db.write() as session:
        big = create_company(session, f"Big {uuid.uuid4().hex[:6]}").id
        small = [create_company(session, f"Small {i}").id for i in range(3)]
    _seed(db, big, min(SEED, devices), rng)
    columns = [c.name for c in Device.__table__.c if c.name not in _FRESH]
    fresh_hex = "lower(hex(randomblob(12)))" if db.dialect == "sqlite" else "substr(md5(random()::text), 1, 24)"
    have = min(SEED, devices)
    started = time.perf_counter()
    while have < devices:
        for company in small:
            _seed(db, company, 10, rng)
        copy = min(have, devices - have)
        with db.write() as session:
            session.execute(
                text(
                    f"INSERT INTO device (hex_id, {', '.join(columns)}) "
                    f"SELECT {fresh_hex}, {', '.join(columns)} FROM device WHERE company_id = :c "
                    "ORDER BY id LIMIT :n"
                ),
                {"c": big, "n": copy},
            )
        have += copy
        print(f"  {have:,} devices ({time.perf_counter() - started:.0f} s)", flush=True)
    with db.engine.connect() as conn:
        conn.execute(text("ANALYZE"))
        conn.commit()
    return big


def median_ms(fn: Callable[[], Any], runs: int) -> float:
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def measure(db: Database, company_id: int, runs: int) -> None:
    caller = Caller(company_id=company_id, person_id=None, can_write=False)

    def new(query: DeviceQuery) -> tuple[list[str], int]:
        with db.snapshot() as reader:
            return list_devices(TenantSnapshot(reader, caller), query)

    def plain(query: DeviceQuery) -> tuple[list[str], int]:
        """The 0004 path: the page by OFFSET alone, then the kept total."""
        page, count = _list_statements(query.client_status is not None, False)
        params = {"limit": query.limit, "offset": query.offset, "client_status": query.client_status}
        with db.snapshot() as reader:
            tenant = TenantSnapshot(reader, caller)
            return [row[0] for row in tenant.rows(page, params)], int(tenant.rows(count, params)[0][0])

    print(f"{'filter':<12} {'offset':>9} {'plain OFFSET ms':>16} {'block counts ms':>16}")
    for status in (None, "IN_SERVICE", "SHIPPED"):
        total = new(DeviceQuery(limit=1, client_status=status))[1]
        offsets = sorted({0, 50, 1024, total // 2, max(total - 50, 0)})
        for offset in offsets:
            query = DeviceQuery(limit=50, offset=offset, client_status=status)
            assert new(query) == plain(query), (status, offset)
            deep = offset * 20 > total
            before = median_ms(functools.partial(plain, query), max(3, runs // 20) if deep else runs)
            after = median_ms(functools.partial(new, query), runs)
            print(f"{status or 'all':<12} {offset:>9,} {before:>16.3f} {after:>16.3f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=1_000_000, help="devices of the built big company")
    parser.add_argument("--url", help="an existing, migrated fleet (with --company) instead of building one")
    parser.add_argument("--company", type=int, help="the company of --url to page through")
    parser.add_argument("--runs", type=int, default=200, help="timed runs per row")
    parser.add_argument("--keep", action="store_true", help="keep the built PostgreSQL database")
    args = parser.parse_args()
    if args.url:
        db = Database(args.url)
        db.upgrade()
        measure(db, args.company, args.runs)
        return
    url = os.environ.get("CUSTODY_DATABASE_URL")
    with tempfile.TemporaryDirectory() as directory:
        created = None
        if url is None:
            url = f"sqlite:///{directory}/offsets.sqlite3"
        elif make_url(url).get_backend_name() == "postgresql":
            created = make_url(url).database
            admin = make_url(url).set(drivername="postgresql", database="postgres").render_as_string(False)
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{created}"')
        db = Database(url)
        try:
            print(f"building {args.devices:,} devices on {db.dialect}")
            company = build(db, args.devices)
            measure(db, company, args.runs)
        finally:
            db.dispose()
            if created and not args.keep:
                with psycopg.connect(admin, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE "{created}" WITH (FORCE)')


if __name__ == "__main__":
    main()
