"""Device reports: what a device says about itself over time, and who may read it.

Writing. A device posts a batch of 1..`MAX_BATCH` reports with one of its tokens. The batch is
validated whole first (nothing is written if one report is bad), then stored by ONE statement:
`INSERT INTO device_report ... SELECT ... FROM json_each(:rows)` (SQLite) /
`json_to_recordset(:rows)` (PostgreSQL). The batch travels as one JSON parameter. Measured against a
prebuilt multi-row `INSERT ... VALUES` (bench/reports_bench.py, 100 and 1000 reports a batch) it is
3-9x faster on PostgreSQL (14,000 bound parameters are slow to send and plan) and about as fast on
SQLite (0.6-1.2x: a small part of a batch's cost there, not worth a second code path), and it has
no bound-parameter ceiling; SQLAlchemy's `insert().values([...])` is 10-40x slower than either (it
builds and compiles a 14,000-parameter statement per batch).

The newest report of the batch then becomes the device's MDM posture (`mdm_enrollment`), unless
the posture already comes from a report at least as new (batches may arrive out of order):
  os_name / os_version / build_version        <- the report's
  firewall_enabled, os_updates_enabled, os_updates_available <- the report's
  is_encrypted <- disk_encrypted, screenlock_enabled <- screen_lock_enabled, is_compromised <- compromised
  last_sync_date <- reported_at (the device's latest check-in; also what "newer" is measured by)
  last_seen_date <- last_seen_at, or reported_at when the report has none
A device with no enrollment row that reports is enrolled by it: a row with status ENROLLED and
`enrollment_date` = the earliest `reported_at` of that first batch. An existing row's status is left
to the MDM state machine. The company devices API's stored item is re-rendered when the posture
changed, in the same transaction.

Reading (seed 001's rule). A company key reads every report of its company's devices. A person key
reads only reports whose `reported_at` lies in one of its ownership spans of that device, each span
half-open `[start_time, end_time)` with an open end unbounded; the filter is an EXISTS on
`ownership` inside the query. A person that never had a span of the device gets 404, like a device
that does not exist; a window that meets none of its spans is an empty page."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import msgspec
from msgspec import Meta, Struct
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ColumnElement,
    DateTime,
    FromClause,
    Insert,
    Select,
    String,
    Text,
    bindparam,
    cast,
    column,
    exists,
    func,
    insert,
    literal_column,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.orm import Session

from custody.db.models import Base, Device, DeviceReport, Ownership
from custody.db.types import UTCDateTime
from custody.domain.device_tokens import DeviceCaller
from custody.domain.documents import refresh_devices
from custody.domain.errors import Forbidden, InvalidInput, NotFound
from custody.domain.fields import check_text
from custody.domain.ownership import get_owned_device
from custody.domain.tenancy import Caller, Tenant
from custody.domain.timefmt import utcnow

MAX_BATCH = 1000
# A device clock may run a little ahead of ours; beyond this a report is refused, so a wrong clock
# cannot pin the posture in the future (later, true reports would all look "older").
FUTURE_SKEW = timedelta(minutes=5)
# A clock reset to zero reports 1970; nothing before the Unix epoch is a real report.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
TEXT_MAX = 100  # the columns' length
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
DEVICE_NOT_FOUND = "DEVICE_NOT_FOUND"

TEXT_FIELDS = ("os_name", "os_version", "build_version")
FLAG_FIELDS = (
    "firewall_enabled",
    "disk_encrypted",
    "screen_lock_enabled",
    "os_updates_enabled",
    "os_updates_available",
    "compromised",
)
# The report's own fields, in `Report`'s order (the order of SQLite's JSON rows).
FIELDS = ("reported_at", *TEXT_FIELDS, "last_seen_at", *FLAG_FIELDS)


# An instant with its offset (RFC 3339, `Z` or `+02:00`); a naive one is refused when decoded.
AwareTime = Annotated[datetime, Meta(tz=True, description="RFC 3339 date-time with Z or an offset")]
ShortText = Annotated[str, Meta(max_length=TEXT_MAX)]


class Report(Struct, kw_only=True, frozen=True, forbid_unknown_fields=True, gc=False):
    """One report: the device's state at `reported_at` (required; at most five minutes ahead of the
    server's clock, not before 1970). Every other field may be left out or null (unknown)."""

    reported_at: AwareTime
    os_name: ShortText | None = None
    os_version: ShortText | None = None
    build_version: ShortText | None = None
    last_seen_at: Annotated[
        AwareTime | None, Meta(description="When the device was last seen active; not after reported_at")
    ] = None
    firewall_enabled: bool | None = None
    disk_encrypted: bool | None = None
    screen_lock_enabled: bool | None = None
    os_updates_enabled: bool | None = None
    os_updates_available: bool | None = None
    compromised: bool | None = None


