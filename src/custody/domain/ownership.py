"""Ownership spans: the one table behind `ownerId`, `user_id` and the ownership API.

A span `[start_time, end_time)` says who held a device; a NULL end is open. Spans of one device
never overlap: the database refuses it. A span may start in the future (a reservation) or end in
the future (a booking with an end); the device's current holder (`device.holder_id`, shown by the
other two APIs) then changes at that instant without any request. Each such instant is recorded in
`holder_due`, and `sync_due_holders` applies the due ones.

A span given without an end runs until the device's next booking starts, so assigning a device
never cancels someone's reservation, and at most one span per device is open-ended."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, and_, bindparam, delete, func, insert, or_, select, union_all, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Session

from custody.db.engine import Reader
from custody.db.models import Device, DeviceCount, HolderDue, Ownership, OwnershipCount, Person
from custody.db.types import UTCDateTime
from custody.domain.documents import refresh_devices, with_holder
from custody.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from custody.domain.fields import check_text
from custody.domain.tenancy import MAX_ID, Caller, Tenant
from custody.domain.timefmt import utcnow

NOT_FOUND = "OWNERSHIP_NOT_FOUND"
DEVICE_NOT_FOUND = "DEVICE_NOT_FOUND"
# Seed 001 renders an open end as this instant; the API accepts it back as "no end".
OPEN_END = datetime(2999, 12, 31, 23, 59, 59, tzinfo=UTC)
T = TypeVar("T")


def _covers(now: datetime) -> ColumnElement[bool]:
    return and_(Ownership.start_time <= now, or_(Ownership.end_time.is_(None), Ownership.end_time > now))


def current_span(tenant: Tenant, device_id: int, now: datetime) -> Ownership | None:
    # At most one span is in force: an open one, or one ending after now. Each is found through its
    # own index (`uq_ownership_open`, `ix_ownership_device_end`), not among all the device's spans.
    for ends in (Ownership.end_time.is_(None), Ownership.end_time > now):
        stmt = tenant.select(Ownership).where(Ownership.device_id == device_id, Ownership.start_time <= now, ends)
        span = tenant.scalars(stmt).one_or_none()
        if span is not None:
            return span
    return None


def _schedule(tenant: Tenant, device_id: int, now: datetime, *instants: datetime | None) -> None:
    for instant in instants:
        if instant is not None and instant > now:
            tenant.add(HolderDue(company_id=tenant.company_id, device_id=device_id, due_at=instant))


def _open_span(tenant: Tenant, device_id: int, person_id: int, start: datetime, end: datetime | None) -> Ownership:
    """Insert a span; the database's overlap rule is the arbiter (and the only one under races)."""
    span = Ownership(
        company_id=tenant.company_id, device_id=device_id, person_id=person_id, start_time=start, end_time=end
    )
    tenant.add(span)
    try:
        with tenant.session.begin_nested():
            tenant.session.flush()
    except IntegrityError as error:
        raise Conflict("DEVICE_RESERVED", "the device is held or booked by someone else in that span") from error
    return span


_p = Person.__table__.c
_PERSON = select(_p.id).where(_p.company_id == bindparam("company_id"), _p.id == bindparam("person_id"))


def _not_a_person(invalid_code: str) -> InvalidInput:
    return InvalidInput(invalid_code, "user_id is not a user of this company")


def resolve_person(tenant: Tenant, person_id: int, invalid_code: str) -> Any:
    """A person of the caller's company (its id); any other id, existing elsewhere or not, is the
    same error."""
    person = None
    if 0 < person_id <= MAX_ID:
        params = {"company_id": tenant.company_id, "person_id": person_id}
        person = Reader.of(tenant.session).record(_PERSON, params)
    if person is None:
        raise _not_a_person(invalid_code)
    return person


def set_holder(tenant: Tenant, device: Device, person_id: int | None, at: datetime) -> bool:
    """Make `person_id` (or nobody) the holder from `at`: the current span ends, a new one opens,
    in the caller's transaction. The device row must have been read with `for_update=True`.
    Returns whether anything changed."""
    current = current_span(tenant, device.id, at)
    held_by = current.person_id if current is not None else None
    if held_by == person_id:
        return False
    if current is not None:
        current.end_time = max(at, current.start_time)
    if person_id is not None:
        # The next booking's start (`take`'s statement); the span just ended above changes no start.
        until = Reader.of(tenant.session).scalar(_NEXT_START, {"device_id": device.id, "start": at})
        tenant.session.flush()
        _open_span(tenant, device.id, person_id, at, until)
        _schedule(tenant, device.id, at, until)
    device.holder_id = person_id
    tenant.session.flush()
    return True


