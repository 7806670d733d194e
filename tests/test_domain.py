"""Domain rules, tested without HTTP: ownership through assignment, tenancy, scopes, listing."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from custody.db.engine import Database
from custody.db.models import Device, DeviceTeam, Ownership, Person
from custody.domain import devices, ownership
from custody.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from custody.domain.keys import authenticate, create_key, revoke_key
from custody.domain.people import create_company, create_person
from custody.domain.tenancy import Caller, Tenant
from custody.domain.timefmt import utcnow


@dataclass(frozen=True)
class World:
    a: Caller
    b: Caller
    ada: int
    bob: int
    eve: int  # company B


@pytest.fixture
def world(db: Database) -> World:
    suffix = uuid.uuid4().hex[:8]
    with db.write() as session:
        a = create_company(session, "A")
        b = create_company(session, "B")
        ca = Caller(company_id=a.id, person_id=None, can_write=True)
        cb = Caller(company_id=b.id, person_id=None, can_write=True)
        ada = create_person(
            Tenant(session, ca),
            first_name="Ada",
            last_name="Lovelace",
            email=f"ada.{suffix}@a.test",
            teams=["Engineering"],
        )
        bob = create_person(Tenant(session, ca), first_name="Bob", last_name="Marley", email=f"bob.{suffix}@a.test")
        eve = create_person(Tenant(session, cb), first_name="Eve", last_name="Stone", email=f"eve.{suffix}@b.test")
        return World(a=ca, b=cb, ada=ada.id, bob=bob.id, eve=eve.id)


def laptop(name: str = "MacBook Pro", serial: str | None = None, holder: int | None = None) -> devices.DeviceSpec:
    fields = {"name": name, "type": "LAPTOP", "category": "COMPUTER"}
    if serial:
        fields["serial_number"] = serial
    return devices.DeviceSpec(fields=fields, holder_id=holder)


def create_one(db: Database, caller: Caller, spec: devices.DeviceSpec) -> int:
    with db.write() as session:
        tenant = Tenant(session, caller)
        devices.create_devices(tenant, [spec])
        page, _ = devices.list_devices(tenant, devices.DeviceQuery(limit=1, search=str(spec.fields["name"])))
    return int(json.loads(page[0])["id"])


def spans(db: Database, device_id: int) -> list[tuple[int, bool]]:
    with db.read() as session:
        rows = session.scalars(select(Ownership).where(Ownership.device_id == device_id).order_by(Ownership.id))
        return [(o.person_id, o.end_time is None) for o in rows]


def test_reassignment_closes_the_previous_span_and_keeps_it(db: Database, world: World) -> None:
    device = create_one(db, world.a, laptop(f"dev-{uuid.uuid4().hex[:6]}", holder=world.ada))
    assert spans(db, device) == [(world.ada, True)]
    with db.write() as session:
        devices.update_device(Tenant(session, world.a), device, devices.DeviceChanges(holder=world.bob))
    assert spans(db, device) == [(world.ada, False), (world.bob, True)]
    with db.write() as session:
        devices.update_device(Tenant(session, world.a), device, devices.DeviceChanges(holder=None))
    assert spans(db, device) == [(world.ada, False), (world.bob, False)]
    with db.write() as session:  # assigning the current holder again changes nothing
        devices.update_device(Tenant(session, world.a), device, devices.DeviceChanges(holder=world.ada))
        devices.update_device(Tenant(session, world.a), device, devices.DeviceChanges(holder=world.ada))
    assert spans(db, device) == [(world.ada, False), (world.bob, False), (world.ada, True)]


def test_another_companys_person_cannot_be_assigned(db: Database, world: World) -> None:
    device = create_one(db, world.a, laptop(f"dev-{uuid.uuid4().hex[:6]}"))
    with pytest.raises(InvalidInput) as raised, db.write() as session:
        devices.update_device(Tenant(session, world.a), device, devices.DeviceChanges(holder=world.eve))
    assert raised.value.code == "INVALID_USER"
    assert spans(db, device) == []


def test_another_companys_device_is_not_found(db: Database, world: World) -> None:
    device = create_one(db, world.a, laptop(f"dev-{uuid.uuid4().hex[:6]}"))
    with db.write() as session:
        tenant = Tenant(session, world.b)
        with pytest.raises(NotFound):
            devices.get_device(tenant, device)
        with pytest.raises(NotFound):
            devices.update_device(tenant, device, devices.DeviceChanges(fields={"comment": "x"}))
        with pytest.raises(NotFound):
            devices.delete_device(tenant, device)
        assert devices.list_devices(tenant, devices.DeviceQuery()) == ([], 0)


def test_a_read_caller_cannot_write(db: Database, world: World) -> None:
    reader = Caller(company_id=world.a.company_id, person_id=None, can_write=False)
    with pytest.raises(Forbidden), db.write() as session:
        devices.create_devices(Tenant(session, reader), [laptop()])


def test_serial_numbers_are_unique_per_company_among_listed_devices(db: Database, world: World) -> None:
    serial = f"SN-{uuid.uuid4().hex[:8]}"
    first = create_one(db, world.a, laptop(f"one-{serial}", serial=serial))
    with pytest.raises(Conflict), db.write() as session:
        devices.create_devices(Tenant(session, world.a), [laptop("two", serial=serial)])
    create_one(db, world.b, laptop(f"other-{serial}", serial=serial))  # another company may use it
    with db.write() as session:
        devices.delete_device(Tenant(session, world.a), first)
    create_one(db, world.a, laptop(f"three-{serial}", serial=serial))  # a deleted device frees it


def test_delete_ends_the_open_span_and_hides_the_device(db: Database, world: World) -> None:
    device = create_one(db, world.a, laptop(f"dev-{uuid.uuid4().hex[:6]}", holder=world.ada))
    with db.write() as session:
        devices.delete_device(Tenant(session, world.a), device)
    assert spans(db, device) == [(world.ada, False)]
    with db.read() as session:
        docs, total = devices.list_devices(Tenant(session, world.a), devices.DeviceQuery(user_id=world.ada))
        assert (docs, total) == ([], 0)


def holder_of(db: Database, device_id: int) -> tuple[int | None, int | None]:
    """The device's holder column and the `user_id` of its stored item."""
    with db.read() as session:
        holder, doc = session.execute(select(Device.holder_id, Device.doc).where(Device.id == device_id)).one()
    return holder, json.loads(doc)["user_id"]


