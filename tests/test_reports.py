"""Device tokens and device reports at the domain level, on both databases: batch ingestion (one
INSERT), the MDM posture it drives, and seed 001's rule for reading them (a person reads a device's
data only inside its ownership spans)."""

from __future__ import annotations

import json
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import func, select

from custody.apis.ownership.params import parse_bound
from custody.apis.ownership.schemas import micros
from custody.db.engine import Database
from custody.db.models import Device, DeviceReport, MdmEnrollment, Ownership
from custody.domain import devices
from custody.domain.device_tokens import (
    DeviceCaller,
    authenticate_device,
    create_device_token,
    revoke_device_token,
)
from custody.domain.errors import Forbidden, InvalidInput, NotFound
from custody.domain.keys import create_key
from custody.domain.people import create_company, create_person
from custody.domain.reports import (
    FUTURE_SKEW,
    MAX_BATCH,
    Report,
    ReportQuery,
    ingest_reports,
    list_reports,
)
from custody.domain.tenancy import Caller, Tenant
from custody.domain.timefmt import utcnow
from tests.conftest import run_cli, statements

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def at(hours: float, microseconds: int = 0) -> datetime:
    return T0 + timedelta(hours=hours, microseconds=microseconds)


@dataclass(frozen=True)
class World:
    a: Caller  # company A's admin
    b: Caller  # company B's admin
    ada: int
    bob: int
    device: int  # company A
    other_device: int  # company A, never owned by anyone
    b_device: int  # company B


def _new_device(tenant: Tenant, name: str) -> int:
    devices.create_devices(tenant, [devices.DeviceSpec(fields={"name": name, "type": "LAPTOP", "category": "C"})])
    stmt = tenant.columns(Device, func.max(Device.id)).where(Device.name == name)
    found: int = tenant.execute(stmt).scalar_one()
    return found


@pytest.fixture
def world(db: Database) -> World:
    suffix = uuid.uuid4().hex[:8]
    with db.write() as session:
        a = create_company(session, f"A {suffix}")
        b = create_company(session, f"B {suffix}")
        ca = Caller(company_id=a.id, person_id=None, can_write=True)
        cb = Caller(company_id=b.id, person_id=None, can_write=True)
        ta, tb = Tenant(session, ca), Tenant(session, cb)
        ada = create_person(ta, first_name="Ada", last_name="Lovelace", email=f"ada.{suffix}@a.test")
        bob = create_person(ta, first_name="Bob", last_name="Marley", email=f"bob.{suffix}@a.test")
        return World(
            a=ca,
            b=cb,
            ada=ada.id,
            bob=bob.id,
            device=_new_device(ta, f"laptop-{suffix}"),
            other_device=_new_device(ta, f"spare-{suffix}"),
            b_device=_new_device(tb, f"b-laptop-{suffix}"),
        )


def as_device(world: World, device_id: int | None = None) -> DeviceCaller:
    return DeviceCaller(company_id=world.a.company_id, device_id=device_id or world.device)


def ingest(db: Database, device: DeviceCaller, batch: list[Report]) -> int:
    with db.write() as session:
        return ingest_reports(session, device, batch)


def stored_times(db: Database, device_id: int) -> list[datetime]:
    with db.read() as session:
        stmt = select(DeviceReport.reported_at).where(DeviceReport.device_id == device_id)
        return sorted(session.scalars(stmt))


def enrollment(db: Database, device_id: int) -> MdmEnrollment | None:
    with db.read() as session:
        return session.scalars(select(MdmEnrollment).where(MdmEnrollment.device_id == device_id)).one_or_none()


def stored_mdm(db: Database, device_id: int) -> dict[str, Any] | None:
    """The `mdm` object of the company devices API's stored item."""
    with db.read() as session:
        doc = session.scalars(select(Device.doc).where(Device.id == device_id)).one()
    mdm: dict[str, Any] | None = json.loads(doc)["mdm"]
    return mdm


# --- ingestion ---------------------------------------------------------------------------------