def end_all_for_device(tenant: Tenant, device_id: int, at: datetime) -> None:
    """A retired device is held by nobody from `at`: the current span ends, later bookings are
    cancelled (kept as empty spans: history is never deleted)."""
    session = tenant.session
    mine = and_(Ownership.company_id == tenant.company_id, Ownership.device_id == device_id)
    session.execute(
        update(Ownership)
        .where(mine, Ownership.start_time > at)
        .values(end_time=Ownership.start_time)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Ownership).where(mine, _covers(at)).values(end_time=at).execution_options(synchronize_session=False)
    )
    session.expire_all()


@dataclass(frozen=True, slots=True)
class Take:
    """A request to hold a device: now (no start) or from a future start (a reservation)."""

    serial_number: str
    device_name: str
    start_time: datetime | None = None
    end_time: datetime | None = None
    person_id: int | None = None  # a company key acts for this person; a person key is that person


# Take and release are the hot writes: Core statements built once and run through a `Reader`, in
# as few round trips as their logic allows (on PostgreSQL each is a wait for the server, and the
# device's row lock is held across them): a take is three and its COMMIT, a release two and its
# COMMIT. Statements that need not wait for each other go together in a `Reader.batch`.
_o, _d = Ownership.__table__.c, Device.__table__.c
_DEVICE_COLUMNS = (_d.id, _d.name, _d.serial_number, _d.holder_id, _d.doc)
# The device to take, locked, and whether the person is one of the company's (NULL if not).
_DEVICE_BY_SERIAL = (
    select(*_DEVICE_COLUMNS, _PERSON.scalar_subquery().label("person_id"))
    .where(
        _d.company_id == bindparam("company_id"),
        _d.serial_number == bindparam("serial_number"),
        _d.name == bindparam("device_name"),
        _d.deleted_at.is_(None),
    )
    .with_for_update(of=Device.__table__)
)
_NOW = bindparam("now", type_=UTCDateTime())
_START = bindparam("start", type_=UTCDateTime())
# Read once the device is locked: who holds it at `now` (as in `current_span`: the open span, or
# the one ending after `now`, each through its own index), and when its next booking after `start`
# begins.
_HOLDER_AT = union_all(
    *(
        select(_o.person_id).where(_o.device_id == bindparam("device_id"), _o.start_time <= _NOW, ends)
        for ends in (_o.end_time.is_(None), _o.end_time > _NOW)
    )
)
_NEXT_START = select(func.min(_o.start_time)).where(_o.device_id == bindparam("device_id"), _o.start_time > _START)
_DEVICE_STATE = select(_HOLDER_AT.scalar_subquery().label("holder_id"), _NEXT_START.scalar_subquery().label("next"))
_SPAN_COLUMNS = (_o.id, _o.device_id, _o.person_id, _o.start_time, _o.end_time)
_INSERT_SPAN = (
    insert(Ownership.__table__)  # type: ignore[arg-type]
    .values(
        company_id=bindparam("company_id"),
        device_id=bindparam("device_id"),
        person_id=bindparam("person_id"),
        start_time=bindparam("start_time", type_=UTCDateTime()),
        end_time=bindparam("end_time", type_=UTCDateTime()),
    )
    .returning(*_SPAN_COLUMNS)
)
# The span to release with its device, the device locked (a span's device, person and start never
# change, so reading them before the lock is granted is safe; its end is settled by `_END_SPAN`).
_SPAN_AND_DEVICE = (
    select(*_SPAN_COLUMNS, _d.name, _d.serial_number, _d.holder_id, _d.doc)
    .join_from(Ownership.__table__, Device.__table__, _d.id == _o.device_id)
    .where(_o.company_id == bindparam("company_id"), _o.id == bindparam("span_id"))
    .with_for_update(of=Device.__table__)
)
# Ends the span unless it has ended by `now` already (then no row).
_END_SPAN = (
    update(Ownership.__table__)  # type: ignore[arg-type]
    .where(_o.id == bindparam("span_id"), or_(_o.end_time.is_(None), _o.end_time > _NOW))
    .values(end_time=bindparam("end_time", type_=UTCDateTime()))
    .returning(_o.id)
)
_SET_HOLDER = (
    update(Device.__table__)  # type: ignore[arg-type]
    .where(_d.id == bindparam("device_id"))
    .values(holder_id=bindparam("holder_id"), doc=bindparam("doc"))
)