assert Report.__struct_fields__ == FIELDS


def _bad(index: int, field: str, problem: str, code: str = "INVALID_REPORT") -> InvalidInput:
    return InvalidInput(code, f"reports[{index}].{field} {problem}")


def _instant(index: int, field: str, value: object, latest: datetime) -> datetime:
    """`value` in UTC, or InvalidInput. Runs twice per report: UTC values take the short path."""
    if isinstance(value, datetime) and value.tzinfo is UTC and EARLIEST <= value <= latest:
        return value
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise _bad(index, field, "must be a date-time with a timezone (Z or an offset)")
    # Compared while still in its own offset: converting 0001-01-01T00:00+01:00 to UTC would overflow.
    if value < EARLIEST:
        raise _bad(index, field, "is before 1970-01-01T00:00:00Z")
    if value > latest:
        raise _bad(index, field, f"is more than {FUTURE_SKEW} ahead of the server's clock")
    return value.astimezone(UTC)


def _check_text(index: int, field: str, text: object) -> None:
    if not isinstance(text, str) or len(text) > TEXT_MAX:
        raise _bad(index, field, f"must be a string of at most {TEXT_MAX} characters")
    check_text({f"reports[{index}].{field}": text})


def _check(reports: Sequence[Report], now: datetime) -> list[Report]:
    """The batch with every instant in UTC, or InvalidInput naming the first bad field. Written for
    speed (a full batch is 1000 reports): per-field work only where a value is present."""
    if not 1 <= len(reports) <= MAX_BATCH:
        raise InvalidInput("INVALID_BATCH", f"a batch holds 1 to {MAX_BATCH} reports, not {len(reports)}")
    latest = now + FUTURE_SKEW
    checked = []
    for i, report in enumerate(reports):
        reported_at = _instant(i, "reported_at", report.reported_at, latest)
        last_seen_at = report.last_seen_at
        if last_seen_at is not None:
            last_seen_at = _instant(i, "last_seen_at", last_seen_at, latest)
            if last_seen_at > reported_at:
                raise _bad(i, "last_seen_at", "is after its reported_at")
        for field, text in zip(TEXT_FIELDS, (report.os_name, report.os_version, report.build_version), strict=True):
            if text is not None:
                _check_text(i, field, text)
        flags = (
            report.firewall_enabled,
            report.disk_encrypted,
            report.screen_lock_enabled,
            report.os_updates_enabled,
            report.os_updates_available,
            report.compromised,
        )
        for field, flag in zip(FLAG_FIELDS, flags, strict=True):
            if flag is not None and flag is not True and flag is not False:
                raise _bad(i, field, "must be true, false or null")
        if reported_at is not report.reported_at or last_seen_at is not report.last_seen_at:
            report = msgspec.structs.replace(report, reported_at=reported_at, last_seen_at=last_seen_at)
        checked.append(report)
    return checked


_INSERTED = ("company_id", "device_id", "received_at", *FIELDS)


def _sqlite_stored(text: ColumnElement[Any]) -> ColumnElement[Any]:
    """An instant as the rows carry it (msgspec's RFC 3339 for UTC: `2024-01-01T06:00:00Z`, with
    `.ffffff` before the Z when there are microseconds) turned into the text `UTCDateTime` stores on
    SQLite (`2024-01-01 06:00:00.000000`), so rows written here compare and read back exactly like
    rows written through the ORM. NULL stays NULL. Years are four digits: nothing before 1970 gets in."""
    value = type_coerce(text, String)
    micros = func.substr(func.rtrim(func.substr(value, 21), "Z") + "000000", 1, 6)
    return func.substr(value, 1, 10) + " " + func.substr(value, 12, 8) + "." + micros