def test_a_full_batch_is_one_insert_statement(db: Database, world: World) -> None:
    batch = [Report(reported_at=at(i / 60), os_name="macOS", firewall_enabled=True) for i in range(MAX_BATCH)]
    with statements(db) as seen:
        assert ingest(db, as_device(world), batch) == MAX_BATCH
    inserts = [s for s in seen if s.upper().startswith("INSERT INTO DEVICE_REPORT")]
    assert len(inserts) == 1
    assert len(seen) < 30, seen  # a few per batch (lock, posture, stored item), none per report
    assert stored_times(db, world.device) == sorted(r.reported_at for r in batch)


def test_a_posture_change_rewrites_the_item_not_the_search_words(db: Database, world: World) -> None:
    with statements(db) as seen:
        ingest(db, as_device(world), [Report(reported_at=at(1), os_name="macOS", firewall_enabled=True)])
    updates = [s for s in seen if s.upper().startswith("UPDATE DEVICE ")]
    assert updates, seen
    assert all("search_text" not in s for s in updates), updates  # unchanged words are not re-indexed
    item = stored_mdm(db, world.device)
    assert item is not None and item["firewall_enabled"] is True


def test_a_newer_posture_is_one_update_of_the_enrollment(db: Database, world: World) -> None:
    ingest(db, as_device(world), [Report(reported_at=at(1), os_name="macOS")])  # enrolls the device
    with statements(db) as seen:
        ingest(db, as_device(world), [Report(reported_at=at(2), os_name="macOS", os_version="15.2")])
    posture = [s for s in seen if "MDM_ENROLLMENT" in s.upper() and not s.upper().startswith("SELECT DEVICE")]
    # The conditional UPDATE decides and writes; rendering the item reads the row once more.
    assert [s.split()[0].upper() for s in posture] == ["UPDATE", "SELECT"], posture
    mdm = enrollment(db, world.device)
    assert mdm is not None and mdm.os_version == "15.2" and mdm.last_sync_date == at(2)


def test_the_newest_report_becomes_the_posture_and_enrolls_the_device(db: Database, world: World) -> None:
    assert enrollment(db, world.device) is None
    newest = Report(
        reported_at=at(5),
        os_name="macOS",
        os_version="14.5",
        build_version="23F79",
        last_seen_at=at(4.5),
        firewall_enabled=True,
        disk_encrypted=True,
        screen_lock_enabled=False,
        os_updates_enabled=True,
        os_updates_available=False,
        compromised=False,
    )
    # Out of order within the batch: the newest wins, the earliest is the enrollment date.
    ingest(db, as_device(world), [Report(reported_at=at(3), os_name="old"), newest, Report(reported_at=at(2))])
    mdm = enrollment(db, world.device)
    assert mdm is not None
    assert mdm.status == "ENROLLED"
    assert mdm.enrollment_date == at(2)
    assert (mdm.os_name, mdm.os_version, mdm.build_version) == ("macOS", "14.5", "23F79")
    assert (mdm.last_sync_date, mdm.last_seen_date) == (at(5), at(4.5))
    assert (mdm.firewall_enabled, mdm.is_encrypted, mdm.screenlock_enabled) == (True, True, False)
    assert (mdm.os_updates_enabled, mdm.os_updates_available, mdm.is_compromised) == (True, False, False)
    item = stored_mdm(db, world.device)
    assert item is not None
    assert item["status"] == "ENROLLED"
    assert item["firewall_enabled"] is True
    assert item["last_sync_date"] == "2024-01-01T05:00:00Z"
    assert item["last_seen_date"] == "2024-01-01T04:30:00Z"
    assert item["enrollment_date"] == "2024-01-01T02:00:00Z"