def _span(row: Any) -> Ownership:
    """A detached span for the caller to render (the row is already written)."""
    return Ownership(
        id=row.id, device_id=row.device_id, person_id=row.person_id, start_time=row.start_time, end_time=row.end_time
    )


def _device(device_id: int, row: Any, holder_id: int | None) -> Device:
    return Device(id=device_id, name=row.name, serial_number=row.serial_number, holder_id=holder_id)


def _hand_over(run: Reader, device_id: int, doc: str, holder_id: int | None) -> None:
    """Make `holder_id` (or nobody) the device's holder: the column and its stored item (the
    holder's search words are the person's own, not the device's)."""
    run.execute(_SET_HOLDER, {"device_id": device_id, "holder_id": holder_id, "doc": with_holder(doc, holder_id)})


def take(tenant: Tenant, request: Take) -> tuple[Ownership, Device]:
    tenant.require_write()
    check_text({"serial_number": request.serial_number, "device_name": request.device_name})
    run = Reader.of(tenant.session)
    company = {"company_id": tenant.company_id}
    own = tenant.caller.person_id
    if own is not None:
        if request.person_id is not None and request.person_id != own:
            raise Forbidden("NOT_YOUR_OWNERSHIP", "a person key takes devices for its own person only")
        person_id = own
    elif request.person_id is None:
        raise InvalidInput("MANAGER_REQUIRED", "a company key must name the person it takes the device for (manager)")
    else:
        person_id = request.person_id
    if not 0 < person_id <= MAX_ID:
        raise _not_a_person("INVALID_MANAGER")
    with run.batch():  # the BEGIN goes with the first statement; the two writes go together
        key = {"serial_number": request.serial_number, "device_name": request.device_name}
        device = run.record(_DEVICE_BY_SERIAL, {**company, "person_id": person_id, **key})
        if device is None:
            resolve_person(tenant, person_id, "INVALID_MANAGER")  # which error comes first
            raise InvalidInput("DEVICE_NOT_FOUND", "no device of this company has that serial_number and device_name")
        if device.person_id is None:
            raise _not_a_person("INVALID_MANAGER")
        # Read the clock only once the device is locked: a take that waited for another must not
        # start before the one it waited for.
        now = utcnow()
        start = request.start_time or now
        end = None if request.end_time == OPEN_END else request.end_time
        if start < now and request.start_time is not None:
            raise InvalidInput("INVALID_START_TIME", "start_time must not be in the past")
        if end is not None and end <= start:
            raise InvalidInput("INVALID_END_TIME", "end_time must be after start_time")
        state = run.record(_DEVICE_STATE, {"device_id": device.id, "now": now, "start": start})
        if start <= now and state.holder_id is not None:
            whose = "you" if state.holder_id == person_id else "someone else"
            raise Conflict("DEVICE_ALREADY_OWNED", f"the device is held by {whose} now")
        if end is None:
            end = state.next
        holder_id = device.holder_id
        if start <= now:
            holder_id = person_id
            _hand_over(run, device.id, device.doc, person_id)  # undone with the take if the insert fails
        values = {**company, "device_id": device.id, "person_id": person_id, "start_time": start, "end_time": end}
        try:
            # The database's overlap rule is the arbiter (and the only one under races).
            span = run.record(_INSERT_SPAN, values)
        except IntegrityError as error:
            raise Conflict("DEVICE_RESERVED", "the device is held or booked by someone else in that span") from error
    _schedule(tenant, device.id, now, start, end)
    return _span(span), _device(device.id, device, holder_id)


def _visible(tenant: Tenant, stmt: Select[Ownership]) -> Select[Ownership]:
    """A person key sees its own spans only; a company key sees its company's."""
    if tenant.caller.person_id is not None:
        stmt = stmt.where(Ownership.person_id == tenant.caller.person_id)
    return stmt