def test_a_take_refused_by_the_overlap_rule_leaves_the_holder(db: Database, world: World) -> None:
    """A take writes the device's new holder and inserts its span together (one round trip on
    PostgreSQL); when the database refuses the span, the holder it wrote is undone with it."""
    serial, name = f"SN-{uuid.uuid4().hex[:8]}", "Surface"
    device = create_one(db, world.a, laptop(name, serial=serial))
    soon = utcnow() + timedelta(hours=1)
    with db.write() as session:
        ownership.take(Tenant(session, world.a), ownership.Take(serial, name, start_time=soon, person_id=world.bob))
    with pytest.raises(Conflict) as refused, db.write() as session:
        take = ownership.Take(serial, name, end_time=soon + timedelta(hours=1), person_id=world.ada)
        ownership.take(Tenant(session, world.a), take)
    assert refused.value.code == "DEVICE_RESERVED"
    assert holder_of(db, device) == (None, None)
    assert spans(db, device) == [(world.bob, True)]
    with db.write() as session:  # a take now, up to the booking, is allowed and hands the device over
        span, held = ownership.take(Tenant(session, world.a), ownership.Take(serial, name, person_id=world.ada))
    assert (held.holder_id, span.end_time) == (world.ada, soon)
    assert holder_of(db, device) == (world.ada, world.ada)


def test_a_release_of_a_span_that_has_ended_leaves_the_holder(db: Database, world: World) -> None:
    """A release clears the device's holder and ends the span together; when the span turns out to
    have ended already (here: behind the holder clock's back), the cleared holder is undone."""
    serial, name = f"SN-{uuid.uuid4().hex[:8]}", "Pixelbook"
    device = create_one(db, world.a, laptop(name, serial=serial))
    with db.write() as session:
        span, _ = ownership.take(Tenant(session, world.a), ownership.Take(serial, name, person_id=world.ada))
    with db.write() as session:
        session.execute(update(Ownership).where(Ownership.id == span.id).values(end_time=Ownership.start_time))
    with pytest.raises(Conflict) as refused, db.write() as session:
        ownership.release(Tenant(session, world.a), span.id)
    assert refused.value.code == "ALREADY_RELEASED"
    assert holder_of(db, device) == (world.ada, world.ada)
    with db.write() as session:
        session.execute(update(Ownership).where(Ownership.id == span.id).values(end_time=None))
        released, held = ownership.release(Tenant(session, world.a), span.id)
    assert (released.id, held.holder_id, held.name, held.serial_number) == (span.id, None, name, serial)
    assert holder_of(db, device) == (None, None)


def test_search_follows_the_holder(db: Database, world: World) -> None:
    name = f"ThinkPad-{uuid.uuid4().hex[:6]}"
    device = create_one(db, world.a, laptop(name, holder=world.ada))
    query = devices.DeviceQuery(search=f"{name} lovelace")
    with db.read() as session:
        assert devices.list_devices(Tenant(session, world.a), query)[1] == 1
    with db.write() as session:
        devices.update_device(Tenant(session, world.a), device, devices.DeviceChanges(holder=world.bob))
    with db.read() as session:
        tenant = Tenant(session, world.a)
        assert devices.list_devices(tenant, query)[1] == 0
        assert devices.list_devices(tenant, devices.DeviceQuery(search=f"{name} MARLEY"))[1] == 1