@functools.cache
def _insert_statement(dialect: str) -> Insert:
    """`INSERT INTO device_report (...) SELECT :company_id, :device_id, :received_at, <row> FROM
    <JSON rows>`: one statement, one row parameter, compiled once per dialect (see `_rows_json`)."""
    if dialect == "sqlite":
        # No JSON-to-record function: each row is an array, its values read by position.
        each = func.json_each(bindparam("rows", type_=String)).table_valued("value")
        rows: FromClause = (
            select(
                *(func.json_extract(each.c.value, literal_column(f"'$[{i}]'")).label(f) for i, f in enumerate(FIELDS))
            )
            .select_from(each)
            .subquery("r")
        )
        instants = {"reported_at", "last_seen_at"}
        values = [_sqlite_stored(rows.c[name]) if name in instants else rows.c[name] for name in FIELDS]
    else:
        kinds: dict[str, Any] = {"reported_at": DateTime(timezone=True), "last_seen_at": DateTime(timezone=True)}
        kinds |= dict.fromkeys(TEXT_FIELDS, Text()) | dict.fromkeys(FLAG_FIELDS, Boolean())
        rows = (
            func.json_to_recordset(cast(bindparam("rows", type_=Text), JSON))
            .table_valued(*(column(name, kinds[name]) for name in FIELDS))
            .render_derived(with_types=True)
        )
        values = [rows.c[name] for name in FIELDS]
    source = select(
        bindparam("company_id", type_=BigInteger),
        bindparam("device_id", type_=BigInteger),
        bindparam("received_at", type_=UTCDateTime()),
        *values,
    ).select_from(rows)
    return insert(DeviceReport).from_select(list(_INSERTED), source)


def _rows_json(dialect: str, batch: Sequence[Report]) -> str:
    """The batch as the statement's one parameter, encoded by msgspec as it is (instants as RFC 3339
    UTC). SQLite gets arrays (a value by position is read faster than by key), PostgreSQL objects
    (what `json_to_recordset` maps onto columns)."""
    if dialect == "sqlite":
        return msgspec.json.encode([msgspec.structs.astuple(r) for r in batch]).decode()
    return msgspec.json.encode(batch).decode()


def _lock_device(session: Session, device: DeviceCaller) -> None:
    """Lock the device row: reports of one device are applied one batch at a time, and a device
    PATCH re-rendering the stored item cannot interleave with the posture update."""
    stmt = select(Device.id).where(
        Device.company_id == device.company_id, Device.id == device.device_id, Device.deleted_at.is_(None)
    )
    if session.execute(stmt.with_for_update()).first() is None:
        raise NotFound(DEVICE_NOT_FOUND)


_MDM = Base.metadata.tables["mdm_enrollment"]
# The posture's columns and the report field each is set from.
POSTURE = {
    "os_name": "os_name",
    "os_version": "os_version",
    "build_version": "build_version",
    "firewall_enabled": "firewall_enabled",
    "is_encrypted": "disk_encrypted",
    "screenlock_enabled": "screen_lock_enabled",
    "os_updates_enabled": "os_updates_enabled",
    "os_updates_available": "os_updates_available",
    "is_compromised": "compromised",
}
_POSTURE_VALUES = {
    **{name: bindparam(f"p_{name}", type_=_MDM.c[name].type) for name in POSTURE},
    "last_sync_date": bindparam("reported_at", type_=UTCDateTime()),
    "last_seen_date": bindparam("last_seen", type_=UTCDateTime()),
}
# Parameters are named apart from the columns (SQLAlchemy reserves column names in SET / VALUES).
_OF_DEVICE = (_MDM.c.company_id == bindparam("p_company_id"), _MDM.c.device_id == bindparam("p_device_id"))
# The stored posture is older than the report: neither of its instants (its report's time, or a
# last-seen set by other means) is at or after it.
_UPDATE_POSTURE = (
    update(_MDM)
    .where(
        *_OF_DEVICE,
        *(
            or_(c.is_(None), c < bindparam("reported_at", type_=UTCDateTime()))
            for c in (_MDM.c.last_sync_date, _MDM.c.last_seen_date)
        ),
    )
    .values(_POSTURE_VALUES)
)
_ENROLLED = select(_MDM.c.id).where(*_OF_DEVICE)
_ENROLL = insert(_MDM).values(
    company_id=bindparam("p_company_id"),
    device_id=bindparam("p_device_id"),
    status="ENROLLED",
    enrollment_date=bindparam("first_seen", type_=UTCDateTime()),
    **_POSTURE_VALUES,
)


