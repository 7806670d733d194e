"""`custody demo`: a realistic company to try the APIs on, generated from a fixed seed.

Devices come in through the import, as a customer's fleet would; ownership history, which an
import does not carry (it opens spans at the moment of import), is written afterwards as spans
in the past, and every device's item is then rendered again with its holder."""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from custody.config import Settings
from custody.db.models import Address, Company, Device, Ownership, Person
from custody.domain import enums
from custody.domain.documents import refresh_devices
from custody.domain.imports import import_devices
from custody.domain.keys import create_key
from custody.domain.people import create_company, create_person
from custody.domain.tenancy import Caller, Tenant
from custody.domain.timefmt import iso_z, utcnow

DEMO_COMPANY = "Demo Corp"
SEED = 2024
EMAIL_DOMAIN = "demo-corp.example"


@dataclass(frozen=True, slots=True)
class Model:
    """A catalog entry: what the company devices API shows, plus seed 000's MDM view of it."""

    name: str
    type: str
    category: str
    brand: str
    rent: str
    weight: int
    characteristics: dict[str, Any]
    platform: str | None = None  # None: not a device an MDM manages
    identifier: str | None = None
    year: int | None = None
    has_keyboard: bool = False


def _laptop(
    processor: str, ram: str, storage: str, size: str, year: str, os: str | None, **more: Any
) -> dict[str, Any]:
    return {
        "screen_size": size,
        "processor": processor,
        "ram": ram,
        "storage": storage,
        "model_year": year,
        "connectivity": "Wi-Fi 6E, Bluetooth 5.3",
        "has_webcam": True,
        "has_microphone": True,
        "os_platform": os,
        **more,
    }