def test_a_change_of_holder_leaves_the_devices_search_words(db: Database, world: World) -> None:
    """The holder's words are the person's: assigning rewrites no device row of the trigram index."""
    name, serial = f"Yoga-{uuid.uuid4().hex[:6]}", f"SN-{uuid.uuid4().hex[:6]}"
    device = create_one(db, world.a, laptop(name, serial=serial, holder=world.ada))
    with db.write() as session:
        devices.update_device(Tenant(session, world.a), device, devices.DeviceChanges(holder=world.bob))
    with db.read() as session:
        words = session.scalars(select(Device.search_text).where(Device.id == device)).one()
    assert words == f"{name}\n{serial}".lower()


def test_team_search_follows_holders_teams_and_deletes(db: Database, world: World) -> None:
    """A device is found by its holder's teams through `device_team`, which the database keeps:
    on a change of holder (an assignment, a take, a release), of a person's teams, and on a delete."""
    serial = f"SN-{uuid.uuid4().hex[:8]}"
    device = create_one(db, world.a, laptop("Yoga", serial=serial, holder=world.ada))

    def found(search: str) -> int:
        with db.read() as session:
            return devices.list_devices(Tenant(session, world.a), devices.DeviceQuery(search=search))[1]

    def rows() -> list[str]:
        with db.read() as session:
            return list(session.scalars(select(DeviceTeam.words).where(DeviceTeam.device_id == device)))

    assert (found("engineering"), found("yoga ENGINEERING"), rows()) == (1, 1, ["engineering"])
    with db.write() as session:
        devices.update_device(Tenant(session, world.a), device, devices.DeviceChanges(holder=world.bob))
    assert (found("engineering"), found("yoga engineering"), rows()) == (0, 0, [])
    with db.write() as session:
        devices.update_device(Tenant(session, world.a), device, devices.DeviceChanges(holder=None))
    with db.write() as session:
        span, _ = ownership.take(Tenant(session, world.a), ownership.Take(serial, "Yoga", person_id=world.ada))
    assert (found("gineer"), rows()) == (1, ["engineering"])
    with db.write() as session:
        session.execute(update(Person).where(Person.id == world.ada).values(team_words=["sales", "zoé-ünal"]))
    assert (found("engineering"), found("sales"), found("zoé-ü"), sorted(rows())) == (0, 1, 1, ["sales", "zoé-ünal"])
    with db.write() as session:
        ownership.release(Tenant(session, world.a), span.id)
    assert (found("sales"), rows()) == (0, [])
    with db.write() as session:
        devices.update_device(Tenant(session, world.a), device, devices.DeviceChanges(holder=world.ada))
        devices.delete_device(Tenant(session, world.a), device)
    assert (found("sales"), rows()) == (0, [])


def test_search_follows_a_rename(db: Database, world: World) -> None:
    old, new = f"Latitude-{uuid.uuid4().hex[:6]}", f"Precision-{uuid.uuid4().hex[:6]}"
    device = create_one(db, world.a, laptop(old, holder=world.ada))
    with db.write() as session:
        devices.update_device(Tenant(session, world.a), device, devices.DeviceChanges(fields={"name": new}))
    with db.read() as session:
        tenant = Tenant(session, world.a)
        assert devices.list_devices(tenant, devices.DeviceQuery(search=old))[1] == 0
        assert devices.list_devices(tenant, devices.DeviceQuery(search=f"{new} lovelace"))[1] == 1


def test_keys_authenticate_until_revoked(db: Database, world: World) -> None:
    with db.write() as session:
        key, token = create_key(Tenant(session, world.a), person_id=world.ada, read_only=True)
    with db.snapshot() as conn:
        caller = authenticate(conn, f"Bearer {token}")
        assert caller == Caller(company_id=world.a.company_id, person_id=world.ada, can_write=False, key_id=key.id)
        assert authenticate(conn, f"Basic {token}") is None
        assert authenticate(conn, f"Bearer {token}x") is None
        assert authenticate(conn, None) is None
    with db.write() as session:
        revoke_key(session, key.prefix)
    with db.snapshot() as conn:
        assert authenticate(conn, f"Bearer {token}") is None


def test_a_key_cannot_be_bound_to_another_companys_person(db: Database, world: World) -> None:
    with pytest.raises(InvalidInput), db.write() as session:
        create_key(Tenant(session, world.a), person_id=world.eve, read_only=False)
