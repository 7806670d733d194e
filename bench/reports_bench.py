"""Report ingestion benchmark: reports per second through `ingest_reports`, against a bare multi-row
INSERT into a same-shaped scratch table, on SQLite and PostgreSQL, same machine, same run. Every
batch is its own committed transaction, as one POST is. Prints figures; asserts nothing.

    .venv/bin/python bench/reports_bench.py [--reports 20000] [--rounds 3] [--postgres URL | --no-postgres]

Rows measured, per database and batch size (100, 1000):
  ingest_reports       the real path: validate, lock the device, ONE `INSERT ... SELECT` from a JSON
                       parameter, posture update, re-render of the stored device item
  bare VALUES          baseline: a prebuilt multi-row `INSERT ... VALUES (...), (...)` on a raw DBAPI
                       cursor into a scratch table of the same shape (columns, index, foreign
                       keys), nothing else (the ratio is against this row)
  bare JSON SELECT     the statement `ingest_reports` uses, on a raw cursor, nothing else
  SQLAlchemy .values() `insert(DeviceReport).values([...])`, one multi-row statement built per batch

SQLite runs on a fresh file in a temporary directory (WAL, synchronous=FULL as served). PostgreSQL
runs in a database this script creates and drops on the server at `--postgres` (default
`CUSTODY_TEST_POSTGRES_URL` or postgresql://postgres@127.0.0.1:5432/test)."""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import psycopg
from sqlalchemy import Column, ForeignKeyConstraint, Index, MetaData, Table, insert, select

from custody.db.engine import Database
from custody.db.models import Device, DeviceReport
from custody.domain import devices
from custody.domain.device_tokens import DeviceCaller
from custody.domain.people import create_company
from custody.domain.reports import FIELDS, Report, _insert_statement, _rows_json, ingest_reports
from custody.domain.tenancy import Caller, Tenant

SIZES = (100, 1000)
SCRATCH = "bench_report_scratch"
COLUMNS = ("company_id", "device_id", "received_at", *FIELDS)


def sqlite_text(value: datetime) -> str:
    """UTCDateTime's text on SQLite."""
    return value.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def batches(size: int, count: int, start: datetime) -> list[list[Report]]:
    """`count` batches of realistic reports, in time order (so each batch moves the posture)."""
    out = []
    for b in range(count):
        base = start + timedelta(minutes=b * size)
        out.append(
            [
                Report(
                    reported_at=base + timedelta(minutes=i),
                    os_name="macOS",
                    os_version="14.5",
                    build_version="23F79",
                    last_seen_at=base + timedelta(minutes=i, seconds=-30),
                    firewall_enabled=True,
                    disk_encrypted=True,
                    screen_lock_enabled=i % 7 != 0,
                    os_updates_enabled=True,
                    os_updates_available=i % 3 == 0,
                    compromised=False,
                )
                for i in range(size)
            ]
        )
    return out


def setup(db: Database) -> DeviceCaller:
    """A company with one device, and the same-shaped scratch table for the baselines."""
    with db.write() as session:
        company = create_company(session, f"Bench {uuid.uuid4().hex[:6]}")
        tenant = Tenant(session, Caller(company_id=company.id, person_id=None, can_write=True))
        devices.create_devices(tenant, [devices.DeviceSpec(fields={"name": "bench", "type": "LAPTOP"})])
        device_id = session.scalars(select(Device.id).where(Device.company_id == company.id)).one()
    # Same columns, index and foreign keys as device_report (on PostgreSQL the two foreign-key
    # checks are row triggers, a good part of an INSERT's cost): only the statement differs.
    metadata = MetaData()
    metadata.reflect(db.engine, only=["company", "device"])
    scratch = Table(
        SCRATCH,
        metadata,
        *(Column(c.name, c.type, primary_key=c.primary_key) for c in DeviceReport.__table__.c),
        ForeignKeyConstraint(["company_id"], ["company.id"]),
        ForeignKeyConstraint(["company_id", "device_id"], ["device.company_id", "device.id"]),
        Index(f"ix_{SCRATCH}_device", "device_id", "reported_at"),
    )
    scratch.drop(db.engine, checkfirst=True)
    scratch.create(db.engine)
    return DeviceCaller(company_id=company.id, device_id=device_id)


@contextmanager
def raw_cursor(db: Database) -> Iterator[tuple[Any, Callable[[], None]]]:
    """A raw DBAPI cursor and its commit; SQLite transactions begin as the served writers do."""
    connection = db.engine.raw_connection()
    cursor = connection.cursor()

    def commit() -> None:
        connection.commit()

    try:
        yield cursor, commit
    finally:
        connection.close()


def _begin(db: Database, cursor: Any) -> None:
    if db.dialect == "sqlite":
        cursor.execute("BEGIN IMMEDIATE")


def run_ingest(db: Database, device: DeviceCaller, work: list[list[Report]]) -> None:
    for batch in work:
        with db.write() as session:
            ingest_reports(session, device, batch)