def _apply_posture(session: Session, device: DeviceCaller, newest: Report, first_seen: datetime) -> bool:
    """Make `newest` the device's posture unless the stored one is at least as new; True if changed.
    Core statements, one in the usual case (the ORM's load and flush cost more than the update)."""
    params = {
        "p_company_id": device.company_id,
        "p_device_id": device.device_id,
        **{f"p_{name}": getattr(newest, field) for name, field in POSTURE.items()},
        "reported_at": newest.reported_at,
        "last_seen": newest.last_seen_at or newest.reported_at,
    }
    connection = session.connection()
    if connection.execute(_UPDATE_POSTURE, params).rowcount:
        return True
    if connection.execute(_ENROLLED, params).first() is not None:
        return False  # the stored posture is as new or newer
    connection.execute(_ENROLL, {**params, "first_seen": first_seen})
    return True


def ingest_reports(target: Session | Tenant, device: DeviceCaller, reports: Sequence[Report]) -> int:
    """Store a batch of a device's reports and update its posture, in the caller's transaction.
    Returns how many reports were stored. InvalidInput (nothing written) for a bad batch,
    NotFound when the device is gone."""
    if isinstance(target, Tenant) and target.company_id != device.company_id:
        raise Forbidden("CROSS_COMPANY_WRITE")
    session = target.session if isinstance(target, Tenant) else target
    now = utcnow()
    batch = _check(reports, now)
    _lock_device(session, device)
    dialect = session.get_bind().dialect.name
    session.connection().execute(
        _insert_statement(dialect),
        {
            "rows": _rows_json(dialect, batch),
            "company_id": device.company_id,
            "device_id": device.device_id,
            "received_at": now,
        },
    )
    # Ties on reported_at: the later one in the batch wins, as it would across batches.
    newest = max(reversed(batch), key=lambda r: r.reported_at)
    first_seen = min(r.reported_at for r in batch)
    # The device acts on its own row only; the stored item is re-rendered with company rights.
    if _apply_posture(session, device, newest, first_seen):
        tenant = Tenant(session, Caller(company_id=device.company_id, person_id=None, can_write=True))
        refresh_devices(tenant, [device.device_id])
    return len(batch)


@dataclass(frozen=True, slots=True)
class ReportQuery:
    """A window `[start, end)` on `reported_at` (either side open when None) and a page."""

    start: datetime | None = None
    end: datetime | None = None
    page: int = 1
    limit: int = DEFAULT_LIMIT


def _held_by(person_id: int) -> ColumnElement[bool]:
    """The report lies in one of this person's spans of its device (span ends are exclusive)."""
    return exists().where(
        Ownership.company_id == DeviceReport.company_id,
        Ownership.device_id == DeviceReport.device_id,
        Ownership.person_id == person_id,
        Ownership.start_time <= DeviceReport.reported_at,
        or_(Ownership.end_time.is_(None), Ownership.end_time > DeviceReport.reported_at),
    )


def visible_reports(tenant: Tenant, device_id: int, query: ReportQuery) -> Select[DeviceReport]:
    """The caller's visible reports of one device inside the window, oldest first (unpaged)."""
    stmt = tenant.select(DeviceReport).where(DeviceReport.device_id == device_id)
    if tenant.caller.person_id is not None:
        stmt = stmt.where(_held_by(tenant.caller.person_id))
    if query.start is not None:
        stmt = stmt.where(DeviceReport.reported_at >= query.start)
    if query.end is not None:
        stmt = stmt.where(DeviceReport.reported_at < query.end)
    return stmt.order_by(DeviceReport.reported_at, DeviceReport.id)


def list_reports(tenant: Tenant, device_id: int, query: ReportQuery) -> tuple[list[DeviceReport], int]:
    """A page of the reports the caller may read, and how many there are in the window."""
    if not 1 <= query.limit <= MAX_LIMIT:
        raise InvalidInput("INVALID_LIMIT", f"limit must be between 1 and {MAX_LIMIT}")
    if query.page < 1:
        raise InvalidInput("INVALID_PAGE", "page must be 1 or more")
    if query.start is not None and query.end is not None and query.end < query.start:
        raise InvalidInput("INVALID_WINDOW", "end must not be before start")
    get_owned_device(tenant, device_id)  # a person key: only a device it has owned, else 404
    stmt = visible_reports(tenant, device_id, query)
    total = int(tenant.execute(select(func.count()).select_from(stmt.order_by(None).subquery())).scalar_one())
    offset = (query.page - 1) * query.limit
    if offset >= total:
        return [], total
    return list(tenant.scalars(stmt.limit(query.limit).offset(offset))), total
