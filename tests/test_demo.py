"""`custody demo`: a realistic company covering every documented value, reused on a second run."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from custody.db.engine import Database
from custody.db.models import Address, Device, MdmEnrollment, Ownership, Parcel, Person, PurchaseOrder
from custody.domain import enums
from custody.domain.documents import refresh_devices
from custody.domain.tenancy import Caller, Tenant
from tests.conftest import CUSTODY, run_cli

KINDS = {"LAPTOP", "SMARTPHONE", "TABLET", "SCREEN", "HEADSET", "CHAIR"}


def test_demo_covers_every_documented_value_and_is_reused(
    database_url: str, db: Database, api: httpx.Client, server: str
) -> None:
    first = run_cli(database_url, "demo")
    assert first["reused"] is False
    company = int(str(first["company_id"]))
    assert int(str(first["devices"])) >= 500

    with db.read() as session:

        def distinct(column: Any, model: Any) -> set[Any]:
            return set(session.scalars(select(column).distinct().where(model.company_id == company)))

        assert distinct(Device.client_status, Device) == set(enums.DEVICE_CLIENT_STATUSES)
        assert distinct(Device.type, Device) >= KINDS
        assert distinct(Device.platform, Device) >= set(enums.PLATFORMS)
        assert distinct(MdmEnrollment.status, MdmEnrollment) == set(enums.MDM_STATUSES)
        assert distinct(PurchaseOrder.client_status, PurchaseOrder) == set(enums.ORDER_CLIENT_STATUSES)
        assert set(session.execute(select(Parcel.type, Parcel.status).where(Parcel.company_id == company))) == {
            (t, s) for t in enums.PARCEL_TYPES for s in enums.PARCEL_STATUSES
        }
        teams = session.scalars(select(Person.teams).where(Person.company_id == company))
        assert len({team for listed in teams for team in listed}) >= 5
        assert distinct(Person.role, Person) == set(enums.PERSON_ROLES)
        assert len(distinct(Address.id, Address)) >= 3

        docs = [json.loads(d) for d in session.scalars(select(Device.doc).where(Device.company_id == company))]
        layouts = {d["characteristics"]["keyboard_layout"] for d in docs} - {None}
        assert layouts == set(enums.KEYBOARD_LAYOUTS)
        enrolled = [d["mdm"] for d in docs if d["mdm"] and d["mdm"]["status"] == "ENROLLED"]
        assert any(m["is_encrypted"] and m["firewall_enabled"] for m in enrolled)  # posture reported
        assert any(d["order"]["order_number"].startswith("INTAKE-") for d in docs)
        assert all(d["order"]["rent"] for d in docs if not d["order"]["order_number"].startswith("INTAKE-"))

        # History: closed spans in the past, and open spans that are the devices' current holders.
        spans = session.execute(
            select(Ownership.device_id, Ownership.person_id, Ownership.end_time).where(Ownership.company_id == company)
        ).all()
        assert any(end is not None for _, _, end in spans)
        holders = select(Device.id, Device.holder_id).where(Device.company_id == company, Device.holder_id.is_not(None))
        held = {device: person for device, person in session.execute(holders)}
        assert {device: person for device, person, end in spans if end is None} == held
        assert len(held) > 200
        assert {d["id"]: d["user_id"] for d in docs if d["user_id"] is not None} == held

    # Every stored item is what the ordinary write path renders.
    with db.write() as session:
        tenant = Tenant(session, Caller(company_id=company, person_id=None, can_write=True))
        before = {
            i: json.loads(doc)
            for i, doc in session.execute(select(Device.id, Device.doc).where(Device.company_id == company))
        }
        assert {i: json.loads(doc) for i, doc in refresh_devices(tenant, before).items()} == before

    # The printed key and curl lines work against a running server.
    token = str(first["token"])
    page = api.get("/devices", params={"limit": 1}, headers={"Authorization": f"Bearer {token}"})
    assert page.status_code == 200 and page.json()["meta"]["total"] == first["devices"]
    curls = first["curl"]
    assert isinstance(curls, list) and len(curls) == 8
    person_token = str(first["person_token"])
    assert all(f"Bearer {token}" in line or f"Bearer {person_token}" in line for line in curls)
    mine = api.get(
        f"{server}/v1/devices/", params={"current": "true"}, headers={"Authorization": f"Bearer {person_token}"}
    )
    assert mine.status_code == 200 and mine.json()["count"] >= 1, mine.text
    assert any("-X PATCH" in line for line in curls) and any("user_id=" in line for line in curls)

    second = run_cli(database_url, "demo", "--port", "9999")
    assert second["reused"] is True and second["company_id"] == first["company_id"]
    assert second["devices"] == first["devices"] and second["token"] != first["token"]
    assert all(":9999/" in line for line in second["curl"])  # type: ignore[attr-defined]
    assert sum(":9999/platform/v1/" in line for line in second["curl"]) == 5  # type: ignore[attr-defined]
    with db.read() as session:
        listed = select(func.count()).select_from(Device).where(Device.company_id == company)
        assert session.execute(listed).scalar_one() == first["devices"]  # nothing added the second time


def test_demo_works_on_the_default_database(tmp_path: Path) -> None:
    """With no database configured, the demo creates the embedded SQLite file itself."""
    env = {k: v for k, v in os.environ.items() if k != "CUSTODY_DATABASE_URL"} | {"CUSTODY_DATA_DIR": str(tmp_path)}
    done = subprocess.run([*CUSTODY, "demo", "--devices", "120", "--json"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["devices"] == 120
    assert (tmp_path / "custody.sqlite3").exists()