def run_bare_values(db: Database, device: DeviceCaller, work: list[list[Report]]) -> None:
    mark = "?" if db.dialect == "sqlite" else "%s"
    row = "(" + ", ".join([mark] * len(COLUMNS)) + ")"
    sql = {
        size: f"INSERT INTO {SCRATCH} ({', '.join(COLUMNS)}) VALUES " + ", ".join([row] * size)
        for size in {len(b) for b in work}
    }

    def instant(value: datetime | None) -> Any:
        if value is None or db.dialect != "sqlite":
            return value
        return sqlite_text(value)

    with raw_cursor(db) as (cursor, commit):
        for batch in work:
            now = instant(datetime.now(UTC))
            params: list[Any] = []
            for r in batch:
                params += [device.company_id, device.device_id, now, instant(r.reported_at)]
                params += [r.os_name, r.os_version, r.build_version, instant(r.last_seen_at)]
                params += [r.firewall_enabled, r.disk_encrypted, r.screen_lock_enabled]
                params += [r.os_updates_enabled, r.os_updates_available, r.compromised]
            _begin(db, cursor)
            cursor.execute(sql[len(batch)], params)
            commit()


def run_bare_json(db: Database, device: DeviceCaller, work: list[list[Report]]) -> None:
    # The very statement `ingest_reports` runs, aimed at the scratch table, on a raw cursor.
    compiled = _insert_statement(db.dialect).compile(dialect=db.engine.dialect)
    sql = compiled.string.replace("INSERT INTO device_report ", f"INSERT INTO {SCRATCH} ", 1)
    with raw_cursor(db) as (cursor, commit):
        for batch in work:
            now = datetime.now(UTC)
            values = {
                **compiled.params,
                "rows": _rows_json(db.dialect, batch),
                "company_id": device.company_id,
                "device_id": device.device_id,
                "received_at": sqlite_text(now) if db.dialect == "sqlite" else now,
            }
            params = tuple(values[name] for name in compiled.positiontup or ()) if compiled.positional else values
            _begin(db, cursor)
            cursor.execute(sql, params)
            commit()


def run_sqlalchemy_values(db: Database, device: DeviceCaller, work: list[list[Report]]) -> None:
    for batch in work:
        now = datetime.now(UTC)
        rows = [
            {"company_id": device.company_id, "device_id": device.device_id, "received_at": now}
            | msgspec.structs.asdict(r)
            for r in batch
        ]
        with db.write() as session:
            session.execute(insert(DeviceReport).values(rows))


CASES: tuple[tuple[str, Callable[[Database, DeviceCaller, list[list[Report]]], None]], ...] = (
    ("ingest_reports", run_ingest),
    ("bare VALUES", run_bare_values),
    ("bare JSON SELECT", run_bare_json),
    ("SQLAlchemy .values()", run_sqlalchemy_values),
)


def measure(db: Database, total: int, rounds: int) -> list[tuple[int, str, float, float]]:
    """(batch size, case, reports/s, ms per batch) for every case and size: the best of `rounds`
    interleaved rounds, so a burst of load elsewhere on the machine hits every case alike."""
    device = setup(db)
    best: dict[tuple[int, str], tuple[float, float]] = {}
    # One report a minute from 2000 on: room for ten million reports before today.
    start = datetime(2000, 1, 1, tzinfo=UTC)
    for _ in range(rounds):
        for size in SIZES:
            count = max(total // size, 5)
            for name, run in CASES:
                # Slow cases get fewer batches; the rate is per report either way.
                work = batches(size, count if "SQLAlchemy" not in name else max(count // 10, 3), start)
                start = work[-1][-1].reported_at + timedelta(minutes=1)  # every batch is the newest yet
                run(db, device, work[:2])  # warm up: connections, statement caches
                started = time.perf_counter()
                run(db, device, work[2:])
                seconds = time.perf_counter() - started
                rate = sum(len(b) for b in work[2:]) / seconds
                if rate > best.get((size, name), (0.0, 0.0))[0]:
                    best[size, name] = (rate, 1000 * seconds / len(work[2:]))
    return [(size, name, rate, ms) for (size, name), (rate, ms) in best.items()]


def report(dialect: str, figures: list[tuple[int, str, float, float]]) -> None:
    print(f"\n{dialect}")
    print(f"  {'batch':>5}  {'case':<22} {'reports/s':>11} {'ms/batch':>9} {'vs bare VALUES':>15}")
    for size in SIZES:
        rows = [f for f in figures if f[0] == size]
        bare = next(rate for _, name, rate, _ in rows if name == "bare VALUES")
        for _, name, rate, ms in rows:
            print(f"  {size:>5}  {name:<22} {rate:>11,.0f} {ms:>9.2f} {rate / bare:>14.2f}x")


@contextmanager
def postgres_database(server: str) -> Iterator[str]:
    name = f"custody_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{server.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def bench(url: str, total: int, rounds: int) -> None:
    db = Database(url)
    db.upgrade()
    try:
        report(db.dialect, measure(db, total, rounds))
    finally:
        db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reports", type=int, default=20_000, help="reports per case, batch size and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the best of them is printed")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("CUSTODY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
        help="a PostgreSQL server database URL to create the bench database from",
    )
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="custody-reports-bench-") as tmp:
        bench(f"sqlite:///{Path(tmp) / 'bench.sqlite3'}", args.reports, args.rounds)
    if not args.no_postgres:
        try:
            with postgres_database(args.postgres) as url:
                bench(url, args.reports, args.rounds)
        except psycopg.OperationalError as error:
            print(f"\npostgresql: skipped ({str(error).strip()})")


if __name__ == "__main__":
    main()