def release(tenant: Tenant, ownership_id: int) -> tuple[Ownership, Device]:
    """End a span now (the row stays). A booking that has not started yet is cancelled: it ends
    where it starts. Another person's span answers 404, as one that does not exist."""
    tenant.require_write()
    if not 0 < ownership_id <= MAX_ID:
        raise NotFound(NOT_FOUND)
    run = Reader.of(tenant.session)
    with run.batch():  # the BEGIN goes with the first statement; the two writes go together
        span = run.record(_SPAN_AND_DEVICE, {"company_id": tenant.company_id, "span_id": ownership_id})
        if span is None or tenant.caller.person_id not in (None, span.person_id):
            raise NotFound(NOT_FOUND)
        now = utcnow()
        started = span.start_time <= now
        end = now if started else span.start_time
        holder_id = span.holder_id
        if started and holder_id == span.person_id:
            holder_id = None
            _hand_over(run, span.device_id, span.doc, None)  # undone with the release if it has ended
        if run.record(_END_SPAN, {"span_id": span.id, "end_time": end, "now": now}) is None:
            raise Conflict("ALREADY_RELEASED", "this ownership has already ended")
    released = _span(span)
    released.end_time = end
    return released, _device(span.device_id, span, holder_id)


@dataclass(frozen=True, slots=True)
class OwnershipQuery:
    page: int = 1
    limit: int = 50
    device: int | None = None
    manager: int | None = None
    serial_number: str | None = None
    current: bool | None = None
    start: datetime | None = None
    end: datetime | None = None


def list_ownerships(tenant: Tenant, query: OwnershipQuery) -> tuple[list[tuple[Ownership, Device]], int]:
    """A page of the caller's visible spans (oldest first) with their devices, and the total."""
    now = utcnow()
    stmt = _visible(tenant, tenant.select(Ownership))
    if query.device is not None:
        stmt = stmt.where(Ownership.device_id == query.device)
    if query.manager is not None:
        stmt = stmt.where(Ownership.person_id == query.manager)
    if query.serial_number is not None:
        check_text({"serial_number": query.serial_number})
        serial = tenant.columns(Device, Device.id).where(Device.serial_number == query.serial_number)
        stmt = stmt.where(Ownership.device_id.in_(serial))
    if query.current is not None:
        stmt = stmt.where(_covers(now) if query.current else ~_covers(now))
    if query.end is not None:
        stmt = stmt.where(Ownership.start_time < query.end)
    if query.start is not None:
        stmt = stmt.where(or_(Ownership.end_time.is_(None), Ownership.end_time > query.start))
    unfiltered = OwnershipQuery(page=query.page, limit=query.limit)
    if tenant.caller.person_id is None and query == unfiltered:
        total = _kept(tenant, OwnershipCount)  # a company's every span: the kept count
    else:
        total = _count(tenant, stmt)
    spans = _page(tenant, stmt, Ownership, Ownership.id, query.page, query.limit, total)
    devices = {
        d.id: d for d in tenant.scalars(tenant.select(Device).where(Device.id.in_({s.device_id for s in spans})))
    }
    return [(s, devices[s.device_id]) for s in spans], total


def get_ownership(tenant: Tenant, ownership_id: int) -> tuple[Ownership, Device]:
    if not 0 < ownership_id <= MAX_ID:
        raise NotFound(NOT_FOUND)
    span = tenant.scalars(_visible(tenant, tenant.select(Ownership).where(Ownership.id == ownership_id))).one_or_none()
    if span is None:
        raise NotFound(NOT_FOUND)
    device = tenant.scalars(tenant.select(Device).where(Device.id == span.device_id)).one()
    return span, device


@dataclass(frozen=True, slots=True)
class DeviceLookup:
    page: int = 1
    limit: int = 50
    current: bool | None = None
    serial_number: str | None = None


def list_owned_devices(tenant: Tenant, query: DeviceLookup) -> tuple[list[Device], int]:
    """Seed 001's device list. A person key lists the devices it has owned at any time (`current`:
    those it holds now); a company key lists its company's devices (`current`: those held now)."""
    now = utcnow()
    stmt = tenant.select(Device).where(Device.deleted_at.is_(None))
    person = tenant.caller.person_id
    ever = tenant.columns(Ownership, Ownership.device_id)
    if person is not None:
        ever = ever.where(Ownership.person_id == person)
        stmt = stmt.where(Device.id.in_(ever))
    held_now = ever.where(_covers(now))
    if query.current is True:
        stmt = stmt.where(Device.id.in_(held_now))
    elif query.current is False:
        stmt = stmt.where(Device.id.not_in(held_now))
    if query.serial_number is not None:
        check_text({"serial_number": query.serial_number})
        stmt = stmt.where(Device.serial_number == query.serial_number)
    if person is None and query == DeviceLookup(page=query.page, limit=query.limit):
        total = _kept(tenant, DeviceCount)  # a company's listed devices: the kept per-status counts
    else:
        total = _count(tenant, stmt)
    return _page(tenant, stmt, Device, Device.id, query.page, query.limit, total), total