def test_an_older_batch_does_not_overwrite_a_newer_posture(db: Database, world: World) -> None:
    device = as_device(world)
    ingest(db, device, [Report(reported_at=at(5), os_version="14.5", firewall_enabled=True)])
    ingest(db, device, [Report(reported_at=at(1), os_version="13.0", firewall_enabled=False)])
    ingest(db, device, [Report(reported_at=at(5), os_version="14.4")])  # as new, not newer: kept
    mdm = enrollment(db, world.device)
    assert mdm is not None
    assert (mdm.os_version, mdm.firewall_enabled, mdm.last_sync_date) == ("14.5", True, at(5))
    assert mdm.enrollment_date == at(5)  # the first report received enrolled it
    assert len(stored_times(db, world.device)) == 3  # every report is kept all the same
    ingest(db, device, [Report(reported_at=at(6), os_version="14.6")])  # newer: taken, nulls too
    mdm = enrollment(db, world.device)
    assert mdm is not None
    assert (mdm.os_version, mdm.firewall_enabled, mdm.last_seen_date) == ("14.6", None, at(6))
    item = stored_mdm(db, world.device)
    assert item is not None
    assert item["firewall_enabled"] is None
    assert item["last_sync_date"] == "2024-01-01T06:00:00Z"


def test_an_existing_enrollment_keeps_its_status_and_newer_last_seen(db: Database, world: World) -> None:
    with db.write() as session:  # enrolled by other means, seen at 10h
        session.add(
            MdmEnrollment(
                company_id=world.a.company_id,
                device_id=world.device,
                status="IDENTIFIED",
                local_name="x",
                last_seen_date=at(10),
            )
        )
    ingest(db, as_device(world), [Report(reported_at=at(1), os_name="Windows")])
    mdm = enrollment(db, world.device)
    assert mdm is not None
    assert (mdm.os_name, mdm.last_seen_date, mdm.last_sync_date) == (None, at(10), None)
    ingest(db, as_device(world), [Report(reported_at=at(11), os_name="Windows")])
    mdm = enrollment(db, world.device)
    assert mdm is not None
    assert (mdm.status, mdm.local_name, mdm.os_name, mdm.enrollment_date) == ("IDENTIFIED", "x", "Windows", None)
    assert (mdm.last_seen_date, mdm.last_sync_date) == (at(11), at(11))


def test_concurrent_first_batches_enroll_the_device_once(db: Database, world: World) -> None:
    """The device row is locked per batch: racing first batches make one enrollment, not a
    unique-key failure, and the newest report wins whatever the commit order."""
    device = as_device(world)
    work = [[Report(reported_at=at(i + j / 100), os_version=f"{i}") for j in range(50)] for i in range(8)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        assert sum(pool.map(lambda batch: ingest(db, device, batch), work)) == 400
    mdm = enrollment(db, world.device)
    assert mdm is not None
    assert (mdm.os_version, mdm.last_sync_date) == ("7", at(7.49))
    assert len(stored_times(db, world.device)) == 400


def _bad_batches(now: datetime) -> list[tuple[str, list[Report]]]:
    good = [Report(reported_at=at(i)) for i in range(3)]
    return [
        ("empty", []),
        ("too many", [Report(reported_at=at(0))] * (MAX_BATCH + 1)),
        ("naive", [*good, Report(reported_at=datetime(2024, 1, 1))]),
        ("in the future", [*good, Report(reported_at=now + FUTURE_SKEW + timedelta(minutes=1))]),
        ("before 1970", [*good, Report(reported_at=datetime(1969, 12, 31, 23, tzinfo=UTC))]),
        ("year 1 with an offset", [*good, Report(reported_at=datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))))]),
        ("seen after reported", [*good, Report(reported_at=at(1), last_seen_at=at(2))]),
        ("NUL", [*good, Report(reported_at=at(1), os_name="mac\x00OS")]),
        ("too long", [*good, Report(reported_at=at(1), build_version="x" * 101)]),
        ("lone surrogate", [*good, Report(reported_at=at(1), os_version="\ud800")]),
        ("not a flag", [*good, Report(reported_at=at(1), compromised=1)]),  # type: ignore[arg-type]
    ]