# fmt: off
CATALOG = (
    Model("MacBook Pro 14 M3 Pro", "LAPTOP", "COMPUTER", "Apple", "89.00", 14,
          _laptop("Apple M3 Pro", "18GB", "512GB SSD", '14"', "2023", "macOS", graphic="14-core GPU",
                  resolution="3024x1964", color="Space Black"),
          "MACOS", "Mac15,6", 2023, True),
    Model("MacBook Air 13 M2", "LAPTOP", "COMPUTER", "Apple", "59.00", 10,
          _laptop("Apple M2", "16GB", "256GB SSD", '13.6"', "2022", "macOS", graphic="8-core GPU",
                  resolution="2560x1664", color="Midnight"),
          "MACOS", "Mac14,2", 2022, True),
    Model("Dell XPS 13 9340", "LAPTOP", "COMPUTER", "Dell", "65.00", 6,
          _laptop("Intel Core Ultra 7 155H", "16GB", "512GB SSD", '13.4"', "2024", "Windows 11 Pro",
                  graphic="Intel Arc", resolution="1920x1200", color="Platinum"),
          "WINDOWS", "XPS 9340", 2024, True),
    Model("Lenovo ThinkPad X1 Carbon Gen 11", "LAPTOP", "COMPUTER", "Lenovo", "72.00", 6,
          _laptop("Intel Core i7-1365U", "32GB", "1TB SSD", '14"', "2023", "Windows 11 Pro",
                  graphic="Intel Iris Xe", resolution="1920x1200", color="Deep Black"),
          "WINDOWS", "21HM", 2023, True),
    Model("Lenovo ThinkPad T14 Gen 4", "LAPTOP", "COMPUTER", "Lenovo", "49.00", 3,
          _laptop("AMD Ryzen 7 PRO 7840U", "32GB", "1TB SSD", '14"', "2023", "Ubuntu 24.04 LTS",
                  graphic="AMD Radeon 780M"),
          "LINUX", "21K3", 2023, True),
    Model("HP Chromebook x360 14", "LAPTOP", "COMPUTER", "HP", "25.00", 2,
          _laptop("Intel Core i3-1215U", "8GB", "128GB eMMC", '14"', "2022", "ChromeOS"),
          "CHROME_OS", "14c-cd0", 2022, True),
    Model("Framework Laptop 13", "LAPTOP", "COMPUTER", "Framework", "55.00", 1,
          _laptop("AMD Ryzen 5 7640U", "16GB", "512GB SSD", '13.5"', "2023", None),
          "UNKNOWN", None, 2023, True),
    Model("iPhone 15 Pro", "SMARTPHONE", "PHONE", "Apple", "39.00", 9,
          {"screen_size": '6.1"', "storage": "256GB", "connectivity": "5G", "color": "Natural Titanium",
           "os_platform": "iOS", "has_webcam": True, "has_microphone": True, "model_year": "2023"},
          "IOS", "iPhone16,1", 2023),
    Model("iPhone 14", "SMARTPHONE", "PHONE", "Apple", "29.00", 5,
          {"screen_size": '6.1"', "storage": "128GB", "connectivity": "5G", "color": "Midnight",
           "os_platform": "iOS", "has_webcam": True, "has_microphone": True, "model_year": "2022"},
          "IOS", "iPhone14,7", 2022),
    Model("Google Pixel 8", "SMARTPHONE", "PHONE", "Google", "27.00", 3,
          {"screen_size": '6.2"', "storage": "128GB", "connectivity": "5G", "color": "Obsidian",
           "os_platform": "Android 14", "has_webcam": True, "has_microphone": True, "model_year": "2023"},
          "ANDROID", "GKWS6", 2023),
    Model("Samsung Galaxy S24", "SMARTPHONE", "PHONE", "Samsung", "31.00", 3,
          {"screen_size": '6.2"', "storage": "256GB", "connectivity": "5G", "color": "Onyx Black",
           "os_platform": "Android 14", "has_webcam": True, "has_microphone": True, "model_year": "2024"},
          "ANDROID", "SM-S921B", 2024),
    Model("iPad Air 11 M2", "TABLET", "TABLET", "Apple", "35.00", 4,
          {"screen_size": '11"', "storage": "128GB", "connectivity": "Wi-Fi 6E", "color": "Space Grey",
           "os_platform": "iPadOS", "has_premium_tablet": True, "model_year": "2024"},
          "IPADOS", "iPad14,8", 2024),
    Model("Samsung Galaxy Tab S9", "TABLET", "TABLET", "Samsung", "30.00", 2,
          {"screen_size": '11"', "storage": "128GB", "connectivity": "Wi-Fi 6E", "color": "Graphite",
           "os_platform": "Android 14", "has_premium_tablet": False, "model_year": "2023"},
          "ANDROID", "SM-X710", 2023),
    Model("Dell UltraSharp U2723QE", "SCREEN", "DISPLAY", "Dell", "15.00", 10,
          {"screen_size": '27"', "resolution": "3840x2160", "connection_type": ["USB-C", "HDMI", "DisplayPort"],
           "compliance": ["TCO Certified", "ENERGY STAR"], "has_webcam": False, "color": "Silver"}),
    Model("LG UltraFine 24MD4KL", "SCREEN", "DISPLAY", "LG", "18.00", 4,
          {"screen_size": '24"', "resolution": "3840x2160", "connection_type": ["Thunderbolt 3"],
           "compliance": ["ENERGY STAR"], "has_webcam": True, "has_microphone": True, "color": "Black"}),
    Model("Jabra Evolve2 65", "HEADSET", "AUDIO", "Jabra", "6.00", 6,
          {"has_microphone": True, "noise_cancellation": True, "connection_type": ["Bluetooth", "USB-A"],
           "compliance": ["Microsoft Teams Certified"], "color": "Black"}),
    Model("Bose 700 UC", "HEADSET", "AUDIO", "Bose", "9.00", 3,
          {"has_microphone": True, "noise_cancellation": True, "connection_type": ["Bluetooth", "USB-C"],
           "color": "Silver"}),
    Model("Herman Miller Aeron", "CHAIR", "FURNITURE", "Herman Miller", "19.00", 4,
          {"color": "Graphite", "assembly": "ASSEMBLED", "seats_number": "1", "has_stool": False}),
    Model("Steelcase Leap V2", "CHAIR", "FURNITURE", "Steelcase", "17.00", 3,
          {"color": "Black", "assembly": "TO_ASSEMBLE", "seats_number": "1", "has_stool": False}),
    Model("Apple Magic Keyboard", "KEYBOARD", "ACCESSORY", "Apple", "4.00", 3,
          {"connectivity": "Bluetooth", "connection_type": ["Lightning"], "color": "White"}, has_keyboard=True),
    Model("Logitech MX Keys S", "KEYBOARD", "ACCESSORY", "Logitech", "4.00", 3,
          {"connectivity": "Bluetooth", "connection_type": ["Logi Bolt"], "color": "Graphite"}, has_keyboard=True),
    Model("Logitech MX Master 3S", "MOUSE", "ACCESSORY", "Logitech", "3.00", 3,
          {"connectivity": "Bluetooth", "connection_type": ["Logi Bolt"], "color": "Graphite"}),
    Model("CalDigit TS4", "DOCKING_STATION", "ACCESSORY", "CalDigit", "8.00", 2,
          {"connection_type": ["Thunderbolt 4"], "color": "Space Grey"}),
    Model("Logitech Brio 4K", "WEBCAM", "ACCESSORY", "Logitech", "3.00", 1,
          {"resolution": "3840x2160", "has_microphone": True, "has_video_package": True, "connection_type": ["USB-A"]}),
)
# fmt: on

