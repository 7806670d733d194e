"""A realistic fleet for the benchmarks: one big company of N devices plus 99 small ones (50-500
devices each), loaded through Custody's own import (`import_devices`, JSON lines in the company
devices item shape) with orders, parcels, MDM records, holders and teams; then past ownership spans
and the credentials the load rows need.

People and past spans are written with plain multi-row INSERTs: the import carries neither, and
`create_person` (one savepoint per person) would take minutes for the big company's people, which
is not what is measured here. The 64 key holders of the take / release rows do go through
`create_person` and `create_key`."""

from __future__ import annotations

import random
import time
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import msgspec
from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from custody.db.engine import Database
from custody.db.models import Address, Device, Ownership, Person
from custody.demo import CARRIERS, CATALOG, DEVICE_STATUS_WEIGHTS, FIRST_NAMES, HELD_STATUSES, MDM_STATUS_WEIGHTS
from custody.domain import enums
from custody.domain.device_tokens import create_device_token
from custody.domain.devices import new_hex_id
from custody.domain.documents import Columns, person_search_text, team_words
from custody.domain.imports import import_devices
from custody.domain.keys import create_key
from custody.domain.people import create_company, create_person
from custody.domain.tenancy import Caller, Tenant
from custody.domain.timefmt import iso_z, utcnow

SMALL_COMPANIES = 99
# Chunks of the big company's import, each its own transaction (as a customer would split a huge
# file): bounded memory at a million devices. A multiple of ORDER_SIZE, so no order spans two.
IMPORT_CHUNK = 50_000
ORDER_SIZE = 200
DEPARTMENTS = ("Engineering", "Product", "Design", "Sales", "Marketing", "Support", "Finance", "People", "Legal", "IT")
SITES = ("Paris", "Lyon", "Berlin", "Madrid", "London", "Milan", "Lisbon", "Warsaw", "Dublin", "Tokyo", "Oslo")
SYLLABLES = ("ka", "lo", "mi", "ren", "sa", "tor", "vi", "zu", "bel", "dan", "fer", "gon", "hal", "jor", "lin", "mar")
RETURNED = ("AVAILABLE", "ARCHIVED", "OUT_OF_SERVICE")  # held once, not now
TAKE_DEVICES = 64 + 8  # the take / release rows' devices: one per client, then 8 shared
REPORT_DEVICES = 64
_STATUSES = list(DEVICE_STATUS_WEIGHTS)
_STATUS_WEIGHTS = list(DEVICE_STATUS_WEIGHTS.values())
_MODEL_WEIGHTS = [m.weight for m in CATALOG]


@dataclass(slots=True)
class Fleet:
    """What the load rows need to know of the generated data."""

    company_id: int
    devices: int  # in the big company
    total_devices: int
    import_seconds: float
    read_token: str
    holders: list[tuple[int, str, str, str]]  # (id, hex id, first name, last name) of people who hold devices
    teams: list[str]
    device_ids: list[int]  # a sample of the big company's device ids
    take_devices: list[tuple[str, str]]  # (serial, name), nobody holds them
    person_tokens: list[str]
    device_tokens: list[tuple[int, str]]
    spans: int = 0
    orders: int = 0
    timings: dict[str, float] = field(default_factory=dict)


BASE36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
SERIAL_SPACE = 36**9
# Near the golden ratio of the space, so consecutive indexes land far apart; prime to 36 (odd, not
# a multiple of 3), so that the scramble below is a bijection.
SERIAL_STEP = 63_107_495_147_791


def serial(company_no: int, index: int, model_brand: str) -> str:
    """A manufacturer's serial: brand letter, then nine base-36 characters that look random, as
    real serials do (Apple's and Dell's are random alphanumerics). Distinct within a company: the
    index is scrambled by a bijection of [0, 36^9) (a multiplier prime to 36)."""
    n = (index * SERIAL_STEP + company_no * 1_000_003 + 0x5DEECE66D) % SERIAL_SPACE
    digits = ""
    for _ in range(9):
        n, d = divmod(n, 36)
        digits += BASE36[d]
    return f"{model_brand[:1].upper()}{digits}"


def serial_fragment(index: int) -> str:
    """Six characters from the middle of the big company's device `index`, as a support agent types them."""
    return serial(0, index, "X")[3:9]


def last_name(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(3)).capitalize()


