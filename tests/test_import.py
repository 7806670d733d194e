"""`custody import` and `import_devices`: upsert by serial, items that read back as imported, and a
bad line that leaves the database exactly as it was."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import msgspec
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from custody.db.engine import Database
from custody.db.models import Address, Base, Device, DeviceCount, Ownership
from custody.domain import enums
from custody.domain.devices import DeviceQuery, list_devices
from custody.domain.documents import refresh_devices
from custody.domain.imports import ImportResult, LineError, import_devices
from custody.domain.people import create_company, create_person
from custody.domain.tenancy import Caller, Tenant
from custody.domain.timefmt import utcnow
from tests.conftest import CUSTODY, Company, empty_database, run_cli


def encode(lines: list[dict[str, Any] | str | bytes]) -> list[bytes]:
    return [
        line if isinstance(line, bytes) else line.encode() if isinstance(line, str) else msgspec.json.encode(line)
        for line in lines
    ]


def run_import(db: Database, company_id: int, lines: list[dict[str, Any] | str | bytes]) -> ImportResult:
    with db.write() as session:
        tenant = Tenant(session, Caller(company_id=company_id, person_id=None, can_write=True))
        return import_devices(tenant, enumerate(encode(lines), 1))


def items(db: Database, company_id: int) -> dict[str, dict[str, Any]]:
    """The stored items of the company's listed devices, by serial number."""
    with db.read() as session:
        rows = session.execute(
            select(Device.serial_number, Device.doc).where(Device.company_id == company_id, Device.deleted_at.is_(None))
        )
        return {str(serial): json.loads(doc) for serial, doc in rows}


def counts(db: Database, company_id: int) -> dict[str, int]:
    """Rows of every table an import writes, for this company."""
    tables = [
        Base.metadata.tables[name] for name in ("device", "purchase_order", "mdm_enrollment", "parcel", "ownership")
    ]
    with db.read() as session:
        return {
            table.name: session.execute(
                select(func.count()).select_from(table).where(table.c.company_id == company_id)
            ).scalar_one()
            for table in tables
        }


def add_address(db: Database, company_id: int, city: str = "Paris") -> int:
    with db.write() as session:
        address = Address(
            company_id=company_id,
            label=f"{city} office",
            address_line_1="1 rue de la Paix",
            address_line_2=None,
            zip_code="75002",
            city=city,
            country="FR",
            created_at=utcnow(),
        )
        session.add(address)
        session.flush()
        return address.id


def serial() -> str:
    return f"SN-{uuid.uuid4().hex[:10].upper()}"


def person_id(company: Company, index: int = 0) -> int:
    return int(str(company.people[index]["id"]))


CHARACTERISTICS = {
    "screen_size": '14"',
    "graphic": "Apple M3 Pro 14-core GPU",
    "processor": "Apple M3 Pro",
    "ram": "18GB",
    "storage": "512GB SSD",
    "model_year": "2023",
    "connectivity": "Wi-Fi 6E",
    "keyboard_layout": "SWISS_QWERTZ",
    "resolution": "3024x1964",
    "has_microphone": True,
    "has_webcam": True,
    "noise_cancellation": False,
    "compliance": ["CE", "RoHS"],
    "connection_type": ["USB-C", "MagSafe"],
    "has_stool": None,
    "has_video_package": False,
    "has_screen": True,
    "has_premium_tablet": None,
    "color": "Space Black",
    "seats_number": None,
    "assembly": None,
    "os_platform": "macOS",
}
MDM = {
    "id": 77,
    "status": "ENROLLED",
    "local_name": "ADA-MBP",
    "is_locked": False,
    "lock_date": None,
    "firewall_enabled": True,
    "os_updates_enabled": True,
    "is_encrypted": True,
    "screenlock_enabled": False,
    "is_compromised": False,
    "os_updates_available": True,
    "disk_encryption_profile_installed": True,
    "enrollment_date": "2024-02-29T10:15:00Z",
    "unenrollment_date": None,
    "download_date": "2024-02-29T08:00:00Z",
    "last_seen_date": "2024-06-01T12:00:00Z",
    "last_sync_date": "2024-06-01T12:05:30Z",
}