TEAMS = (
    ("Engineering", 14),
    ("Product", 5),
    ("Design", 4),
    ("Sales", 10),
    ("Marketing", 5),
    ("Customer Success", 6),
    ("Finance", 3),
    ("People", 3),
    ("IT & Operations", 4),
)
FIRST_NAMES = (
    "Camille", "Lucas", "Léa", "Hugo", "Chloé", "Louis", "Emma", "Gabriel", "Manon", "Arthur", "Inès", "Jules",
    "Sarah", "Adam", "Zoé", "Nathan", "Alice", "Raphaël", "Lina", "Tom", "Jade", "Paul", "Eva", "Noah",
    "Anna", "Mateo", "Lucía", "Jonas", "Greta", "Marco", "Sofia", "Ravi",
)  # fmt: skip
LAST_NAMES = (
    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau",
    "Simon", "Laurent", "Lefebvre", "Michel", "Garcia", "Fournier", "Schmidt", "Rossi", "Fernández", "Novak",
    "Müller", "Costa", "Nguyen", "Okafor",
)  # fmt: skip
OFFICES = (
    ("Paris HQ", "12 rue de la Paix", None, "75002", "Paris", "FR"),
    ("Lyon office", "40 quai Rambaud", "3e étage", "69002", "Lyon", "FR"),
    ("Berlin office", "Torstraße 140", None, "10119", "Berlin", "DE"),
    ("Madrid office", "Calle de Alcalá 48", "Planta 2", "28014", "Madrid", "ES"),
    ("Fleet warehouse", "5 rue des Entrepôts", "Quai 7", "93200", "Saint-Denis", "FR"),
)
DEVICE_STATUS_WEIGHTS = {
    "IN_SERVICE": 55,
    "AVAILABLE": 12,
    "ARCHIVED": 6,
    "DELIVERED": 6,
    "IN_MAINTENANCE": 5,
    "SHIPPED": 4,
    "IN_PREPARATION": 4,
    "OUT_OF_SERVICE": 4,
    "PENDING_VALIDATION": 3,
}
HELD_STATUSES = {"IN_SERVICE", "DELIVERED", "IN_MAINTENANCE", "SHIPPED"}
RETURNED_STATUSES = {"AVAILABLE", "ARCHIVED", "OUT_OF_SERVICE"}  # held once, not now
LAYOUT_WEIGHTS = {"FRENCH_AZERTY": 40, "AMERICAN_ENGLISH_QWERTY": 20, "GERMAN_QWERTZ": 12, "SPANISH_QWERTY": 10}
MDM_STATUS_WEIGHTS = {"ENROLLED": 80, "ENROLLMENT_IN_PROGRESS": 5, "UNENROLLED": 5, "IDENTIFIED": 3}
CARRIERS = (("UPS", "https://www.ups.com/track?tracknum="), ("DHL", "https://www.dhl.com/track?id="),
            ("Chronopost", "https://www.chronopost.fr/tracking-no-cms/suivi-page?listeNumerosLT="))  # fmt: skip