class _Company:
    """One company's generator: people, addresses, then import lines chunk by chunk."""

    def __init__(self, session: Session, name: str, company_no: int, rng: random.Random, teams: Sequence[str]) -> None:
        company = create_company(session, name)
        self.id = company.id
        self.no = company_no
        self.rng = rng
        self.teams = list(teams)
        self.tenant = Tenant(session, Caller(company_id=company.id, person_id=None, can_write=True))
        self.now = utcnow()
        # Date strings drawn from a pool: rendering one per field and device would cost more than the rest.
        self.days = [iso_z(self.now - timedelta(days=d, minutes=rng.randrange(480))) for d in range(1, 900)]

    def people(self, count: int) -> list[tuple[int, str, str, str]]:
        rng, now = self.rng, self.now
        rows = []
        for i in range(count):
            first, last = rng.choice(FIRST_NAMES), last_name(rng)
            ascii_name = unicodedata.normalize("NFKD", f"{first}.{last}".lower()).encode("ascii", "ignore").decode()
            teams = list(
                dict.fromkeys([rng.choice(self.teams)] + ([rng.choice(self.teams)] if rng.random() < 0.1 else []))
            )
            email = f"{ascii_name}.{i}@c{self.no}.example"
            rows.append(
                {
                    "company_id": self.id,
                    "hex_id": new_hex_id(),
                    "first_name": first,
                    "last_name": last,
                    "email": email,
                    "teams": teams,
                    "search_text": person_search_text(
                        Columns({"first_name": first, "last_name": last, "email": email})
                    ),
                    "team_words": team_words(teams),
                    "role": "manager" if i % 12 == 0 else "employee",
                    "start_date": now - timedelta(days=rng.randrange(30, 3000)),
                    "created_at": now,
                    "updated_at": now,
                }
            )
        session = self.tenant.session
        # Multi-row INSERTs (not an executemany: each statement would flush the SQLite search
        # index's pending words, one tiny segment per person); 2,000 rows, 26,000 parameters.
        for start in range(0, len(rows), 2000):
            session.execute(insert(Person).values(rows[start : start + 2000]))
        stmt = self.tenant.columns(Person, Person.id, Person.hex_id, Person.first_name, Person.last_name)
        return [(r[0], r[1], r[2], r[3]) for r in self.tenant.execute(stmt.order_by(Person.id))]

    def addresses(self) -> list[int]:
        rows = [
            Address(
                company_id=self.id,
                label=f"{site} office",
                address_line_1=f"{10 + i} Main Street",
                zip_code=f"{10000 + i * 7}",
                city=site,
                country="FR",
                created_at=self.now,
            )
            for i, site in enumerate(SITES[:4])
        ]
        for row in rows:
            self.tenant.add(row)
        self.tenant.session.flush()
        return [row.id for row in rows]

    def lines(
        self, start: int, stop: int, holders: Sequence[int], addresses: Sequence[int], reserved: int
    ) -> Iterator[bytes]:
        """Import lines for devices start..stop-1; the first `reserved` are free, available laptops."""
        rng, days = self.rng, self.days
        encode = msgspec.json.Encoder().encode
        order: dict[str, Any] = {}
        for index in range(start, stop):
            if index % ORDER_SIZE == 0:
                ordered = rng.choice(days[300:])
                order = {
                    "order_number": f"PO-{self.no:03d}-{index // ORDER_SIZE:06d}",
                    "client_status": rng.choice(enums.ORDER_CLIENT_STATUSES),
                    "rent": f"{rng.randrange(900, 90000)}.00",
                    "rent_currency": "EUR",
                    "contract_number": f"CTR-{self.no:03d}-{index // ORDER_SIZE:06d}",
                    "order_date": ordered,
                }
            model = CATALOG[0] if index < reserved else rng.choices(CATALOG, _MODEL_WEIGHTS)[0]
            status = "AVAILABLE" if index < reserved else rng.choices(_STATUSES, _STATUS_WEIGHTS)[0]
            line: dict[str, Any] = {
                "serial_number": serial(self.no, index, model.brand),
                "name": model.name,
                "type": model.type,
                "category": model.category,
                "client_status": status,
                "source": "LEASE",
                "rent": model.rent,
                "characteristics": model.characteristics,
            }
            if rng.random() < 0.9:  # the rest land on the file's intake order
                line["order"] = order
            if status in HELD_STATUSES and holders:
                line["user_id"] = rng.choice(holders)
            delivered = status not in ("PENDING_VALIDATION", "IN_PREPARATION")
            if delivered:
                carrier, url = rng.choice(CARRIERS)
                tracking = f"{carrier[:2].upper()}{rng.randrange(10**11, 10**12)}"
                line.update(tracking_number=tracking, tracking_url=url + tracking)
            if model.platform is not None and delivered and rng.random() < 0.85:
                line["mdm"] = self.mdm(index)
            if index % 7 == 3 and addresses:
                line["parcels"] = [self.parcel(addresses)]
            yield encode(line)

    def mdm(self, index: int) -> dict[str, Any]:
        rng, days = self.rng, self.days
        status = rng.choices(list(MDM_STATUS_WEIGHTS), list(MDM_STATUS_WEIGHTS.values()))[0]
        healthy = status == "ENROLLED" and rng.random() < 0.85
        seen = status in ("ENROLLED", "UNENROLLED", "ENROLLMENT_IN_PROGRESS")
        return {
            "status": status,
            "local_name": f"C{self.no:03d}-{index:07d}",
            "is_locked": False,
            "firewall_enabled": (healthy or rng.random() < 0.5) if seen else None,
            "os_updates_enabled": (healthy or rng.random() < 0.6) if seen else None,
            "is_encrypted": (healthy or rng.random() < 0.7) if seen else None,
            "screenlock_enabled": (healthy or rng.random() < 0.8) if seen else None,
            "is_compromised": (not healthy and rng.random() < 0.1) if seen else None,
            "os_updates_available": rng.random() < 0.3 if seen else None,
            "enrollment_date": rng.choice(days[60:600]) if status != "IDENTIFIED" else None,
            "unenrollment_date": rng.choice(days[:50]) if status == "UNENROLLED" else None,
            "last_seen_date": rng.choice(days[:5]) if seen else None,
            "last_sync_date": rng.choice(days[:3]) if seen else None,
        }

    def parcel(self, addresses: Sequence[int]) -> dict[str, Any]:
        rng = self.rng
        carrier, url = rng.choice(CARRIERS)
        tracking = f"{carrier[:2].upper()}{rng.randrange(10**11, 10**12)}"
        status = rng.choice(("RECEIVED", "RECEIVED", "SHIPPED", "WAITING"))
        pickup, reception = rng.sample(list(addresses), 2)
        return {
            "type": rng.choice(enums.PARCEL_TYPES),
            "status": status,
            "tracking_number": tracking,
            "tracking_url": url + tracking,
            "carrier": carrier,
            "pickup_address_id": pickup,
            "reception_address_id": reception,
            "created_at": rng.choice(self.days[5:30]),
        }