def full_line(company: Company, pickup: int, reception: int) -> dict[str, Any]:
    return {
        "id": 123456,
        "name": "MacBook Pro 14",
        "serial_number": serial(),
        "rent": "89.00",
        "tracking_number": "1Z999AA10123456784",
        "tracking_url": "https://www.ups.com/track?tracknum=1Z999AA10123456784",
        "client_status": "IN_SERVICE",
        "type": "LAPTOP",
        "category": "COMPUTER",
        "source": "LEASE",
        "comment": "Ada's laptop",
        "characteristics": CHARACTERISTICS,
        "mdm": MDM,
        "order": {
            "order_id": 4242,
            "client_status": "SHIPPED",
            "device_names": ["MacBook Pro 14", "Dell U2723QE"],
            "rent": "1250.00",
            "rent_currency": "EUR",
            "order_number": f"ORD-{uuid.uuid4().hex[:8]}",
            "contract_number": "CTR-2024-001",
            "order_date": "2024-01-15T09:30:00Z",
            "num_devices": 12,
        },
        "parcels": [  # newest first, as the API shows them
            {
                "id": 9,
                "type": "INTER_OFFICE_DELIVERY",
                "status": "SHIPPED",
                "tracking_number": "DHL123",
                "tracking_url": "https://dhl.example/DHL123",
                "carrier": "DHL",
                "pickup_address_id": pickup,
                "reception_address_id": reception,
                "pickup_date": "2024-05-02T08:00:00Z",
                "reception_date": None,
                "shipping_date": "2024-05-02T09:00:00Z",
                "created_at": "2024-05-01T16:00:00Z",
            },
            {
                "id": 8,
                "type": "RETURN",
                "status": "RECEIVED",
                "tracking_number": "UPS999",
                "tracking_url": None,
                "carrier": "UPS",
                "pickup_address_id": reception,
                "reception_address_id": pickup,
                "pickup_date": "2024-03-01T08:00:00Z",
                "reception_date": "2024-03-03T14:00:00Z",
                "shipping_date": "2024-03-01T10:00:00Z",
                "created_at": "2024-02-28T11:00:00Z",
            },
        ],
        "user_id": person_id(company),
    }


def without(item: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in keys}


def test_import_creates_then_updates_by_serial(db: Database, fresh_company: Company) -> None:
    s1, s2, s3 = serial(), serial(), serial()
    first = run_import(
        db,
        fresh_company.id,
        [
            {"serial_number": s1, "name": "ThinkPad", "client_status": "AVAILABLE", "characteristics": {"ram": "8GB"}},
            {"serial_number": s2, "name": "iPhone 15", "type": "SMARTPHONE"},
        ],
    )
    assert (first.created, first.updated) == (2, 0)
    intake = items(db, fresh_company.id)[s1]["order"]
    assert intake["order_number"].startswith("INTAKE-") and intake["num_devices"] == 2
    assert intake["device_names"] == ["ThinkPad", "iPhone 15"]

    second = run_import(
        db,
        fresh_company.id,
        [
            {"serial_number": s1, "client_status": "IN_SERVICE", "characteristics": {"storage": "1TB"}},
            {"serial_number": s3, "name": "Pixel 8"},
        ],
    )
    assert (second.created, second.updated) == (1, 1)
    stored = items(db, fresh_company.id)
    assert set(stored) == {s1, s2, s3}
    # Keys a line leaves out keep their value; the device stays on the order it came with.
    assert stored[s1]["name"] == "ThinkPad"
    assert stored[s1]["client_status"] == "IN_SERVICE"
    assert stored[s1]["characteristics"]["ram"] == "8GB"
    assert stored[s1]["characteristics"]["storage"] == "1TB"
    assert stored[s1]["order"]["order_id"] == intake["order_id"]
    assert stored[s3]["order"]["order_id"] != intake["order_id"]
    assert stored[s3]["client_status"] == "AVAILABLE"

    with db.read() as session:  # the per-status counts behind `meta.total` follow the updates
        stored_counts = session.execute(
            select(DeviceCount.client_status, DeviceCount.n).where(
                DeviceCount.company_id == fresh_company.id, DeviceCount.n > 0
            )
        )
        assert {status: n for status, n in stored_counts} == {"IN_SERVICE": 1, "AVAILABLE": 2}

    run_import(db, fresh_company.id, [{"serial_number": s1, "name": None, "characteristics": {"ram": None}}])
    cleared = items(db, fresh_company.id)[s1]
    assert cleared["name"] is None and cleared["characteristics"]["ram"] is None
    assert cleared["characteristics"]["storage"] == "1TB"