@pytest.mark.parametrize("case", range(len(_bad_batches(T0))))
def test_an_invalid_batch_is_refused_and_nothing_is_written(db: Database, world: World, case: int) -> None:
    name, batch = _bad_batches(utcnow())[case]
    with pytest.raises(InvalidInput):
        ingest(db, as_device(world), batch)
    assert stored_times(db, world.device) == [], name
    assert enrollment(db, world.device) is None, name


def test_a_little_clock_skew_and_any_offset_are_accepted(db: Database, world: World) -> None:
    soon = utcnow() + FUTURE_SKEW - timedelta(seconds=30)
    paris = timezone(timedelta(hours=2))
    ingest(db, as_device(world), [Report(reported_at=soon), Report(reported_at=datetime(2024, 1, 1, 8, tzinfo=paris))])
    assert stored_times(db, world.device)[0] == at(6)


def test_a_deleted_or_foreign_device_takes_no_reports(db: Database, world: World) -> None:
    with pytest.raises(NotFound):  # company A's caller naming company B's device
        ingest(db, as_device(world, world.b_device), [Report(reported_at=at(1))])
    with db.write() as session:
        devices.delete_device(Tenant(session, world.a), world.device)
    with pytest.raises(NotFound):
        ingest(db, as_device(world), [Report(reported_at=at(1))])
    with db.write() as session, pytest.raises(Forbidden):  # a tenant of another company
        ingest_reports(Tenant(session, world.b), as_device(world, world.other_device), [Report(reported_at=at(1))])


def test_rows_written_through_json_are_stored_like_orm_rows(db: Database, world: World) -> None:
    """The batch INSERT builds its instants itself (SQLite keeps them as text): they must equal,
    compare and read back exactly like instants the ORM writes."""
    values = [at(1), at(2) + timedelta(microseconds=5), at(3) + timedelta(microseconds=500_000), at(4, 999_999)]
    ingest(db, as_device(world), [Report(reported_at=v, last_seen_at=v) for v in values])
    with db.write() as session:  # the same instants through the ORM, on another device
        for v in values:
            session.add(
                DeviceReport(
                    company_id=world.a.company_id,
                    device_id=world.other_device,
                    reported_at=v,
                    received_at=v,
                    last_seen_at=v,
                )
            )
    assert stored_times(db, world.device) == values
    with db.read() as session:
        for v in values:
            same = select(func.count()).where(
                DeviceReport.reported_at == v,
                DeviceReport.last_seen_at == v,
                DeviceReport.device_id.in_([world.device, world.other_device]),
            )
            assert session.scalar(same) == 2, v
        if db.dialect == "sqlite":  # byte for byte the same text
            quoted = select(func.quote(DeviceReport.reported_at), func.quote(DeviceReport.last_seen_at))
            texts = {
                device: session.execute(
                    quoted.where(DeviceReport.device_id == device).order_by(DeviceReport.reported_at)
                ).all()
                for device in (world.device, world.other_device)
            }
            assert texts[world.device] == texts[world.other_device]


# --- reading: seed 001's rule ------------------------------------------------------------------


def _span(tenant: Tenant, device: int, person: int, start: float, end: float | None) -> None:
    tenant.add(
        Ownership(
            company_id=tenant.company_id,
            device_id=device,
            person_id=person,
            start_time=at(start),
            end_time=None if end is None else at(end),
        )
    )


@pytest.fixture
def history(db: Database, world: World) -> World:
    """Ada held the device over [1h, 3h) and [6h, 8h); Bob over [3h, 5h) and from 8h on (open);
    nobody over [0h, 1h) and [5h, 6h). The device reported every half hour from 0h to 10h."""
    with db.write() as session:
        tenant = Tenant(session, world.a)
        _span(tenant, world.device, world.ada, 1, 3)
        _span(tenant, world.device, world.bob, 3, 5)
        _span(tenant, world.device, world.ada, 6, 8)
        _span(tenant, world.device, world.bob, 8, None)
    ingest(db, as_device(world), [Report(reported_at=at(h / 2), os_name=f"r{h}") for h in range(21)])
    return world