def _import(db: Database, company: _Company, chunk: list[bytes], first_line: int) -> float:
    started = time.perf_counter()
    with db.bulk_write() as session:
        tenant = Tenant(session, Caller(company_id=company.id, person_id=None, can_write=True))
        import_devices(tenant, enumerate(chunk, first_line))
    return time.perf_counter() - started


HISTORY_BATCH = 5_000  # spans per INSERT: 25,000 parameters, within SQLite's and PostgreSQL's limits


def _insert_spans(session: Session, rows: list[dict[str, Any]]) -> int:
    """One multi-row INSERT (an executemany would be one statement, and one run of the statement
    triggers that keep the counts, per span)."""
    session.execute(insert(Ownership).values(rows))
    return len(rows)


def _history(db: Database, company_id: int, holders: Sequence[int], rng: random.Random, skip: int) -> int:
    """Closed spans in the past: earlier holders of devices held now, and former holders of
    returned devices. The import opened the current spans at import time, after all of these."""
    now = utcnow()
    with db.write() as session:
        stmt = (
            select(Device.id, Device.holder_id, Device.client_status)
            .where(Device.company_id == company_id)
            .order_by(Device.id)
            .offset(skip)
        )
        rows: list[dict[str, Any]] = []
        count = 0
        for device_id, holder, status in session.execute(stmt):
            if holder is None and status not in RETURNED:
                continue
            end = now - timedelta(days=rng.randrange(2, 200))
            for _ in range(rng.choice((0, 1, 1, 2)) + (holder is None)):
                start = end - timedelta(days=rng.randrange(30, 300))
                rows.append(
                    {
                        "company_id": company_id,
                        "device_id": device_id,
                        "person_id": rng.choice(holders),
                        "start_time": start,
                        "end_time": end,
                    }
                )
                end = start - timedelta(days=rng.randrange(0, 20))
            if len(rows) >= HISTORY_BATCH:
                count += _insert_spans(session, rows)
                rows = []
        if rows:
            count += _insert_spans(session, rows)
    return count