def test_item_reads_back_as_imported(db: Database, fresh_company: Company) -> None:
    paris, lyon = add_address(db, fresh_company.id), add_address(db, fresh_company.id, "Lyon")
    line = full_line(fresh_company, paris, lyon)
    run_import(db, fresh_company.id, [line])
    item = items(db, fresh_company.id)[line["serial_number"]]

    plain = ("name", "serial_number", "rent", "tracking_number", "tracking_url", "client_status", "type")
    assert {k: item[k] for k in (*plain, "category", "source", "comment")} == without(
        line, "id", "characteristics", "mdm", "order", "parcels", "user_id"
    )
    assert item["characteristics"] == CHARACTERISTICS
    assert without(item["mdm"], "id") == without(MDM, "id")
    assert without(item["order"], "order_id") == without(line["order"], "order_id")
    assert [without(p, "id") for p in item["parcels"]] == [without(p, "id") for p in line["parcels"]]
    assert item["user_id"] == line["user_id"]
    assert item["id"] != line["id"]  # ids are ours


def test_bulk_rendering_matches_the_write_path(db: Database, fresh_company: Company) -> None:
    """The import renders items itself; they equal what every other write renders."""
    paris, lyon = add_address(db, fresh_company.id), add_address(db, fresh_company.id, "Lyon")
    line = full_line(fresh_company, paris, lyon)
    run_import(db, fresh_company.id, [line, {"serial_number": serial(), "name": "Jabra Evolve2"}])
    run_import(
        db, fresh_company.id, [{**line, "client_status": "IN_MAINTENANCE", "user_id": person_id(fresh_company, 1)}]
    )
    with db.write() as session:
        tenant = Tenant(session, Caller(company_id=fresh_company.id, person_id=None, can_write=True))
        stored = {d.id: (d.doc, d.search_text) for d in tenant.scalars(tenant.select(Device))}
        rendered = refresh_devices(tenant, stored)
        searched = {d.id: d.search_text for d in tenant.scalars(tenant.select(Device))}
    assert {i: json.loads(doc) for i, (doc, _) in stored.items()} == {i: json.loads(d) for i, d in rendered.items()}
    assert {i: text for i, (_, text) in stored.items()} == searched
    with db.read() as session:  # the new holder is searchable, through the person's words
        tenant = Tenant(session, Caller(company_id=fresh_company.id, person_id=None, can_write=False))
        docs, total = list_devices(tenant, DeviceQuery(search="grace " + line["serial_number"]))
    assert total == 1 and json.loads(docs[0])["user_id"] == person_id(fresh_company, 1)


def test_parcels_without_dates_keep_the_line_order(db: Database, fresh_company: Company) -> None:
    s = serial()
    parcels = [{"type": t, "status": "WAITING", "carrier": c} for t, c in (("RETURN", "new"), ("RETURN", "old"))]
    run_import(db, fresh_company.id, [{"serial_number": s, "parcels": parcels}])
    assert [p["carrier"] for p in items(db, fresh_company.id)[s]["parcels"]] == ["new", "old"]


def test_mdm_and_parcels_are_replaced_and_removed(db: Database, fresh_company: Company) -> None:
    s = serial()
    parcel = {"type": "RETURN", "status": "SCHEDULED", "created_at": "2024-01-01T00:00:00Z"}
    run_import(db, fresh_company.id, [{"serial_number": s, "mdm": MDM, "parcels": [parcel, parcel]}])
    first = items(db, fresh_company.id)[s]
    run_import(db, fresh_company.id, [{"serial_number": s, "mdm": {"status": "UNENROLLED"}, "parcels": [parcel]}])
    second = items(db, fresh_company.id)[s]
    assert second["mdm"]["id"] == first["mdm"]["id"]  # the enrollment is replaced in place
    assert second["mdm"]["status"] == "UNENROLLED" and second["mdm"]["local_name"] is None
    assert len(second["parcels"]) == 1
    run_import(db, fresh_company.id, [{"serial_number": s, "comment": "kept"}])
    assert items(db, fresh_company.id)[s]["mdm"] == second["mdm"]  # left out: kept
    run_import(db, fresh_company.id, [{"serial_number": s, "mdm": None, "parcels": []}])
    third = items(db, fresh_company.id)[s]
    assert third["mdm"] is None and third["parcels"] == []
    assert counts(db, fresh_company.id)["mdm_enrollment"] == 0
    assert counts(db, fresh_company.id)["parcel"] == 0


