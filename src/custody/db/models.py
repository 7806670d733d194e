"""The fleet tables. Every tenant row carries `company_id`, and every reference between tenant rows
is a composite foreign key on (company_id, id), so the database itself refuses a cross-company link."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Enum,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from custody.db.types import UTCDateTime
from custody.domain import enums

# The device management API's kinds as SQL, in `ix_device_managed`'s WHERE and in that API's
# statements alike: a planner uses a partial index for a statement whose WHERE implies the index's.
MANAGED_KINDS = "type IN ({})".format(", ".join(f"'{kind}'" for kind in enums.MANAGED_TYPES))

NAMING = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BIGINT on PostgreSQL, INTEGER (the rowid alias) on SQLite.
Id = BigInteger().with_variant(Integer(), "sqlite")


def choice(name: str, values: tuple[str, ...]) -> Enum:
    """A closed set of strings, checked by the database (no native enum type to migrate)."""
    return Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Company(Base):
    __tablename__ = "company"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Person(Base):
    __tablename__ = "person"
    __table_args__ = (
        UniqueConstraint("company_id", "id"),
        UniqueConstraint("company_id", "email"),
        ForeignKeyConstraint(["company_id", "manager_id"], ["person.company_id", "person.id"]),
        CheckConstraint("manager_id IS NULL OR manager_id <> id", name="not_own_manager"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id"))
    hex_id: Mapped[str] = mapped_column(String(24), unique=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(254))
    teams: Mapped[list[str]] = mapped_column(JSON)
    role: Mapped[str] = mapped_column(choice("person_role", enums.PERSON_ROLES))
    manager_id: Mapped[int | None] = mapped_column(Id)
    start_date: Mapped[datetime | None] = mapped_column(UTCDateTime())
    termination_date: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # What `search=` of the devices this person holds matches (`documents.person_search_text`).
    search_text: Mapped[str] = mapped_column(Text, server_default="")
    # The teams as `search=` matches them (`documents.team_words`), copied to `device_team`.
    team_words: Mapped[list[str]] = mapped_column(JSON, server_default="[]")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ApiKey(Base):
    __tablename__ = "api_key"
    __table_args__ = (ForeignKeyConstraint(["company_id", "person_id"], ["person.company_id", "person.id"]),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id"))
    person_id: Mapped[int | None] = mapped_column(Id)
    prefix: Mapped[str] = mapped_column(String(32))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scope: Mapped[str] = mapped_column(choice("key_scope", enums.KEY_SCOPES))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Address(Base):
    __tablename__ = "address"
    __table_args__ = (UniqueConstraint("company_id", "id"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id"))
    label: Mapped[str | None] = mapped_column(String(200))
    address_line_1: Mapped[str] = mapped_column(String(200))
    address_line_2: Mapped[str | None] = mapped_column(String(200))
    zip_code: Mapped[str | None] = mapped_column(String(20))
    city: Mapped[str] = mapped_column(String(100))
    country: Mapped[str] = mapped_column(String(2))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PurchaseOrder(Base):
    __tablename__ = "purchase_order"
    __table_args__ = (UniqueConstraint("company_id", "id"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id"))
    client_status: Mapped[str] = mapped_column(choice("order_client_status", enums.ORDER_CLIENT_STATUSES))
    device_names: Mapped[list[str]] = mapped_column(JSON)
    rent: Mapped[str | None] = mapped_column(String(50))
    rent_currency: Mapped[str | None] = mapped_column(String(3))
    order_number: Mapped[str | None] = mapped_column(String(100))
    contract_number: Mapped[str | None] = mapped_column(String(100))
    order_date: Mapped[datetime | None] = mapped_column(UTCDateTime())
    num_devices: Mapped[int | None] = mapped_column(Integer)


class Device(Base):
    __tablename__ = "device"
    __table_args__ = (
        UniqueConstraint("company_id", "id"),
        ForeignKeyConstraint(["company_id", "order_id"], ["purchase_order.company_id", "purchase_order.id"]),
        ForeignKeyConstraint(["company_id", "holder_id"], ["person.company_id", "person.id"]),
        # The list endpoint's page order, only over listed (not deleted) devices.
        Index(
            "ix_device_listed",
            "company_id",
            "id",
            sqlite_where=text("deleted_at IS NULL"),
            postgresql_where=text("deleted_at IS NULL"),
        ),
        # The device management API's view (its kinds only) in its page order (migration 0011).
        Index(
            "ix_device_managed",
            "company_id",
            "id",
            sqlite_where=text(f"deleted_at IS NULL AND {MANAGED_KINDS}"),
            postgresql_where=text(f"deleted_at IS NULL AND {MANAGED_KINDS}"),
        ),
        Index(
            "ix_device_status",
            "company_id",
            "client_status",
            "id",
            sqlite_where=text("deleted_at IS NULL"),
            postgresql_where=text("deleted_at IS NULL"),
        ),
        Index(
            "ix_device_holder",
            "company_id",
            "holder_id",
            "id",
            sqlite_where=text("deleted_at IS NULL"),
            postgresql_where=text("deleted_at IS NULL"),
        ),
        # The device management API's view (its kinds only): its counts walk this index, not the rows.
        Index(
            "ix_device_kind",
            "company_id",
            "type",
            "id",
            sqlite_where=text("deleted_at IS NULL"),
            postgresql_where=text("deleted_at IS NULL"),
        ),
        Index(
            "uq_device_serial",
            "company_id",
            "serial_number",
            unique=True,
            sqlite_where=text("deleted_at IS NULL AND serial_number IS NOT NULL"),
            postgresql_where=text("deleted_at IS NULL AND serial_number IS NOT NULL"),
        ),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    hex_id: Mapped[str] = mapped_column(String(24), unique=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id"))
    order_id: Mapped[int] = mapped_column(Id)
    holder_id: Mapped[int | None] = mapped_column(Id)
    name: Mapped[str | None] = mapped_column(String(200))
    serial_number: Mapped[str | None] = mapped_column(String(100))
    client_status: Mapped[str] = mapped_column(choice("device_client_status", enums.DEVICE_CLIENT_STATUSES))
    type: Mapped[str | None] = mapped_column(String(50))
    category: Mapped[str | None] = mapped_column(String(50))
    source: Mapped[str | None] = mapped_column(String(50))
    comment: Mapped[str | None] = mapped_column(Text)
    rent: Mapped[str | None] = mapped_column(String(50))
    tracking_number: Mapped[str | None] = mapped_column(String(100))
    tracking_url: Mapped[str | None] = mapped_column(String(500))
    characteristics: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Seed 000's MDM view of the device.
    platform: Mapped[str | None] = mapped_column(choice("device_platform", enums.PLATFORMS))
    brand: Mapped[str | None] = mapped_column(String(100))
    manufacturer: Mapped[str | None] = mapped_column(String(100))
    model_name: Mapped[str | None] = mapped_column(String(100))
    model_identifier: Mapped[str | None] = mapped_column(String(100))
    year: Mapped[int | None] = mapped_column(Integer)
    tags: Mapped[list[str]] = mapped_column(JSON)
    lock_wipe_status: Mapped[str | None] = mapped_column(choice("lock_wipe_status", enums.LOCK_WIPE_STATUSES))
    edr_provider: Mapped[str | None] = mapped_column(choice("edr_provider", enums.EDR_PROVIDERS))
    # Read path: lower-cased words the search matches, and the company devices API item, rendered
    # on every write so that a page is 50 ready documents joined, not 50 x 60 values re-encoded.
    search_text: Mapped[str] = mapped_column(Text)
    doc: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class MdmEnrollment(Base):
    __tablename__ = "mdm_enrollment"
    __table_args__ = (ForeignKeyConstraint(["company_id", "device_id"], ["device.company_id", "device.id"]),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id"))
    device_id: Mapped[int] = mapped_column(Id, unique=True)
    status: Mapped[str] = mapped_column(choice("mdm_status", enums.MDM_STATUSES))
    local_name: Mapped[str | None] = mapped_column(String(200))
    lock_date: Mapped[datetime | None] = mapped_column(UTCDateTime())
    firewall_enabled: Mapped[bool | None] = mapped_column(Boolean)
    os_updates_enabled: Mapped[bool | None] = mapped_column(Boolean)
    is_encrypted: Mapped[bool | None] = mapped_column(Boolean)
    screenlock_enabled: Mapped[bool | None] = mapped_column(Boolean)
    is_compromised: Mapped[bool | None] = mapped_column(Boolean)
    os_updates_available: Mapped[bool | None] = mapped_column(Boolean)
    disk_encryption_profile_installed: Mapped[bool | None] = mapped_column(Boolean)
    enrollment_date: Mapped[datetime | None] = mapped_column(UTCDateTime())
    unenrollment_date: Mapped[datetime | None] = mapped_column(UTCDateTime())
    download_date: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_seen_date: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_sync_date: Mapped[datetime | None] = mapped_column(UTCDateTime())
    os_name: Mapped[str | None] = mapped_column(String(100))
    os_version: Mapped[str | None] = mapped_column(String(100))
    build_version: Mapped[str | None] = mapped_column(String(100))


class Parcel(Base):
    __tablename__ = "parcel"
    __table_args__ = (
        ForeignKeyConstraint(["company_id", "device_id"], ["device.company_id", "device.id"]),
        ForeignKeyConstraint(["company_id", "pickup_address_id"], ["address.company_id", "address.id"]),
        ForeignKeyConstraint(["company_id", "reception_address_id"], ["address.company_id", "address.id"]),
        Index("ix_parcel_device", "device_id", "created_at"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id"))
    device_id: Mapped[int] = mapped_column(Id)
    type: Mapped[str] = mapped_column(choice("parcel_type", enums.PARCEL_TYPES))
    status: Mapped[str] = mapped_column(choice("parcel_status", enums.PARCEL_STATUSES))
    tracking_number: Mapped[str | None] = mapped_column(String(100))
    tracking_url: Mapped[str | None] = mapped_column(String(500))
    carrier: Mapped[str | None] = mapped_column(String(100))
    pickup_address_id: Mapped[int | None] = mapped_column(Id)
    reception_address_id: Mapped[int | None] = mapped_column(Id)
    pickup_date: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reception_date: Mapped[datetime | None] = mapped_column(UTCDateTime())
    shipping_date: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Ownership(Base):
    """Who held a device over which span; `end_time` NULL means held now. Rows are never deleted.

    Overlaps are refused by the database: an exclusion constraint on PostgreSQL, a partial unique
    index plus triggers on SQLite (both created by the migration)."""

    __tablename__ = "ownership"
    __table_args__ = (
        ForeignKeyConstraint(["company_id", "device_id"], ["device.company_id", "device.id"]),
        ForeignKeyConstraint(["company_id", "person_id"], ["person.company_id", "person.id"]),
        CheckConstraint("end_time IS NULL OR end_time >= start_time", name="span_order"),
        Index("ix_ownership_device", "device_id", "start_time"),
        # Spans in force at an instant, or that a new span could overlap: open, or ending after it.
        Index("ix_ownership_device_end", "device_id", "end_time"),
        Index("ix_ownership_company", "company_id", "id"),
        Index("ix_ownership_person", "person_id", "end_time"),
        Index(
            "uq_ownership_open",
            "device_id",
            unique=True,
            sqlite_where=text("end_time IS NULL"),
            postgresql_where=text("end_time IS NULL"),
        ),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id"))
    device_id: Mapped[int] = mapped_column(Id)
    person_id: Mapped[int] = mapped_column(Id)
    start_time: Mapped[datetime] = mapped_column(UTCDateTime())
    end_time: Mapped[datetime | None] = mapped_column(UTCDateTime())


class HolderDue(Base):
    """A future instant at which a device's holder changes by itself (a reservation starts, a span
    with a set end ends). `ownership.sync_due_holders` applies the due ones to `device.holder_id`."""

    __tablename__ = "holder_due"
    __table_args__ = (
        ForeignKeyConstraint(["company_id", "device_id"], ["device.company_id", "device.id"]),
        Index("ix_holder_due_at", "due_at"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id"))
    device_id: Mapped[int] = mapped_column(Id)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DeviceToken(Base):
    """A device's own credential: it may post reports for that one device and nothing else."""

    __tablename__ = "device_token"
    __table_args__ = (ForeignKeyConstraint(["company_id", "device_id"], ["device.company_id", "device.id"]),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id"))
    device_id: Mapped[int] = mapped_column(Id)
    prefix: Mapped[str] = mapped_column(String(32))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class DeviceReport(Base):
    """What a device said about itself at `reported_at`. Append-only; readable by a person only
    inside that person's ownership spans of the device."""

    __tablename__ = "device_report"
    __table_args__ = (
        ForeignKeyConstraint(["company_id", "device_id"], ["device.company_id", "device.id"]),
        Index("ix_device_report_device", "device_id", "reported_at"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id"))
    device_id: Mapped[int] = mapped_column(Id)
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    os_name: Mapped[str | None] = mapped_column(String(100))
    os_version: Mapped[str | None] = mapped_column(String(100))
    build_version: Mapped[str | None] = mapped_column(String(100))
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    firewall_enabled: Mapped[bool | None] = mapped_column(Boolean)
    disk_encrypted: Mapped[bool | None] = mapped_column(Boolean)
    screen_lock_enabled: Mapped[bool | None] = mapped_column(Boolean)
    os_updates_enabled: Mapped[bool | None] = mapped_column(Boolean)
    os_updates_available: Mapped[bool | None] = mapped_column(Boolean)
    compromised: Mapped[bool | None] = mapped_column(Boolean)


class RateWindow(Base):
    """Requests per key per fixed window, shared by every worker. Not precious: UNLOGGED on
    PostgreSQL, written without fsync on SQLite."""

    __tablename__ = "rate_window"
    key_id: Mapped[int] = mapped_column(Id, primary_key=True)
    window: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    n: Mapped[int] = mapped_column(Integer)


class DeviceCount(Base):
    """Listed devices per company and client_status, kept by triggers: `meta.total` without a scan."""

    __tablename__ = "device_count"
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id"), primary_key=True)
    client_status: Mapped[str] = mapped_column(String(32), primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger, default=0)


class DeviceKindCount(Base):
    """Listed devices per company and `type`, kept by triggers: the device management API's totals
    (its view is three kinds of device) without a scan."""

    __tablename__ = "device_kind_count"
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id"), primary_key=True)
    type: Mapped[str] = mapped_column(String(50), primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger, default=0)


class DeviceBlockCount(Base):
    """Listed devices per company, client_status and block of ids (`id >> 10`: 1024 consecutive
    ids), kept by triggers; `client_status` '' is the block's all-status row. A deep page finds the
    block it starts in by a running sum over these rows instead of stepping through every index
    entry before it (`custody.domain.devices`)."""

    __tablename__ = "device_block_count"
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id"), primary_key=True)
    client_status: Mapped[str] = mapped_column(String(32), primary_key=True)
    block: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger, default=0)


class OwnershipCount(Base):
    """Ownership spans per company, kept by triggers: the ownership API's unfiltered total without
    a walk over every span of the company."""

    __tablename__ = "ownership_count"
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id"), primary_key=True)
    # `device_id % 16`: concurrent takes of one company's devices lock different rows (migration 0008).
    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger, default=0)


class DeviceTeam(Base):
    """A listed device's holder's teams (`person.team_words`), kept by triggers on `device` and
    `person`: `search=` of a team reads its devices in id order from one range of this key,
    instead of finding each member's devices through the holder index."""

    __tablename__ = "device_team"
    __table_args__ = (
        ForeignKeyConstraint(["company_id", "device_id"], ["device.company_id", "device.id"], ondelete="CASCADE"),
        Index("ix_device_team_device", "device_id"),
        {"sqlite_with_rowid": False},
    )
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id"), primary_key=True)
    words: Mapped[str] = mapped_column(Text, primary_key=True)
    device_id: Mapped[int] = mapped_column(Id, primary_key=True)


class TeamWord(Base):
    """Every team name (as `search=` matches it) of a company's people, kept by triggers on
    `person`: the few rows a search word is matched against before `device_team` is read."""

    __tablename__ = "team_word"
    __table_args__ = ({"sqlite_with_rowid": False},)
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id"), primary_key=True)
    words: Mapped[str] = mapped_column(Text, primary_key=True)