def build(db: Database, devices: int, clients: int = 64, log: Any = print) -> Fleet:
    rng = random.Random(2024)
    timings: dict[str, float] = {"generate": 0.0, "import": 0.0}
    teams = [f"{d}-{s}" for d in DEPARTMENTS for s in SITES]
    with db.write() as session:
        big = _Company(session, "Bench Corp", 0, rng, teams)
        people = big.people(max(devices // 4, 200))
        addresses = big.addresses()
    # Holders exclude the 64 key holders created later, so their own spans start clean.
    holder_ids = [p[0] for p in people]
    total = 0
    for start in range(0, devices, IMPORT_CHUNK):
        t0 = time.perf_counter()
        chunk = list(big.lines(start, min(start + IMPORT_CHUNK, devices), holder_ids, addresses, TAKE_DEVICES))
        timings["generate"] += time.perf_counter() - t0
        timings["import"] += _import(db, big, chunk, start + 1)
        total += len(chunk)
        log(f"  big company: {total:,} / {devices:,} devices imported ({total / timings['import']:,.0f}/s)")
    big_rate_seconds = timings["import"]
    for no in range(1, SMALL_COMPANIES + 1):
        size = rng.randrange(50, 501)
        with db.write() as session:
            small = _Company(session, f"Small Co {no}", no, rng, [f"{d}" for d in DEPARTMENTS[:6]])
            small_people = [p[0] for p in small.people(max(size // 3, 10))]
            small_addresses = small.addresses()
        t0 = time.perf_counter()
        chunk = list(small.lines(0, size, small_people, small_addresses, 0))
        timings["generate"] += time.perf_counter() - t0
        timings["import"] += _import(db, small, chunk, 1)
        total += size
    timings["import big"] = big_rate_seconds
    log(f"  {SMALL_COMPANIES} small companies: {total - devices:,} devices")

    t0 = time.perf_counter()
    spans = _history(db, big.id, holder_ids, rng, TAKE_DEVICES)
    timings["history"] = time.perf_counter() - t0
    db.analyze()  # as `custody import` does after a load (and PostgreSQL's autovacuum within a minute)

    with db.write() as session:
        tenant = Tenant(session, Caller(company_id=big.id, person_id=None, can_write=True))
        _, read_token = create_key(tenant, person_id=None, read_only=True)
        person_tokens = []
        for i in range(clients):
            person = create_person(
                tenant,
                first_name="Bench",
                last_name=f"Holder{i}",
                email=f"bench.holder{i}@c0.example",
                teams=[teams[i % len(teams)]],
            )
            person_tokens.append(create_key(tenant, person_id=person.id, read_only=False)[1])
        ids = list(
            session.scalars(select(Device.id).where(Device.company_id == big.id).order_by(Device.id).limit(devices))
        )
        take_devices = [(serial(0, i, CATALOG[0].brand), CATALOG[0].name) for i in range(TAKE_DEVICES)]
        device_tokens = [
            (device_id, create_device_token(tenant, device_id)[1])
            for device_id in ids[TAKE_DEVICES : TAKE_DEVICES + REPORT_DEVICES]
        ]
        holding = {h for (h,) in session.execute(select(Device.holder_id).where(Device.company_id == big.id))}
        orders = session.execute(text("SELECT count(*) FROM purchase_order")).scalar_one()
    return Fleet(
        company_id=big.id,
        devices=devices,
        total_devices=total,
        import_seconds=timings["import"],
        read_token=read_token,
        holders=[p for p in people if p[0] in holding],
        teams=teams,
        device_ids=rng.sample(ids, min(len(ids), 1000)),
        take_devices=take_devices,
        person_tokens=person_tokens,
        device_tokens=device_tokens,
        spans=spans,
        orders=int(orders),
        timings=timings,
    )