def test_mdm_lock_and_wipe_drive_the_device_state(db: Database, fresh_company: Company) -> None:
    locked, wiping = serial(), serial()
    run_import(
        db,
        fresh_company.id,
        [
            {"serial_number": locked, "mdm": {**MDM, "is_locked": True, "lock_date": "2024-06-02T00:00:00Z"}},
            {"serial_number": wiping, "mdm": {**MDM, "status": "DEVICE_WIPE_PENDING"}},
        ],
    )
    stored = items(db, fresh_company.id)
    assert stored[locked]["mdm"]["is_locked"] is True
    assert stored[wiping]["mdm"]["status"] == "DEVICE_WIPE_PENDING"
    with db.read() as session:
        rows = session.execute(
            select(Device.serial_number, Device.lock_wipe_status).where(Device.company_id == fresh_company.id)
        )
        states = {serial: state for serial, state in rows}
    assert states == {locked: "LOCKED", wiping: "WIPING"}
    run_import(db, fresh_company.id, [{"serial_number": locked, "mdm": MDM}])
    assert items(db, fresh_company.id)[locked]["mdm"]["is_locked"] is False


def test_user_id_moves_the_holder_like_set_holder(db: Database, fresh_company: Company) -> None:
    s = serial()
    ada, grace = person_id(fresh_company, 0), person_id(fresh_company, 1)

    def spans() -> list[tuple[int, bool]]:
        with db.read() as session:
            rows = session.execute(
                select(Ownership.person_id, Ownership.end_time)
                .join(Device, Device.id == Ownership.device_id)
                .where(Device.serial_number == s, Device.company_id == fresh_company.id)
                .order_by(Ownership.id)
            )
            return [(p, end is None) for p, end in rows]

    run_import(db, fresh_company.id, [{"serial_number": s, "user_id": ada}])
    assert spans() == [(ada, True)] and items(db, fresh_company.id)[s]["user_id"] == ada
    run_import(db, fresh_company.id, [{"serial_number": s, "user_id": ada, "name": "same holder"}])
    assert spans() == [(ada, True)]
    run_import(db, fresh_company.id, [{"serial_number": s, "user_id": grace}])
    assert spans() == [(ada, False), (grace, True)]
    run_import(db, fresh_company.id, [{"serial_number": s, "comment": "holder left out: kept"}])
    assert items(db, fresh_company.id)[s]["user_id"] == grace
    run_import(db, fresh_company.id, [{"serial_number": s, "user_id": None}])
    assert spans() == [(ada, False), (grace, False)] and items(db, fresh_company.id)[s]["user_id"] is None
    with db.read() as session:
        text = session.execute(select(Device.search_text).where(Device.serial_number == s)).scalar_one()
    assert "grace" not in text


def test_orders_are_upserted_by_number(db: Database, fresh_company: Company) -> None:
    number = f"ORD-{uuid.uuid4().hex[:8]}"
    a, b = serial(), serial()
    order = {"order_number": number, "client_status": "SHIPPED", "rent": "300.00", "rent_currency": "EUR"}
    result = run_import(
        db,
        fresh_company.id,
        [{"serial_number": a, "name": "iPad", "order": order}, {"serial_number": b, "name": "Screen", "order": order}],
    )
    assert result.orders_created == 1 and result.intake_order_id is None
    stored = items(db, fresh_company.id)
    assert stored[a]["order"] == stored[b]["order"]
    assert stored[a]["order"]["num_devices"] == 2 and stored[a]["order"]["device_names"] == ["iPad", "Screen"]
    # Changing the order through one device shows on every device of that order.
    run_import(
        db, fresh_company.id, [{"serial_number": a, "order": {"order_number": number, "client_status": "ARCHIVED"}}]
    )
    assert items(db, fresh_company.id)[b]["order"]["client_status"] == "ARCHIVED"
    assert counts(db, fresh_company.id)["purchase_order"] == 1