def _kept(tenant: Tenant, counts: type[OwnershipCount] | type[DeviceCount]) -> int:
    """A total kept by triggers: the sum of the caller's company's rows of `counts`."""
    return int(tenant.execute(tenant.columns(counts, func.coalesce(func.sum(counts.n), 0))).scalar_one())


def _count(tenant: Tenant, stmt: Select[Any]) -> int:
    return int(tenant.execute(stmt.with_only_columns(func.count()).order_by(None)).scalar_one())


def _page(
    tenant: Tenant,
    stmt: Select[Any],
    model: type[T],
    key: InstrumentedAttribute[int],
    page: int,
    limit: int,
    total: int,
) -> list[T]:
    """The rows of a page in id order. Their ids are picked first, on the table alone, so that the
    rows an offset skips are read from an index (index-only on PostgreSQL too), not fetched whole;
    past the end nothing is read."""
    offset = (page - 1) * limit
    if offset >= total:
        return []
    ids = stmt.with_only_columns(key).order_by(key).limit(limit).offset(offset)
    return list(tenant.session.scalars(select(model).where(key.in_(ids.scalar_subquery())).order_by(key)))


def get_owned_device(tenant: Tenant, device_id: int) -> Device:
    """One device, for a person key only if it has owned it at some time (else 404)."""
    if not 0 < device_id <= MAX_ID:
        raise NotFound(DEVICE_NOT_FOUND)
    stmt = tenant.select(Device).where(Device.id == device_id, Device.deleted_at.is_(None))
    if tenant.caller.person_id is not None:
        mine = tenant.columns(Ownership, Ownership.device_id).where(Ownership.person_id == tenant.caller.person_id)
        stmt = stmt.where(Device.id.in_(mine))
    device = tenant.scalars(stmt).one_or_none()
    if device is None:
        raise NotFound(DEVICE_NOT_FOUND)
    return device


def spans_of(tenant: Tenant, device_id: int, person_id: int) -> Sequence[Ownership]:
    """A person's spans of one device, oldest first: the windows in which it may read its data."""
    stmt = tenant.select(Ownership).where(Ownership.device_id == device_id, Ownership.person_id == person_id)
    return tenant.scalars(stmt.order_by(Ownership.start_time)).all()


def next_due(session: Session) -> datetime | None:
    """The earliest pending holder change, for any company (the process-wide clock reads it)."""
    found: datetime | None = session.execute(select(func.min(HolderDue.due_at))).scalar()
    return found


def sync_due_holders(session: Session, now: datetime) -> int:
    """Apply every holder change due by `now` (reservations starting, bookings ending) to
    `device.holder_id` and the stored items. Idempotent; returns how many devices changed."""
    due = session.execute(
        select(HolderDue.id, HolderDue.company_id, HolderDue.device_id).where(HolderDue.due_at <= now)
    ).all()
    if not due:
        return 0
    by_company: dict[int, set[int]] = defaultdict(set)
    for _, company_id, device_id in due:
        by_company[company_id].add(device_id)
    changed = 0
    for company_id, device_ids in by_company.items():
        tenant = Tenant(session, Caller(company_id=company_id, person_id=None, can_write=True))
        devices = tenant.scalars(
            tenant.select(Device).where(Device.id.in_(device_ids), Device.deleted_at.is_(None)).with_for_update()
        ).all()
        holders = dict(
            tenant.execute(
                tenant.columns(Ownership, Ownership.device_id, Ownership.person_id).where(
                    Ownership.device_id.in_(device_ids), _covers(now)
                )
            ).all()
        )
        moved = [d for d in devices if d.holder_id != holders.get(d.id)]
        for device in moved:
            device.holder_id = holders.get(device.id)
        if moved:
            refresh_devices(tenant, [d.id for d in moved])
        changed += len(moved)
    session.execute(delete(HolderDue).where(HolderDue.id.in_([row[0] for row in due])))
    return changed