def read(db: Database, caller: Caller, device: int, query: ReportQuery | None = None) -> tuple[list[float], int]:
    """The hours of the reports the caller reads, and the total it is told."""
    with db.read() as session:
        rows, total = list_reports(Tenant(session, caller), device, query or ReportQuery(limit=1000))
    return [(r.reported_at - T0) / timedelta(hours=1) for r in rows], total


def person(world: World, person_id: int) -> Caller:
    return Caller(company_id=world.a.company_id, person_id=person_id, can_write=False)


def test_a_person_reads_exactly_the_reports_inside_its_spans(db: Database, history: World) -> None:
    w = history
    # Span starts are included, span ends excluded; the gap and Bob's span in between are not Ada's.
    assert read(db, person(w, w.ada), w.device) == ([1, 1.5, 2, 2.5, 6, 6.5, 7, 7.5], 8)
    # Bob's last span is open: everything from 8h on.
    assert read(db, person(w, w.bob), w.device) == ([3, 3.5, 4, 4.5, 8, 8.5, 9, 9.5, 10], 9)


def test_a_company_key_reads_every_report(db: Database, history: World) -> None:
    hours, total = read(db, history.a, history.device)
    assert hours == [h / 2 for h in range(21)]
    assert total == 21


def test_a_window_is_intersected_with_the_spans(db: Database, history: World) -> None:
    w, ada = history, person(history, history.ada)
    assert read(db, ada, w.device, ReportQuery(start=at(2), end=at(7))) == ([2, 2.5, 6, 6.5], 4)
    assert read(db, ada, w.device, ReportQuery(start=at(2.5), end=at(2.5))) == ([], 0)
    assert read(db, ada, w.device, ReportQuery(start=at(3), end=at(6))) == ([], 0)  # Bob's time and the gap
    assert read(db, w.a, w.device, ReportQuery(start=at(3), end=at(6))) == ([3, 3.5, 4, 4.5, 5, 5.5], 6)
    with pytest.raises(InvalidInput):
        read(db, ada, w.device, ReportQuery(start=at(6), end=at(3)))


def test_pages_follow_the_visible_reports(db: Database, history: World) -> None:
    w, ada = history, person(history, history.ada)
    assert read(db, ada, w.device, ReportQuery(page=1, limit=3)) == ([1, 1.5, 2], 8)
    assert read(db, ada, w.device, ReportQuery(page=3, limit=3)) == ([7, 7.5], 8)
    assert read(db, ada, w.device, ReportQuery(page=4, limit=3)) == ([], 8)
    assert read(db, ada, w.device, ReportQuery(page=2**40, limit=1000)) == ([], 8)


def test_a_device_never_owned_or_of_another_company_is_not_found(db: Database, history: World) -> None:
    w = history
    assert read(db, w.a, w.other_device) == ([], 0)  # the company's own device without reports
    with pytest.raises(NotFound):  # a device Ada never held: as if it did not exist
        read(db, person(w, w.ada), w.other_device)
    with pytest.raises(NotFound):  # another company's device, for its admin and its people
        read(db, w.b, w.device)
    with pytest.raises(NotFound):
        read(db, w.a, w.b_device)
    with pytest.raises(NotFound):
        read(db, w.a, 2**63)


# --- device tokens -----------------------------------------------------------------------------


TOKEN = re.compile(r"^cdt_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$")


def new_token(db: Database, caller: Caller, device: int) -> tuple[str, str]:
    with db.write() as session:
        row, token = create_device_token(Tenant(session, caller), device)
        return token, row.prefix


def auth(db: Database, token: str) -> DeviceCaller | None:
    with db.snapshot() as reader:
        return authenticate_device(reader, f"Bearer {token}")