# A bad line, and a fragment of what its error must say.
BAD_LINES: list[tuple[dict[str, Any] | str | bytes, str]] = [
    ("{not json", "malformed"),
    (b'{"serial_number": "X-1", "name": "caf\xe9"}', "utf-8"),
    ({"name": "no serial"}, "serial_number"),
    ({"serial_number": "X-1", "colour": "red"}, "colour"),
    ({"serial_number": "X-1", "client_status": "BROKEN"}, "client_status"),
    ({"serial_number": "X-1", "characteristics": {"keyboard_layout": "KLINGON"}}, "keyboard_layout"),
    ({"serial_number": "X-1", "characteristics": {"ram": 16}}, "ram"),
    ({"serial_number": "X-1", "mdm": {**MDM, "enrollment_date": "2023-02-29T00:00:00Z"}}, "enrollment_date"),
    ({"serial_number": "X-1", "mdm": {**MDM, "last_seen_date": "2024-01-01T00:00:00+02:00"}}, "last_seen_date"),
    ({"serial_number": "X-1", "parcels": [{"type": "PIGEON", "status": "WAITING"}]}, "type"),
    ({"serial_number": "X-1", "order": {"client_status": "SHIPPED"}}, "order_number"),
    ({"serial_number": "X-1", "name": "nul\u0000byte"}, "NUL"),
    ({"serial_number": "X-1", "mdm": {**MDM, "status": "DEVICE_WIPE_PENDING", "is_locked": True}}, "locked"),
    ({"serial_number": "X-1", "user_id": 2**62}, "user_id"),
    ({"serial_number": "DUP-1"}, "already on line 3"),
]


@pytest.mark.parametrize(("bad", "fragment"), BAD_LINES, ids=[fragment for _, fragment in BAD_LINES])
def test_a_bad_line_names_its_number_and_writes_nothing(
    db: Database, fresh_company: Company, bad: dict[str, Any] | str | bytes, fragment: str
) -> None:
    lines: list[dict[str, Any] | str | bytes] = [
        {"serial_number": serial(), "name": "good", "user_id": person_id(fresh_company)},
        {"serial_number": serial(), "order": {"order_number": "ORD-GOOD"}, "mdm": MDM},
        {"serial_number": "DUP-1"},
        bad,
    ]
    before = counts(db, fresh_company.id)
    with pytest.raises(LineError) as raised:
        run_import(db, fresh_company.id, lines)
    assert raised.value.line == 4
    assert raised.value.message.startswith("line 4: ")
    assert fragment.lower() in raised.value.message.lower()
    assert counts(db, fresh_company.id) == before


def test_another_companys_person_or_address_is_refused(db: Database, fresh_company: Company) -> None:
    suffix = uuid.uuid4().hex[:8]
    with db.write() as session:
        other = create_company(session, f"Other {suffix}")
        tenant = Tenant(session, Caller(company_id=other.id, person_id=None, can_write=True))
        stranger = create_person(tenant, first_name="Eve", last_name="N", email=f"eve.{suffix}@other.test").id
    foreign_address = add_address(db, other.id)
    own_address = add_address(db, fresh_company.id)
    before = counts(db, fresh_company.id)
    with pytest.raises(LineError, match=r"^line 2: user_id \d+ is not a person of this company"):
        run_import(
            db, fresh_company.id, [{"serial_number": serial()}, {"serial_number": serial(), "user_id": stranger}]
        )
    parcel = {"type": "RETURN", "status": "WAITING", "pickup_address_id": own_address}
    with pytest.raises(LineError, match=r"^line 3: parcels\[1\]\.reception_address_id \d+ is not an address"):
        run_import(
            db,
            fresh_company.id,
            [
                {"serial_number": serial(), "parcels": [parcel]},
                {"serial_number": serial()},
                {"serial_number": serial(), "parcels": [parcel, {**parcel, "reception_address_id": foreign_address}]},
            ],
        )
    assert counts(db, fresh_company.id) == before


def test_a_serial_of_another_company_is_a_new_device(db: Database, fresh_company: Company) -> None:
    s = serial()
    with db.write() as session:
        other = create_company(session, f"Other {uuid.uuid4().hex[:8]}").id
    run_import(db, other, [{"serial_number": s, "name": "theirs"}])
    result = run_import(db, fresh_company.id, [{"serial_number": s, "name": "ours"}])
    assert (result.created, result.updated) == (1, 0)
    assert items(db, other)[s]["name"] == "theirs"


def write_lines(path: Path, lines: list[dict[str, Any] | str | bytes]) -> Path:
    path.write_bytes(b"\n".join(encode(lines)) + b"\n")
    return path