@dataclass(frozen=True, slots=True)
class DemoCompany:
    company_id: int
    token: str
    person_token: str | None  # a key bound to the sample holder: the ownership API's "manager"
    reused: bool
    devices: int
    people: int
    sample_device_id: int | None
    sample_user_id: int | None


def build_demo(session: Session, *, devices: int = 600, seed: int = SEED) -> DemoCompany:
    """Create the demo company (or reuse the one there is), a new write key for it, and a key for
    one person who holds a laptop."""
    company = session.scalars(select(Company).where(Company.name == DEMO_COMPANY).order_by(Company.id)).first()
    reused = company is not None
    if company is None:
        company = create_company(session, DEMO_COMPANY)
        _Fleet(Tenant(session, Caller(company.id, None, can_write=True)), random.Random(seed)).build(devices)
    tenant = Tenant(session, Caller(company.id, None, can_write=True))
    _, token = create_key(tenant, person_id=None, read_only=False)
    listed = tenant.columns(Device, func.count()).where(Device.deleted_at.is_(None))
    people = tenant.columns(Person, func.count())
    held = (
        tenant.columns(Device, Device.id, Device.holder_id)
        .where(Device.deleted_at.is_(None), Device.holder_id.is_not(None), Device.type == "LAPTOP")
        .order_by(Device.id)
        .limit(1)
    )
    sample = tenant.execute(held).first()
    person_token = create_key(tenant, person_id=sample.holder_id, read_only=False)[1] if sample else None
    return DemoCompany(
        company_id=company.id,
        token=token,
        person_token=person_token,
        reused=reused,
        devices=int(tenant.execute(listed).scalar_one()),
        people=int(tenant.execute(people).scalar_one()),
        sample_device_id=sample.id if sample else None,
        sample_user_id=sample.holder_id if sample else None,
    )


def curl_lines(root: str, settings: Settings, demo: DemoCompany) -> list[str]:
    """Ready-to-paste requests against the three APIs (`root`: `http://host:port`)."""
    base_url = root + settings.company_devices_base
    auth = f'-H "Authorization: Bearer {demo.token}"'
    lines = [
        f'curl -s "{root}{settings.device_management_base}/devices?perPage=5" {auth}',
        f'curl -s "{root}{settings.ownership_base}/device-ownerships/?current=true&limit=5" {auth}',
    ]
    if demo.person_token is not None:
        mine = f'-H "Authorization: Bearer {demo.person_token}"'
        lines.append(f'curl -s "{root}{settings.ownership_base}/devices/?current=true" {mine}')
    lines += [
        f'curl -s "{base_url}/devices?limit=5" {auth}',
        f'curl -s "{base_url}/devices?search=macbook%20pro" {auth}',
    ]
    if demo.sample_user_id is not None:
        lines.append(f'curl -s "{base_url}/devices?user_id={demo.sample_user_id}" {auth}')
    if demo.sample_device_id is not None:
        device = f"{base_url}/devices/{demo.sample_device_id}"
        body = '{"client_status": "IN_MAINTENANCE", "comment": "Battery check"}'
        lines.append(f'curl -s "{device}" {auth}')
        lines.append(f"curl -s -X PATCH \"{device}\" {auth} -H 'Content-Type: application/json' -d '{body}'")
    return lines


def _weighted(rng: random.Random, weights: dict[str, int], values: tuple[str, ...]) -> str:
    """Mostly the common values; the rest of the closed set now and then."""
    rare = [v for v in values if v not in weights]
    pool = [*weights, *rare]
    return rng.choices(pool, [*weights.values(), *([1] * len(rare))])[0]


class _Cover:
    """Hands out every value of a closed set once (the common ones first), then weighted picks:
    the demo shows every value however few devices it has."""

    def __init__(self, values: tuple[str, ...], weights: dict[str, int]) -> None:
        self.values = values
        self.weights = weights
        self.first = [*weights, *(v for v in values if v not in weights)]

    def next(self, rng: random.Random) -> str:
        return self.first.pop(0) if self.first else _weighted(rng, self.weights, self.values)