def test_device_tokens_authenticate_their_device_until_revoked(db: Database, world: World) -> None:
    first, first_prefix = new_token(db, world.a, world.device)
    second, _ = new_token(db, world.a, world.device)
    assert TOKEN.match(first)
    assert first.startswith(first_prefix + "_")
    for token in (first, second):  # several live tokens per device
        found = auth(db, token)
        assert found is not None
        assert (found.company_id, found.device_id) == (world.a.company_id, world.device)
    with db.read() as session:  # the same lookup through a session
        assert authenticate_device(session, f"bearer {first}") == auth(db, first)
    with db.write() as session:
        revoke_device_token(session, first_prefix)
    assert auth(db, first) is None
    assert auth(db, second) is not None
    with db.write() as session:
        revoke_device_token(session, second)
        revoke_device_token(session, second)  # twice is fine
    assert auth(db, second) is None
    with db.write() as session, pytest.raises(NotFound):
        revoke_device_token(session, "cdt_00000000")


def test_device_tokens_and_api_keys_are_not_interchangeable(db: Database, world: World) -> None:
    token, _ = new_token(db, world.a, world.device)
    with db.write() as session:
        _, api_key = create_key(Tenant(session, world.a), person_id=None, read_only=False)
    assert auth(db, api_key) is None
    with db.snapshot() as reader:
        assert authenticate_device(reader, None) is None
        assert authenticate_device(reader, token) is None  # no scheme
        assert authenticate_device(reader, f"Basic {token}") is None
        assert authenticate_device(reader, f"Bearer {token}x") is None


def test_a_deleted_device_loses_its_tokens(db: Database, world: World) -> None:
    token, _ = new_token(db, world.a, world.device)
    with db.write() as session:
        devices.delete_device(Tenant(session, world.a), world.device)
    assert auth(db, token) is None
    with pytest.raises(NotFound):  # and gets no new one
        new_token(db, world.a, world.device)


def test_tokens_only_for_the_callers_devices_and_with_write_rights(db: Database, world: World) -> None:
    with pytest.raises(NotFound):
        new_token(db, world.b, world.device)
    with pytest.raises(NotFound):
        new_token(db, world.a, 2**63)
    with pytest.raises(Forbidden):
        new_token(db, Caller(company_id=world.a.company_id, person_id=None, can_write=False), world.device)


def test_cli_creates_and_revokes_device_tokens(db: Database, database_url: str, world: World) -> None:
    made = run_cli(database_url, "device", "token", str(world.device))
    token = str(made["token"])
    assert TOKEN.match(token)
    assert made["device_id"] == world.device
    assert made["company_id"] == world.a.company_id
    assert token.startswith(str(made["prefix"]))
    assert auth(db, token) == DeviceCaller(world.a.company_id, world.device, int(str(made["id"])))
    revoked = run_cli(database_url, "device", "revoke-token", str(made["prefix"]))
    assert revoked["revoked"] is True
    assert auth(db, token) is None


# --- the API's small parsers -------------------------------------------------------------------


def test_window_bounds_are_rfc3339_with_an_offset() -> None:
    assert parse_bound(None, "start") is None
    assert parse_bound("2024-01-01T06:00:00Z", "start") == at(6)
    assert parse_bound("2024-01-01T08:00:00+02:00", "start") == at(6)
    assert parse_bound("2024-01-01T08:00:00 02:00", "start") == at(6)  # `+` sent unescaped
    assert parse_bound("0001-01-01T00:00:00+01:00", "start") == datetime.min.replace(tzinfo=UTC)
    assert parse_bound("9999-12-31T23:59:59-01:00", "end") == datetime.max.replace(tzinfo=UTC)
    for bad in ("2024-01-01T06:00:00", "2024-01-01", "1700000000", "2023-02-29T00:00:00Z", "yesterday"):
        with pytest.raises(InvalidInput):
            parse_bound(bad, "start")


def test_instants_render_with_microseconds_and_z() -> None:
    assert micros(at(6)) == "2024-01-01T06:00:00.000000Z"
    assert micros(datetime(2024, 1, 1, 8, 0, 0, 5, tzinfo=timezone(timedelta(hours=2)))) == (
        "2024-01-01T06:00:00.000005Z"
    )