def test_cli_imports_and_upserts(database_url: str, db: Database, fresh_company: Company, tmp_path: Path) -> None:
    lines: list[dict[str, Any] | str | bytes] = [
        {"serial_number": serial(), "name": f"Laptop {i}", "client_status": status}
        for i, status in enumerate(enums.DEVICE_CLIENT_STATUSES)
    ]
    file = write_lines(tmp_path / "devices.jsonl", [*lines[:4], "", *lines[4:]])  # blank lines are skipped
    first = run_cli(database_url, "import", str(file), "--company", str(fresh_company.id))
    assert (first["created"], first["updated"]) == (9, 0)
    assert isinstance(first["devices_per_second"], int)
    again = run_cli(database_url, "import", str(file), "--company", str(fresh_company.id))
    assert (again["created"], again["updated"]) == (0, 9)
    assert counts(db, fresh_company.id)["device"] == 9


def test_cli_bad_line_exits_1_and_changes_nothing(
    database_url: str, db: Database, fresh_company: Company, tmp_path: Path
) -> None:
    lines: list[dict[str, Any] | str | bytes] = [{"serial_number": serial()}, {"serial_number": serial()}]
    file = write_lines(tmp_path / "bad.jsonl", [*lines, {"serial_number": serial(), "client_status": "LOST"}])
    before = counts(db, fresh_company.id)
    env = {**os.environ, "CUSTODY_DATABASE_URL": database_url}
    done = subprocess.run(
        [*CUSTODY, "import", str(file), "--company", str(fresh_company.id)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().startswith("line 3: "), done.stderr
    assert "client_status" in done.stderr
    assert counts(db, fresh_company.id) == before
    as_json = subprocess.run(
        [*CUSTODY, "import", str(file), "--company", str(fresh_company.id), "--json"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert as_json.returncode == 1 and json.loads(as_json.stdout)["line"] == 3


def test_cli_unknown_company_exits_1(database_url: str, tmp_path: Path) -> None:
    file = write_lines(tmp_path / "one.jsonl", [{"serial_number": serial()}])
    env = {**os.environ, "CUSTODY_DATABASE_URL": database_url}
    done = subprocess.run([*CUSTODY, "import", str(file), "--company", "999999999"], env=env, capture_output=True)
    assert done.returncode == 1


# Text the bulk write (PostgreSQL's COPY text format, SQLite's bound parameters) must store as given:
# COPY's own escapes (backslash, tab, newline, carriage return, the \N of NULL) included.
AWKWARD = [
    "tab\there",
    "line\nbreak\r\nand\rreturn",
    "back\\slash \\N \\t \\\\",
    "\\N",
    "",
    "  padded  ",
    "quote \" and ' and ,;|",
    "café 中文 🚀 e\u0301 \u00a0nbsp \u2028sep",
    "\x01\x1f\x7f controls",
    '{"json": [1, "x"]}',
]


def test_text_survives_the_bulk_write_exactly(db: Database, fresh_company: Company) -> None:
    paris = add_address(db, fresh_company.id)
    serials = [f"SN\\{i}-é🚀-{uuid.uuid4().hex[:6]}" for i in range(len(AWKWARD))]

    def line(index: int, value: str, comment: str | None) -> dict[str, Any]:
        return {
            "serial_number": serials[index],
            "name": value,
            "comment": comment,
            "rent": value[:50],
            "tracking_url": None if index % 2 else value,
            "characteristics": {"ram": value, "compliance": [value, ""], "color": None},
            "mdm": {**MDM, "local_name": value},
            "order": {"order_number": f"ORD\t{index}\\N", "contract_number": value[:100]},
            "parcels": [{"type": "RETURN", "status": "WAITING", "carrier": value[:100], "pickup_address_id": paris}],
        }

    run_import(db, fresh_company.id, [line(i, v, None) for i, v in enumerate(AWKWARD)])
    # Again, now as updates (a staging table on the way), with the values rotated.
    rotated = AWKWARD[1:] + AWKWARD[:1]
    run_import(db, fresh_company.id, [line(i, v, AWKWARD[i]) for i, v in enumerate(rotated)])
    stored = items(db, fresh_company.id)
    with db.read() as session:
        columns = {
            serial: (name, comment, rent, url)
            for serial, name, comment, rent, url in session.execute(
                select(Device.serial_number, Device.name, Device.comment, Device.rent, Device.tracking_url).where(
                    Device.company_id == fresh_company.id
                )
            )
        }
    assert set(stored) == set(columns) == set(serials)
    for index, value in enumerate(rotated):
        serial_number, item = serials[index], stored[serials[index]]
        url = None if index % 2 else value
        assert columns[serial_number] == (value, AWKWARD[index], value[:50], url)
        assert (item["name"], item["comment"], item["rent"], item["tracking_url"]) == columns[serial_number]
        assert item["characteristics"]["ram"] == value
        assert item["characteristics"]["compliance"] == [value, ""]
        assert item["characteristics"]["color"] is None
        assert item["mdm"]["local_name"] == value
        assert item["order"]["order_number"] == f"ORD\t{index}\\N"
        assert item["order"]["contract_number"] == value[:100]
        assert [p["carrier"] for p in item["parcels"]] == [value[:100]]


def test_the_write_settings_end_with_the_import(db: Database, fresh_company: Company) -> None:
    """The import widens the connection's caches for its write (SQLite's page cache; PostgreSQL's
    work_mem and search index queue) and leaves the rest of the transaction, and the pooled
    connection, as it found them."""
    if db.dialect == "sqlite":
        show = "PRAGMA cache_size"
    else:
        show = "SELECT current_setting('work_mem') || ' ' || current_setting('gin_pending_list_limit')"
    with db.write() as session:
        before = session.connection().exec_driver_sql(show).scalar_one()
        tenant = Tenant(session, Caller(company_id=fresh_company.id, person_id=None, can_write=True))
        import_devices(tenant, enumerate(encode([{"serial_number": serial(), "name": "kept"}]), 1))
        assert session.connection().exec_driver_sql(show).scalar_one() == before


def test_a_first_bulk_load_gets_planner_statistics(backend: str, tmp_path: Path) -> None:
    """On PostgreSQL the next import analyzes the columns its lookups probe when a bulk load left
    them without statistics, rather than scanning the table per chunk of serial numbers."""
    if backend != "postgres":
        pytest.skip("SQLite's statistics are `Database.analyze`'s (after `custody import`)")
    with empty_database(backend, tmp_path) as url:
        database = Database(url)
        try:
            database.upgrade()
            with database.write() as session:
                company_id = create_company(session, "Bulk").id
            with database.write() as session:
                tenant = Tenant(session, Caller(company_id=company_id, person_id=None, can_write=True))
                lines = encode([{"serial_number": f"BULK-{i:05d}"} for i in range(1500)])
                import_devices(tenant, enumerate(lines, 1))
                # Its counts reach the statistics system when the connection goes idle after the commit.
                session.connection().exec_driver_sql("SELECT pg_stat_force_next_flush()")
            probe = text(
                "SELECT n_live_tup, (SELECT count(*) FROM pg_stats WHERE tablename = 'device' "
                "AND attname = 'serial_number') FROM pg_stat_user_tables WHERE relname = 'device'"
            )
            with database.engine.connect() as connection:
                for _ in range(100):
                    connection.exec_driver_sql("SELECT pg_stat_clear_snapshot()")
                    live, analyzed = connection.execute(probe).one()
                    if live >= 1500:
                        break
                    time.sleep(0.1)
                connection.rollback()
            assert (live, analyzed) == (1500, 0)
            result = run_import(database, company_id, [{"serial_number": "BULK-00007", "name": "again"}])
            assert (result.created, result.updated) == (0, 1)
            with database.engine.connect() as connection:
                assert connection.execute(probe).one()[1] == 1
        finally:
            database.dispose()


def test_stored_items_are_compressed_with_lz4_where_the_server_has_it(db: Database) -> None:
    if db.dialect != "postgresql":
        pytest.skip("PostgreSQL's TOAST compression")
    with db.engine.connect() as connection:
        try:
            with connection.begin_nested():
                connection.exec_driver_sql("SET LOCAL default_toast_compression = 'lz4'")
        except DBAPIError:
            pytest.skip("this server was built without lz4")
        method = connection.exec_driver_sql(
            "SELECT attcompression FROM pg_attribute WHERE attrelid = 'device'::regclass AND attname = 'doc'"
        ).scalar_one()
        connection.rollback()
    assert method == "l"