@dataclass(slots=True)
class _Plan:
    """What the demo knows of a device beyond its import line: seed 000's view and its history."""

    serial: str
    model: Model
    status: str
    lock: str | None = None
    edr: str | None = None
    tags: list[str] = field(default_factory=list)


class _Fleet:
    def __init__(self, tenant: Tenant, rng: random.Random) -> None:
        self.tenant = tenant
        self.rng = rng
        self.today = utcnow().replace(minute=0, second=0, microsecond=0)

    def day(self, days_ago: int) -> datetime:
        return self.today - timedelta(days=days_ago, minutes=self.rng.randrange(0, 480))

    def build(self, count: int) -> None:
        addresses = self._addresses()
        people = self._people()
        orders = self._orders()
        lines, plans = self._devices(count, orders, addresses)
        import_devices(self.tenant, enumerate(lines, 1))
        self._history_and_mdm_view(plans, people)

    def _addresses(self) -> list[int]:
        rows = [
            Address(
                company_id=self.tenant.company_id,
                label=label,
                address_line_1=line_1,
                address_line_2=line_2,
                zip_code=zip_code,
                city=city,
                country=country,
                created_at=self.day(900),
            )
            for label, line_1, line_2, zip_code, city, country in OFFICES
        ]
        for row in rows:
            self.tenant.add(row)
        self.tenant.session.flush()
        return [row.id for row in rows]

    def _people(self) -> list[Person]:
        people: list[Person] = []
        used: set[str] = set()
        for team, size in TEAMS:
            for index in range(size):
                first, last = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
                base = unicodedata.normalize("NFKD", f"{first}.{last}".lower()).encode("ascii", "ignore").decode()
                email = next(f"{base}{n or ''}@{EMAIL_DOMAIN}" for n in range(100) if f"{base}{n or ''}" not in used)
                used.add(email.split("@")[0])
                role = "admin" if team == "IT & Operations" and index < 2 else "manager" if index == 0 else "employee"
                people.append(
                    create_person(self.tenant, first_name=first, last_name=last, email=email, teams=[team], role=role)
                )
        return people

    def _orders(self) -> list[dict[str, Any]]:
        """One order per order status (the first ones), over the last two years."""
        orders = []
        for index, status in enumerate(enums.ORDER_CLIENT_STATUSES):
            ordered = self.day(700 - index * 48)
            orders.append(
                {
                    "order_number": f"FC-{ordered.year}-{1001 + index}",
                    "client_status": status,
                    "rent": f"{self.rng.randrange(900, 9000)}.{self.rng.choice(('00', '50', '90'))}",
                    "rent_currency": "EUR",
                    "contract_number": f"CTR-{ordered.year}-{self.rng.randrange(10000, 99999)}",
                    "order_date": iso_z(ordered),
                }
            )
        return orders

    def _devices(
        self, count: int, orders: list[dict[str, Any]], addresses: list[int]
    ) -> tuple[list[bytes], list[_Plan]]:
        rng = self.rng
        statuses = _Cover(tuple(DEVICE_STATUS_WEIGHTS), DEVICE_STATUS_WEIGHTS)
        layouts = _Cover(enums.KEYBOARD_LAYOUTS, LAYOUT_WEIGHTS)
        mdm_statuses = _Cover(enums.MDM_STATUSES, MDM_STATUS_WEIGHTS)
        parcel_kinds = [(t, s) for t in enums.PARCEL_TYPES for s in enums.PARCEL_STATUSES]
        weights = [m.weight for m in CATALOG]
        encode = msgspec.json.Encoder().encode
        lines: list[bytes] = []
        plans: list[_Plan] = []
        for index in range(count):
            model = CATALOG[index] if index < len(CATALOG) else rng.choices(CATALOG, weights)[0]
            status = statuses.next(rng)
            serial = f"{model.brand[:2].upper()}{index + 1:05d}{rng.randrange(16**5):05X}"
            order = orders[index] if index < len(orders) else rng.choice(orders) if rng.random() < 0.9 else None
            delivered = status not in ("PENDING_VALIDATION", "IN_PREPARATION")
            characteristics = dict(model.characteristics)
            if model.has_keyboard or model.type == "LAPTOP":
                characteristics["keyboard_layout"] = layouts.next(rng)
            plan = _Plan(serial, model, status)
            line: dict[str, Any] = {
                "serial_number": serial,
                "name": model.name,
                "type": model.type,
                "category": model.category,
                "client_status": status,
                "source": "LEASE" if order else "PURCHASE",
                "rent": model.rent if order else None,
                "characteristics": characteristics,
            }
            if order is not None:
                line["order"] = order
            if delivered:
                carrier, url = rng.choice(CARRIERS)
                tracking = f"{carrier[:2].upper()}{rng.randrange(10**11, 10**12)}"
                line.update(tracking_number=tracking, tracking_url=url + tracking)
            if status == "IN_MAINTENANCE":
                line["comment"] = rng.choice(("Battery swelling, sent for repair", "Cracked screen", "Keyboard issue"))
            if model.platform is not None and delivered and (index < 40 or rng.random() < 0.85):
                line["mdm"] = self._mdm(plan, mdm_statuses.next(rng), index)
            if index % 7 == 3:
                kind = parcel_kinds.pop(0) if parcel_kinds else None
                line["parcels"] = self._parcels(kind, addresses)
            lines.append(encode(line))
            plans.append(plan)
        return lines, plans

    def _mdm(self, plan: _Plan, status: str, index: int) -> dict[str, Any]:
        rng = self.rng
        enrolled = self.day(rng.randrange(60, 600))
        healthy = status == "ENROLLED" and rng.random() < 0.85
        locked = status == "ENROLLED" and (index == 7 or rng.random() < 0.02)
        if status == "ENROLLED" and not locked:
            plan.lock = "LOCKING" if index == 15 else "UNLOCKING" if index == 16 else None
        if status == "UNENROLLED" and plan.status in RETURNED_STATUSES:
            plan.lock = "WIPED"
        if plan.model.type == "LAPTOP":
            plan.edr = rng.choice(("SENTINELONE", "SENTINELONE", "THREATDOWN", None))
        seen = status in ("ENROLLED", "DEVICE_WIPE_PENDING", "UNENROLLED", "ENROLLMENT_IN_PROGRESS")
        posture = {  # what the agent reports once it runs; unknown before
            "firewall_enabled": healthy or rng.random() < 0.5,
            "os_updates_enabled": healthy or rng.random() < 0.6,
            "is_encrypted": healthy or rng.random() < 0.7,
            "screenlock_enabled": healthy or rng.random() < 0.8,
            "is_compromised": not healthy and rng.random() < 0.1,
            "os_updates_available": rng.random() < 0.3,
            "disk_encryption_profile_installed": healthy or rng.random() < 0.5,
        }
        return {
            "status": status,
            "local_name": f"DEMO-{plan.model.type[:3]}-{index + 1:04d}",
            "is_locked": locked,
            "lock_date": iso_z(self.day(rng.randrange(1, 20))) if locked else None,
            **{key: value if seen else None for key, value in posture.items()},
            "enrollment_date": iso_z(enrolled) if status not in ("SUBSCRIBED", "DOWNLOADED", "IDENTIFIED") else None,
            "unenrollment_date": iso_z(self.day(rng.randrange(1, 50))) if status == "UNENROLLED" else None,
            "download_date": iso_z(enrolled - timedelta(hours=2)) if status != "SUBSCRIBED" else None,
            "last_seen_date": iso_z(self.day(rng.randrange(0, 5))) if seen else None,
            "last_sync_date": iso_z(self.day(rng.randrange(0, 3))) if seen else None,
        }

    def _parcels(self, kind: tuple[str, str] | None, addresses: list[int]) -> list[dict[str, Any]]:
        """One or two shipments, newest first: returns to the warehouse, moves between offices."""
        rng = self.rng
        warehouse, offices = addresses[-1], addresses[:-1]
        parcels = []
        age = rng.randrange(2, 30)
        for position in range(rng.choice((1, 1, 2)) if kind is None else 1):
            kind_type, status = kind or (
                rng.choice(enums.PARCEL_TYPES),
                rng.choice(("RECEIVED", "RECEIVED", "SHIPPED")),
            )
            if position:  # an older shipment, long delivered
                status = "RECEIVED"
            carrier, url = rng.choice(CARRIERS)
            tracking = f"{carrier[:2].upper()}{rng.randrange(10**11, 10**12)}"
            created = self.day(age)
            pickup, reception = (
                (rng.choice(offices), warehouse) if kind_type == "RETURN" else tuple(rng.sample(offices, 2))
            )
            shipped = status in ("SHIPPED", "RECEIVED", "FAILED")
            parcels.append(
                {
                    "type": kind_type,
                    "status": status,
                    "tracking_number": tracking if status != "WAITING" else None,
                    "tracking_url": url + tracking if status != "WAITING" else None,
                    "carrier": carrier,
                    "pickup_address_id": pickup,
                    "reception_address_id": reception,
                    "pickup_date": iso_z(created + timedelta(days=2)) if status != "WAITING" else None,
                    "shipping_date": iso_z(created + timedelta(days=2, hours=3)) if shipped else None,
                    "reception_date": iso_z(created + timedelta(days=4)) if status == "RECEIVED" else None,
                    "created_at": iso_z(created),
                }
            )
            age += rng.randrange(60, 300)
        return parcels

    def _history_and_mdm_view(self, plans: list[_Plan], people: list[Person]) -> None:
        """Past spans (closed) and current holders (open spans that began in the past), then seed
        000's fields, then every item rendered again now that holders are known."""
        tenant, rng = self.tenant, self.rng
        stmt = tenant.columns(Device, Device.serial_number, Device.id).where(Device.deleted_at.is_(None))
        ids = {serial: device_id for serial, device_id in tenant.execute(stmt)}
        person_ids = [p.id for p in people]
        spans: list[dict[str, Any]] = []
        changes: list[dict[str, Any]] = []
        for plan in plans:
            device_id = ids[plan.serial]
            holder = None
            if plan.status in HELD_STATUSES or plan.status in RETURNED_STATUSES:
                end: datetime | None = None
                start = self.day(rng.randrange(5, 240))
                if plan.status in HELD_STATUSES:
                    holder = rng.choice(person_ids)
                    spans.append(self._span(device_id, holder, start, None))
                    end, start = start, start - timedelta(days=rng.randrange(30, 300))
                else:
                    end = start
                    start = end - timedelta(days=rng.randrange(30, 300))
                previous = holder
                for _ in range(rng.choice((0, 1, 1, 2, 3)) + (plan.status in RETURNED_STATUSES)):
                    person = rng.choice([p for p in person_ids if p != previous])
                    spans.append(self._span(device_id, person, start, end))
                    previous = person
                    end = start - timedelta(days=rng.randrange(0, 20))
                    start = end - timedelta(days=rng.randrange(30, 300))
            model = plan.model
            changes.append(
                {
                    "id": device_id,
                    "holder_id": holder,
                    "platform": model.platform,
                    "brand": model.brand,
                    "manufacturer": model.brand,
                    "model_name": model.name,
                    "model_identifier": model.identifier,
                    "year": model.year,
                    "edr_provider": plan.edr,
                    "tags": ["remote"] if rng.random() < 0.2 else [],
                    **({"lock_wipe_status": plan.lock} if plan.lock else {}),
                }
            )
        session = tenant.session
        if spans:
            session.execute(insert(Ownership), spans)
        for subset in (
            [c for c in changes if "lock_wipe_status" in c],
            [c for c in changes if "lock_wipe_status" not in c],
        ):
            if subset:
                session.execute(update(Device), subset)
        refresh_devices(tenant, ids.values())

    def _span(self, device_id: int, person_id: int, start: datetime, end: datetime | None) -> dict[str, Any]:
        return {
            "company_id": self.tenant.company_id,
            "device_id": device_id,
            "person_id": person_id,
            "start_time": start,
            "end_time": end,
        }
