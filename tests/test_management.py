"""Seed 000's domain rules, tested without HTTP: the record read two ways, assignment through the
ownership table, employees' managers and dates, page arithmetic, strict ids."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest

from custody.app import create_app
from custody.config import Settings
from custody.db.engine import Database
from custody.db.models import Device, MdmEnrollment
from custody.domain import management
from custody.domain.documents import refresh_devices
from custody.domain.errors import Forbidden, InvalidInput, NotFound
from custody.domain.keys import create_key
from custody.domain.people import create_company, create_person
from custody.domain.tenancy import Caller, Tenant, TenantSnapshot


@dataclass(frozen=True)
class World:
    a: Caller
    b: Caller
    ada: str  # hex ids
    bob: str
    eve: str  # company B


@pytest.fixture
def world(db: Database) -> World:
    suffix = uuid.uuid4().hex[:8]
    with db.write() as session:
        a = create_company(session, "A")
        b = create_company(session, "B")
        ca = Caller(company_id=a.id, person_id=None, can_write=True)
        cb = Caller(company_id=b.id, person_id=None, can_write=True)
        ada = create_person(Tenant(session, ca), first_name="Ada", last_name="L", email=f"ada.{suffix}@a.test")
        bob = create_person(Tenant(session, ca), first_name="Bob", last_name="M", email=f"bob.{suffix}@a.test")
        eve = create_person(Tenant(session, cb), first_name="Eve", last_name="S", email=f"eve.{suffix}@b.test")
        return World(a=ca, b=cb, ada=ada.hex_id, bob=bob.hex_id, eve=eve.hex_id)


def new_device(db: Database, caller: Caller, **fields: object) -> str:
    with db.write() as session:
        record = management.create_device(Tenant(session, caller), management.NewDevice(type="LAPTOP", **fields))  # type: ignore[arg-type]
        return str(record["id"])


@pytest.mark.parametrize(("total", "per_page", "pages"), [(0, 20, 0), (1, 20, 1), (20, 20, 1), (21, 20, 2), (7, 3, 3)])
def test_total_pages_is_the_ceiling(total: int, per_page: int, pages: int) -> None:
    assert management.Page(items=[], total=total, page=1, per_page=per_page).total_pages == pages


def test_hex_ids_must_match_whole() -> None:
    assert management.check_hex_id("0123456789abcdef01234567", "id") == "0123456789abcdef01234567"
    for bad in ("0123456789abcdef0123456", "0123456789ABCDEF01234567", "0123456789abcdef01234567\n", ""):
        with pytest.raises(InvalidInput):
            management.check_hex_id(bad, "id")


def test_the_snapshot_and_the_session_read_the_same_record(db: Database, world: World) -> None:
    """The hot path reads raw driver values (SQLite: text instants and JSON text); the write path
    reads typed ones. Both render the same record."""
    device_id = new_device(db, world.a, tags=["a", "é"], owner_id=world.ada, name="Dual")
    with db.write() as session:
        tenant = Tenant(session, world.a)
        device = tenant.scalars(tenant.select(Device).where(Device.hex_id == device_id)).one()
        enrolled = datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC)
        tenant.add(
            MdmEnrollment(
                company_id=world.a.company_id, device_id=device.id, status="ENROLLED", enrollment_date=enrolled
            )
        )
        refresh_devices(tenant, [device.id])
    with db.read() as session:
        typed = management.get_device(Tenant(session, world.a), device_id)
    with db.snapshot() as reader:
        raw = management.get_device(TenantSnapshot(reader, world.a), device_id)
        listed = management.list_devices(TenantSnapshot(reader, world.a), management.DeviceFilter(tag="é"))
    assert raw == typed == listed.items[0]
    assert raw["tags"] == ["a", "é"] and raw["enrolled_at"] == "2024-02-29T23:59:59Z" and raw["is_enrolled"] is True


def test_assignment_needs_a_write_key_and_a_person_of_the_company(db: Database, world: World) -> None:
    device_id = new_device(db, world.a, owner_id=world.ada)
    with db.write() as session:
        reader = Caller(company_id=world.a.company_id, person_id=None, can_write=False)
        with pytest.raises(Forbidden):
            management.assign_device(Tenant(session, reader), device_id, world.bob)
        with pytest.raises(NotFound):
            management.assign_device(Tenant(session, world.a), device_id, world.eve)
        with pytest.raises(NotFound):
            management.assign_device(Tenant(session, world.b), device_id, world.eve)
    with db.read() as session:
        assert management.get_device(Tenant(session, world.a), device_id)["owner_id"] == world.ada


def test_an_employees_devices_are_those_held_now(db: Database, world: World) -> None:
    first = new_device(db, world.a, owner_id=world.ada)
    second = new_device(db, world.a, owner_id=world.bob)
    with db.write() as session:
        management.assign_device(Tenant(session, world.a), second, world.ada)
        management.assign_device(Tenant(session, world.a), first, None)
    with db.read() as session:
        tenant = Tenant(session, world.a)
        assert management.get_employee(tenant, world.ada)["device_ids"] == [second]
        assert management.get_employee(tenant, world.bob)["device_ids"] == []


def test_employee_rules(db: Database, world: World) -> None:
    with db.write() as session:
        tenant = Tenant(session, world.a)
        with pytest.raises(NotFound):
            management.create_employee(tenant, management.NewEmployee("X", "Y", "x.y@a.test", manager_id=world.eve))
        with pytest.raises(InvalidInput):
            management.create_employee(
                tenant,
                management.NewEmployee(
                    "X", "Y", "x.y@a.test", start_date="2024-03-01T00:00:00Z", termination_date="2024-02-29T00:00:00Z"
                ),
            )
        with pytest.raises(InvalidInput):
            management.create_employee(
                tenant, management.NewEmployee("X", "Y", "x.y@a.test", start_date="2023-02-29T00:00:00Z")
            )
        made = management.create_employee(
            tenant, management.NewEmployee("X", "Y", "x.y@a.test", manager_id=world.bob, teams=["T", "T"])
        )
        assert (made["manager_id"], made["teams"], made["device_ids"]) == (world.bob, ["T"], [])


def test_the_base_path_is_a_setting(db: Database, world: World) -> None:
    """`CUSTODY_DEVICE_MANAGEMENT_BASE` moves the API (and its document) under a prefix; the root
    then answers 404 in its style, and the other APIs keep their paths."""
    with db.write() as session:
        _, token = create_key(Tenant(session, world.a), person_id=None, read_only=True)
    app = create_app(Settings(database_url=db.url, device_management_base="/primo"), db)
    headers = {"Authorization": f"Bearer {token}"}

    async def get(path: str) -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://custody") as client:
            return await client.get(path, headers=headers)

    assert asyncio.run(get("/primo/devices")).json()["pagination"]["totalElements"] == 0
    assert asyncio.run(get("/primo/openapi.json")).json()["paths"].keys() >= {"/primo/devices/{deviceId}"}
    moved = asyncio.run(get("/devices"))
    assert moved.status_code == 404 and moved.json()["error"] == "Not Found"
    assert asyncio.run(get("/platform/v1/devices")).json()["meta"]["total"] == 0
