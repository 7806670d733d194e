"""Ownership spans: the one table behind `ownerId`, `user_id` and the ownership API."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update

from custody.db.models import Device, Ownership, Person
from custody.domain.errors import InvalidInput
from custody.domain.tenancy import MAX_ID, Tenant


def open_ownership(tenant: Tenant, device_id: int) -> Ownership | None:
    stmt = tenant.select(Ownership).where(Ownership.device_id == device_id, Ownership.end_time.is_(None))
    return tenant.scalars(stmt).one_or_none()


def resolve_person(tenant: Tenant, person_id: int, invalid_code: str) -> Person:
    """A person of the caller's company; any other id, existing elsewhere or not, is the same error."""
    person = None
    if 0 < person_id <= MAX_ID:
        person = tenant.scalars(tenant.select(Person).where(Person.id == person_id)).one_or_none()
    if person is None:
        raise InvalidInput(invalid_code, "user_id is not a user of this company")
    return person


def set_holder(tenant: Tenant, device: Device, person_id: int | None, at: datetime) -> bool:
    """Make `person_id` (or nobody) the holder from `at`: the open span ends, a new one opens,
    in the caller's transaction. The device row must have been read with `for_update=True`.
    Returns whether anything changed."""
    current = open_ownership(tenant, device.id)
    if current is not None and current.person_id == person_id:
        return False
    if current is None and person_id is None:
        return False
    if current is not None:
        current.end_time = max(at, current.start_time)
    if person_id is not None:
        tenant.add(Ownership(company_id=tenant.company_id, device_id=device.id, person_id=person_id, start_time=at))
    device.holder_id = person_id
    tenant.session.flush()
    return True


def end_all_for_device(tenant: Tenant, device_id: int, at: datetime) -> None:
    tenant.session.execute(
        update(Ownership)
        .where(Ownership.company_id == tenant.company_id, Ownership.device_id == device_id)
        .where(Ownership.end_time.is_(None))
        .values(end_time=at)
    )
