"""Seed 000's view of the fleet: an MDM's devices (laptops, tablets and smartphones only — other
devices are not part of it) and the employees who hold them, both addressed by 24-hex ids.

A device record is one statement: the device, its MDM enrollment and its holder's hex id. Reads of
records run prebuilt statements, on the read snapshot for the hot paths (one device, a page)."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Select, bindparam, exists, func, literal, literal_column, select
from sqlalchemy.orm import aliased
from sqlalchemy.sql import FromClause, Join

from custody.db.models import Device, DeviceKindCount, MdmEnrollment, Person
from custody.domain.devices import (
    OFFSET_CAP,
    DeviceSpec,
    Search,
    add_devices,
    like_pattern,
    search_conditions,
)
from custody.domain.documents import refresh_devices
from custody.domain.enums import ENROLLED_MDM_STATUSES, MANAGED_TYPES
from custody.domain.errors import InvalidInput, NotFound
from custody.domain.fields import HEX_ID_PATTERN, check_text
from custody.domain.ownership import set_holder
from custody.domain.people import MANAGER_NOT_FOUND, create_person
from custody.domain.tenancy import Tenant, TenantSnapshot
from custody.domain.timefmt import iso_z, parse_iso_z, utcnow

DEVICE_NOT_FOUND = "DEVICE_NOT_FOUND"
EMPLOYEE_NOT_FOUND = "EMPLOYEE_NOT_FOUND"
_HEX_ID = re.compile(HEX_ID_PATTERN)
Record = dict[str, Any]


def check_hex_id(value: str, name: str) -> str:
    """Seed 000's ids are exactly 24 lower-case hex digits; the whole text must match (Python's
    `$` alone would let a trailing newline through)."""
    if not _HEX_ID.fullmatch(value):
        raise InvalidInput("INVALID_ID", f"{name} must match {HEX_ID_PATTERN}")
    return value


def _instant(value: datetime | str | None) -> str | None:
    """A stored instant as `2023-11-07T05:31:56Z`. Raw SQLite rows carry the column's naive UTC text
    (`2023-11-07 05:31:56.000000`); every other path hands over an aware datetime."""
    if isinstance(value, str):
        return f"{value[:10]}T{value[11:19]}Z"
    return iso_z(value)


def _parse_instant(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_iso_z(value)
    except ValueError as error:
        raise InvalidInput("INVALID_DATE", f"{name}: {error}") from error


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a list and the arithmetic around it (pages count from 1)."""

    items: list[Record]
    total: int
    page: int
    per_page: int

    @property
    def total_pages(self) -> int:
        return -(-self.total // self.per_page)


def _offset(page: int, per_page: int) -> int:
    # Past any real total the page is empty anyway; the cap keeps OFFSET + LIMIT within 64 bits.
    return min((page - 1) * per_page, OFFSET_CAP)


# --------------------------------------------------------------------------- devices

_device = Device.__table__
_d = _device.c
_mdm = MdmEnrollment.__table__
_m = _mdm.c
_person = Person.__table__.c
_holder = Person.__table__.alias("holder")

_COLUMNS = (
    _d.hex_id,
    _d.tags,
    _m.status,
    _d.created_at,
    _d.updated_at,
    _holder.c.hex_id,
    _d.name,
    _d.serial_number,
    _d.type,
    _d.platform,
    _d.brand,
    _d.manufacturer,
    _d.model_name,
    _d.model_identifier,
    _d.year,
    _m.os_version,
    _m.os_name,
    _m.build_version,
    _m.enrollment_date,
    _m.unenrollment_date,
    _d.lock_wipe_status,
    _d.edr_provider,
)


def _joined(devices: FromClause) -> Join:
    """`devices` (the table, or a page of its ids joined to it) with each device's MDM enrollment
    and holder."""
    return devices.outerjoin(_mdm, _m.device_id == _d.id).outerjoin(_holder, _holder.c.id == _d.holder_id)


_RECORD: Select[Any] = select(*_COLUMNS).select_from(_joined(_device))

# The devices this view knows: listed (not deleted) laptops, tablets and smartphones of the caller.
_kind_count = DeviceKindCount.__table__.c
_MANAGED: tuple[ColumnElement[bool], ...] = (
    _d.company_id == bindparam("company_id"),
    _d.deleted_at.is_(None),
    # As literals, as in `ix_device_managed`'s WHERE (bound values would not imply it).
    _d.type.in_([literal_column(f"'{kind}'") for kind in MANAGED_TYPES]),
)
_ONE = _RECORD.where(*_MANAGED, _d.hex_id == bindparam("hex_id"))


def _record(row: Sequence[Any]) -> Record:
    """One device as seed 000 shows it, every field present. Its MDM data (`isEnrolled`, the OS,
    the enrollment dates) is the enrollment row the company devices API shows as `mdm`."""
    (
        hex_id,
        tags,
        mdm_status,
        created_at,
        updated_at,
        owner_id,
        name,
        serial_number,
        kind,
        platform,
        brand,
        manufacturer,
        model_name,
        model_identifier,
        year,
        os_version,
        os_name,
        build_version,
        enrolled_at,
        disenrolled_at,
        lock_wipe_status,
        edr_provider,
    ) = row
    return {
        "id": hex_id,
        "tags": json.loads(tags) if isinstance(tags, str) else list(tags),
        "is_enrolled": mdm_status in ENROLLED_MDM_STATUSES,
        "created_at": _instant(created_at),
        "updated_at": _instant(updated_at),
        "owner_id": owner_id,
        "name": name,
        "serial_number": serial_number,
        "computer_name": name,  # deprecated by the seed in favour of `name`: the same value
        "type": kind,
        "platform": platform or "UNKNOWN",
        "brand": brand,
        "manufacturer": manufacturer,
        "model_name": model_name,
        "model_identifier": model_identifier,
        "year": year,
        "os_version": os_version,
        "os_name": os_name,
        "build_version": build_version,
        "enrolled_at": _instant(enrolled_at),
        "disenrolled_at": _instant(disenrolled_at),
        # None in the normal state; the lock / wipe state machine (CONTRACTS "MDM state") sets it.
        "lock_wipe_status": lock_wipe_status,
        "edr_provider": edr_provider,
    }


def get_device(tenant: Tenant | TenantSnapshot, device_id: str) -> Record:
    """One device of this view; other companies' devices, deleted ones and devices of other kinds
    are not found, like ids that do not exist."""
    check_hex_id(device_id, "deviceId")
    rows = tenant.rows(_ONE, {"hex_id": device_id})
    if not rows:
        raise NotFound(DEVICE_NOT_FOUND, f"Device {device_id} not found")
    return _record(rows[0])


@dataclass(frozen=True, slots=True)
class DeviceFilter:
    page: int = 1
    per_page: int = 20
    owner_id: str | None = None
    platform: str | None = None
    type: str | None = None
    tag: str | None = None
    search: str | None = None


def _has_tag(dialect: str) -> ColumnElement[bool]:
    """`:tag` is one of the device's tags (an element of its JSON array)."""
    elements = func.json_each(_d.tags) if dialect == "sqlite" else func.json_array_elements_text(_d.tags)
    tags = elements.table_valued("value")
    return exists(select(literal(1)).select_from(tags).where(tags.c.value == bindparam("tag")))


@functools.cache
def _list_statements(
    dialect: str, owner: bool, platform: bool, kind: bool, tag: bool, anchor: str | None, likes: int
) -> tuple[Select[Any], Select[Any]]:
    """The page and count statements for one shape of query, built once (see `devices`)."""
    conditions = list(_MANAGED)
    if owner:
        holder = select(_person.id).where(
            _person.company_id == bindparam("company_id"), _person.hex_id == bindparam("owner_id")
        )
        conditions.append(_d.holder_id == holder.scalar_subquery())
    if platform:
        conditions.append(func.coalesce(_d.platform, literal("UNKNOWN")) == bindparam("platform"))
    if kind:
        conditions.append(_d.type == bindparam("type"))
    if tag:
        conditions.append(_has_tag(dialect))
    conditions += search_conditions(anchor, likes)
    # The page's ids first, on `device` alone (index-only for a kind): the rows an offset skips
    # are not joined to their enrollment and holder; only the page's are.
    ids = select(_d.id).where(*conditions).order_by(_d.id)
    ids = ids.limit(bindparam("limit", type_=BigInteger)).offset(bindparam("offset", type_=BigInteger))
    chosen = ids.subquery("page_ids")
    page = select(*_COLUMNS).select_from(_joined(chosen.join(_device, _d.id == chosen.c.id))).order_by(chosen.c.id)
    if owner or platform or tag or anchor or likes:
        count = select(func.count()).select_from(_device).where(*conditions)
    else:  # the kept per-kind counts: one lookup instead of a walk over the kind's devices
        kinds = (
            _kind_count.type == bindparam("type") if kind else _kind_count.type.in_([literal(k) for k in MANAGED_TYPES])
        )
        count = select(func.coalesce(func.sum(_kind_count.n), 0)).where(
            _kind_count.company_id == bindparam("company_id"), kinds
        )
    return page, count


def list_devices(tenant: Tenant | TenantSnapshot, query: DeviceFilter) -> Page:
    """A page of this view's devices in creation order, and the number of matches before paging.
    `search` matches name, serial number, holder (name, email) and the holder's teams, as the
    company devices API's search does."""
    if query.owner_id is not None:
        check_hex_id(query.owner_id, "ownerId")
    if query.tag is not None:
        check_text({"tag": query.tag})
    search = Search.parse(query.search, tenant.dialect)
    page, count = _list_statements(
        tenant.dialect,
        query.owner_id is not None,
        query.platform is not None,
        query.type is not None,
        query.tag is not None,
        *search.shape,
    )
    params: dict[str, Any] = {
        "limit": query.per_page,
        "offset": _offset(query.page, query.per_page),
        "owner_id": query.owner_id,
        "platform": query.platform,
        "type": query.type,
        "tag": query.tag,
        **search.params,
    }
    total = int(tenant.rows(count, params)[0][0])
    # Past the end the page is empty: stepping through every match would only find nothing.
    items = [_record(row) for row in tenant.rows(page, params)] if params["offset"] < total else []
    return Page(items=items, total=total, page=query.page, per_page=query.per_page)


def _managed_device(tenant: Tenant, device_id: str) -> Device:
    """The device row, locked for this transaction's change of holder."""
    check_hex_id(device_id, "deviceId")
    stmt = tenant.select(Device).where(
        Device.hex_id == device_id, Device.deleted_at.is_(None), Device.type.in_(MANAGED_TYPES)
    )
    device = tenant.scalars(stmt.with_for_update()).one_or_none()
    if device is None:
        raise NotFound(DEVICE_NOT_FOUND, f"Device {device_id} not found")
    return device


def _employee_row(tenant: Tenant, employee_id: str, name: str, code: str = EMPLOYEE_NOT_FOUND) -> Person:
    """A person of the caller's company; an id of another company's person is not found either."""
    check_hex_id(employee_id, name)
    person = tenant.scalars(tenant.select(Person).where(Person.hex_id == employee_id)).one_or_none()
    if person is None:
        raise NotFound(code, f"Employee {employee_id} ({name}) not found")
    return person


def assign_device(tenant: Tenant, device_id: str, owner_id: str | None) -> Record:
    """Make `owner_id` (or nobody) the device's holder from now, in the caller's transaction: the
    previous holder's ownership ends (its row stays), the new one's opens. Returns the device."""
    tenant.require_write()
    check_hex_id(device_id, "deviceId")
    if owner_id is not None:
        check_hex_id(owner_id, "ownerId")
    device = _managed_device(tenant, device_id)
    person_id = None if owner_id is None else _employee_row(tenant, owner_id, "ownerId").id
    now = utcnow()
    if set_holder(tenant, device, person_id, now):
        device.updated_at = now
        refresh_devices(tenant, [device.id])
    return get_device(tenant, device_id)


@dataclass(frozen=True, slots=True)
class NewDevice:
    type: str
    serial_number: str | None = None
    name: str | None = None
    platform: str | None = None
    brand: str | None = None
    model_name: str | None = None
    year: int | None = None
    owner_id: str | None = None
    tags: Sequence[str] = ()


def create_device(tenant: Tenant, new: NewDevice) -> Record:
    """A device that comes in through this view: like any other, it gets an intake order, its
    company devices API item and search words; its `type` is one this view knows."""
    tenant.require_write()
    if new.type not in MANAGED_TYPES:
        raise InvalidInput("INVALID_TYPE", f"type must be one of {', '.join(MANAGED_TYPES)}")
    holder = None if new.owner_id is None else _employee_row(tenant, new.owner_id, "ownerId").id
    fields = {
        "type": new.type,
        "serial_number": new.serial_number,
        "name": new.name,
        "platform": new.platform,
        "brand": new.brand,
        "model_name": new.model_name,
        "year": new.year,
        "tags": list(dict.fromkeys(new.tags)),
    }
    (device,) = add_devices(tenant, [DeviceSpec(fields=fields, holder_id=holder)])
    refresh_devices(tenant, [device.id])
    return get_device(tenant, device.hex_id)


# --------------------------------------------------------------------------- employees

_manager = aliased(Person)


def _held(tenant: Tenant, person_ids: Sequence[int]) -> dict[int, list[str]]:
    """The hex ids of the devices of this view each person holds now, oldest device first."""
    held: dict[int, list[str]] = {person_id: [] for person_id in person_ids}
    if not person_ids:
        return held
    stmt = tenant.columns(Device, Device.holder_id, Device.hex_id).where(
        Device.holder_id.in_(person_ids), Device.deleted_at.is_(None), Device.type.in_(MANAGED_TYPES)
    )
    for holder_id, hex_id in tenant.execute(stmt.order_by(Device.id)):
        held[holder_id].append(hex_id)
    return held


def _employee(person: Person, manager_id: str | None, device_ids: list[str]) -> Record:
    return {
        "id": person.hex_id,
        "first_name": person.first_name,
        "last_name": person.last_name,
        "email": person.email,
        "teams": list(person.teams),
        "device_ids": device_ids,
        "created_at": iso_z(person.created_at),
        "updated_at": iso_z(person.updated_at),
        "manager_id": manager_id,
        "start_date": iso_z(person.start_date),
        "termination_date": iso_z(person.termination_date),
    }


def _employees(tenant: Tenant) -> Select[Any]:
    """The company's people with their manager's hex id (NULL for a person without a manager)."""
    return tenant.columns(Person, Person, _manager.hex_id).outerjoin(_manager, _manager.id == Person.manager_id)


def get_employee(tenant: Tenant, employee_id: str) -> Record:
    check_hex_id(employee_id, "employeeId")
    found = tenant.execute(_employees(tenant).where(Person.hex_id == employee_id)).one_or_none()
    if found is None:
        raise NotFound(EMPLOYEE_NOT_FOUND, f"Employee {employee_id} not found")
    person, manager_id = found
    return _employee(person, manager_id, _held(tenant, [person.id])[person.id])


@dataclass(frozen=True, slots=True)
class EmployeeFilter:
    page: int = 1
    per_page: int = 20
    search: str | None = None


def list_employees(tenant: Tenant, query: EmployeeFilter) -> Page:
    """A page of the company's employees in creation order. `search`: every word must match the
    name or email, case-insensitively, as a substring."""
    conditions: list[ColumnElement[bool]] = []
    if query.search:
        check_text({"search": query.search})
        words = func.lower(Person.first_name + " " + Person.last_name + " " + Person.email)
        conditions += [words.like(like_pattern(w), escape="\\") for w in query.search.lower().split()]
    total = int(
        tenant.execute(tenant.columns(Person, func.count()).select_from(Person).where(*conditions)).scalar_one()
    )
    stmt = _employees(tenant).where(*conditions).order_by(Person.id)
    rows = tenant.execute(stmt.limit(query.per_page).offset(_offset(query.page, query.per_page))).all()
    held = _held(tenant, [person.id for person, _ in rows])
    items = [_employee(person, manager_id, held[person.id]) for person, manager_id in rows]
    return Page(items=items, total=total, page=query.page, per_page=query.per_page)


@dataclass(frozen=True, slots=True)
class NewEmployee:
    first_name: str
    last_name: str
    email: str
    teams: Sequence[str] = ()
    manager_id: str | None = None
    start_date: str | None = None
    termination_date: str | None = None


def create_employee(tenant: Tenant, new: NewEmployee) -> Record:
    """A new person of the caller's company. The manager is a person of the same company (else
    404, like any unknown id); dates are validated as strictly as seed 000's pattern."""
    tenant.require_write()
    start_date = _parse_instant(new.start_date, "startDate")
    termination_date = _parse_instant(new.termination_date, "terminationDate")
    manager = None
    if new.manager_id is not None:
        manager = _employee_row(tenant, new.manager_id, "managerId", MANAGER_NOT_FOUND).id
    person = create_person(
        tenant,
        first_name=new.first_name,
        last_name=new.last_name,
        email=new.email,
        teams=new.teams,
        manager_id=manager,
        start_date=start_date,
        termination_date=termination_date,
    )
    return _employee(person, new.manager_id, [])
