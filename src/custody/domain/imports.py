"""Bulk import of devices from JSON lines, each an item of the company devices API (seed 002).

A line is matched to the company's listed device by `serial_number` and updates it, else creates
one. Keys a line leaves out keep their stored value on an update (null clears, as in a PATCH);
`mdm` and `parcels`, when present, replace what the device had. The whole file is validated
(shape, people, addresses, orders) before anything is written, and written in the caller's one
transaction, so a bad line leaves the database as it was.

Speed comes from doing per file what the API does per device: one decode per line into strict
structs, lookups in chunks, ids reserved up front so that each device's item is rendered (by
`company_item`, like every write) before its row is inserted, and rows written in bulk: `COPY` on
PostgreSQL, multi-row INSERTs on SQLite (every statement opens a savepoint, at which FTS5 flushes
its pending terms, so one row per statement would write one tiny FTS segment per device).
Rendering the next chunk overlaps with writing the previous one.

On PostgreSQL the server's one backend is the limit: per device, its row's nine B-tree indexes, the
trigram index (about 30% of the server's time, most of it merging the index's queue of new
entries), the row-by-row foreign key checks (about 17%) and the ownership span's exclusion
constraint. The client renders a device in about a third of the time the server takes to store it.
"""

from __future__ import annotations

import logging
import secrets
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from itertools import compress, repeat
from operator import attrgetter, is_not, itemgetter
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, cast

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType
from sqlalchemy import Column, MetaData, Table, any_, bindparam, case, delete, func, literal, select, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from custody.db.models import Address, Base, Device, MdmEnrollment, Parcel, Person, PurchaseOrder
from custody.db.types import UTCDateTime
from custody.domain import enums
from custody.domain.devices import WRITABLE_FIELDS, create_intake_order
from custody.domain.documents import Columns, company_item, refresh_devices, search_text
from custody.domain.errors import Conflict, InvalidInput
from custody.domain.fields import (
    Characteristics,
    ClientStatus,
    Instant,
    MdmStatus,
    OrderStatus,
    ParcelStatus,
    ParcelType,
    RowId,
    Serial,
    Str50,
    Str100,
    Text,
    Url,
)
from custody.domain.tenancy import Tenant
from custody.domain.timefmt import parse_iso_z, utcnow

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger("custody")
IgnoredId = int | None  # ids are ours: accepted so that exported items import as they are


class LineMdm(Struct, kw_only=True, forbid_unknown_fields=True, gc=False):
    """Replaces the device's enrollment; keys left out are null."""

    id: IgnoredId = None
    status: MdmStatus
    local_name: Text | None = None
    is_locked: bool | None = None
    lock_date: Instant | None = None
    firewall_enabled: bool | None = None
    os_updates_enabled: bool | None = None
    is_encrypted: bool | None = None
    screenlock_enabled: bool | None = None
    is_compromised: bool | None = None
    os_updates_available: bool | None = None
    disk_encryption_profile_installed: bool | None = None
    enrollment_date: Instant | None = None
    unenrollment_date: Instant | None = None
    download_date: Instant | None = None
    last_seen_date: Instant | None = None
    last_sync_date: Instant | None = None


class LineOrder(Struct, kw_only=True, forbid_unknown_fields=True, gc=False):
    """The company's order with this number (created if new); keys left out keep their value."""

    order_id: IgnoredId = None
    order_number: Annotated[str, Meta(min_length=1, max_length=100)]
    client_status: OrderStatus | UnsetType = UNSET
    device_names: list[Text] | UnsetType = UNSET
    rent: Str50 | UnsetType | None = UNSET
    rent_currency: Annotated[str, Meta(max_length=3)] | UnsetType | None = UNSET
    contract_number: Str100 | UnsetType | None = UNSET
    order_date: Instant | UnsetType | None = UNSET
    num_devices: Annotated[int, Meta(ge=0, le=2**31 - 1)] | UnsetType | None = UNSET


class LineParcel(Struct, kw_only=True, forbid_unknown_fields=True, gc=False):
    id: IgnoredId = None
    type: ParcelType
    status: ParcelStatus
    tracking_number: Str100 | None = None
    tracking_url: Url | None = None
    carrier: Str100 | None = None
    pickup_address_id: RowId | None = None
    reception_address_id: RowId | None = None
    pickup_date: Instant | None = None
    reception_date: Instant | None = None
    shipping_date: Instant | None = None
    created_at: Instant | None = None


class ImportLine(Struct, kw_only=True, forbid_unknown_fields=True, gc=False):
    serial_number: Serial
    id: IgnoredId = None
    name: Text | UnsetType | None = UNSET
    rent: Str50 | UnsetType | None = UNSET
    tracking_number: Str100 | UnsetType | None = UNSET
    tracking_url: Url | UnsetType | None = UNSET
    client_status: ClientStatus | UnsetType = UNSET
    type: Str50 | UnsetType | None = UNSET
    category: Str50 | UnsetType | None = UNSET
    source: Str50 | UnsetType | None = UNSET
    comment: Annotated[str, Meta(max_length=5000)] | UnsetType | None = UNSET
    characteristics: Characteristics | UnsetType = UNSET
    mdm: LineMdm | UnsetType | None = UNSET
    order: LineOrder | UnsetType = UNSET
    parcels: list[LineParcel] | UnsetType = UNSET
    user_id: RowId | UnsetType | None = UNSET


# The serial number is the upsert key, handled apart from the other writable columns.
DEVICE_FIELDS = tuple(f for f in WRITABLE_FIELDS if f != "serial_number")
ORDER_FIELDS = tuple(f for f in LineOrder.__struct_fields__ if f not in ("order_id", "order_number"))
MDM_DATES = ("lock_date", "enrollment_date", "unenrollment_date", "download_date", "last_seen_date", "last_sync_date")
PARCEL_DATES = ("pickup_date", "reception_date", "shipping_date", "created_at")
# An order the import creates lists its devices' distinct names; a large import keeps the first
# ones, since every device's item carries the list.
ORDER_NAMES_LIMIT = 20
LOOKUP_CHUNK = 1000
ARRAY_CHUNK = 10_000  # keys per lookup on PostgreSQL, bound as one array
WRITE_CHUNK = 2000
PARAMS_PER_STATEMENT = 30_000  # under SQLite's 32766 and PostgreSQL's 65535 bound parameters

DEVICE = Base.metadata.tables["device"]
MDM = Base.metadata.tables["mdm_enrollment"]
PARCEL = Base.metadata.tables["parcel"]
OWNERSHIP = Base.metadata.tables["ownership"]
# What an update may change; the rest (ids, company, serial, seed 000's fields, created_at) stays.
UPDATED_COLUMNS = (*DEVICE_FIELDS, "characteristics", "order_id", "holder_id", "lock_wipe_status")

STAGED_COLUMNS = ("id", *UPDATED_COLUMNS, "search_text", "doc", "updated_at")
ORDER_COLUMNS = tuple(Base.metadata.tables["purchase_order"].c.keys())
DEVICE_COLUMNS = tuple(DEVICE.c.keys())
MDM_COLUMNS = tuple(MDM.c.keys())
PARCEL_COLUMNS = tuple(PARCEL.c.keys())
# What an update reads of a stored device: its item is rendered again, and the columns written
# anew (or never shown) are not worth decoding.
LOADED_COLUMNS = [c for c in DEVICE.c if c.name not in ("doc", "search_text", "tags", "created_at", "updated_at")]
_NEW_DEVICE: dict[str, Any] = dict.fromkeys(DEVICE_COLUMNS)
_device_row = itemgetter(*DEVICE_COLUMNS)
_staged_row = itemgetter(*STAGED_COLUMNS)
_NO_CHARACTERISTICS: dict[str, Any] = dict.fromkeys(enums.CHARACTERISTIC_KEYS)
_line_fields = attrgetter(*DEVICE_FIELDS)
_NONES = repeat(None)
_decode = msgspec.json.Decoder(ImportLine).decode
_encode = msgspec.json.Encoder().encode
T = TypeVar("T")
Progress = Callable[[int, int], None]


class LineError(InvalidInput):
    """A line that cannot be imported: nothing of its file is written."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__("INVALID_IMPORT_LINE", f"line {line}: {message}")
        self.line = line


@dataclass(frozen=True, slots=True)
class ImportResult:
    created: int
    updated: int
    orders_created: int
    intake_order_id: int | None


@dataclass(slots=True)
class _OrderPlan:
    """One order number of the file: its fields merged over the lines that name it."""

    number: str
    fields: dict[str, tuple[Any, int]] = field(default_factory=dict)  # value and the line that set it
    names: dict[str, None] = field(default_factory=dict)
    count: int = 0


@dataclass(slots=True)
class _Plan:
    items: list[tuple[int, ImportLine]]
    existing: dict[str, dict[str, Any]]  # serial -> stored device columns
    people: set[int]  # the company's people among the holders the file names
    mdm: dict[int, dict[str, Any]]  # device id -> stored enrollment of updated devices
    parcels: dict[int, list[Columns]]  # device id -> stored parcels of updated devices
    orders: dict[str, _OrderPlan]
    stored_orders: dict[str, PurchaseOrder]  # order number -> the company's order
    kept_orders: dict[int, PurchaseOrder]  # orders of updated devices whose line names none


def import_devices(
    tenant: Tenant, lines: Iterable[tuple[int, bytes]], on_progress: Progress | None = None
) -> ImportResult:
    """Import `(line number, JSON)` lines; raises `LineError` before writing anything if one is bad.
    `on_progress(written, total)` follows the write."""
    tenant.require_write()
    plan = _plan(tenant, _parse(lines))
    try:
        with _bulk_settings(tenant):
            return _Apply(tenant, plan).run(on_progress or (lambda _done, _total: None))
    except IntegrityError as error:  # e.g. a concurrent writer took one of the serial numbers
        raise Conflict("IMPORT_CONFLICT", f"import conflicts with a concurrent change: {error.orig}") from None


# PostgreSQL settings for the write, this transaction only. work_mem: the rows a COPY hands the
# count triggers (transition tables, 5 MB per chunk) and the search index's merge stay in memory.
# gin_pending_list_limit: the trigram index queues new entries and merges them into its tree when the
# queue is full; larger merges (more devices per distinct trigram) cost less per device.
BULK_SETTINGS = {"work_mem": "64MB", "gin_pending_list_limit": "64MB"}
SEARCH_INDEX = "ix_device_search_trgm"
# Whether this role may merge the search index's queue itself (it must own the index): if not, the
# queue keeps its usual bound, since whoever next inserts a device would pay for the merge.
_MAY_MERGE = text("SELECT pg_has_role(relowner, 'USAGE') FROM pg_class WHERE oid = to_regclass(:index)")


# SQLite's page cache for the write (default 2 MB): the device table's ten indexes and the search
# index outgrow it within the first tens of thousands of devices. An upper bound, used as needed
# and freed after. What an import touches grows with the fleet: at 1,000,000 devices 50,000 more
# took 32 s with 256 MB (half the writer's time reading pages back), 11 s with 512 MB, 8 s with 1 GB.
SQLITE_CACHE_KIB = 1024 * 1024


@contextmanager
def _bulk_settings(tenant: Tenant) -> Iterator[None]:
    connection = tenant.session.connection()
    if tenant.dialect == "sqlite":
        cache = connection.exec_driver_sql("PRAGMA cache_size").scalar_one()
        connection.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
        try:
            yield
        finally:  # the pooled connection goes back with its usual cache (this frees the pages)
            connection.exec_driver_sql(f"PRAGMA cache_size = {int(cache)}")
        return
    settings = dict(BULK_SETTINGS)
    may_merge = bool(connection.execute(_MAY_MERGE, {"index": SEARCH_INDEX}).scalar())
    if not may_merge:
        del settings["gin_pending_list_limit"]
    show = text("SELECT current_setting(:name)")
    before = {name: connection.execute(show, {"name": name}).scalar_one() for name in settings}
    put = text("SELECT set_config(:name, :value, true)")
    for name, value in settings.items():
        connection.execute(put, {"name": name, "value": value})
    yield  # an error aborts the transaction, and with it these settings
    if may_merge:  # leave no queue that a search would read through, or a request would merge
        connection.execute(text("SELECT gin_clean_pending_list(to_regclass(:index))"), {"index": SEARCH_INDEX})
    for name, value in before.items():
        connection.execute(put, {"name": name, "value": value})


def _parse(lines: Iterable[tuple[int, bytes]]) -> list[tuple[int, ImportLine]]:
    items: list[tuple[int, ImportLine]] = []
    first_line: dict[str, int] = {}
    for number, raw in lines:
        if not raw or raw.isspace():
            continue
        try:
            line = _decode(raw)
        except (msgspec.DecodeError, UnicodeDecodeError) as error:  # DecodeError: also a ValidationError
            raise LineError(number, str(error)) from None
        if b"\\u0000" in raw and _holds_nul(msgspec.json.decode(raw)):  # PostgreSQL cannot store it
            raise LineError(number, "text must not contain NUL characters")
        first = first_line.setdefault(line.serial_number, number)
        if first != number:
            raise LineError(number, f"serial_number {line.serial_number!r} is already on line {first}")
        mdm = line.mdm
        if isinstance(mdm, LineMdm) and mdm.is_locked and mdm.status == "DEVICE_WIPE_PENDING":
            raise LineError(number, "mdm: a device being wiped (DEVICE_WIPE_PENDING) cannot also be locked")
        items.append((number, line))
    return items


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        value = [*value, *value.values()]
    return isinstance(value, list) and any(_holds_nul(item) for item in value)


def _chunks(values: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _plan(tenant: Tenant, items: list[tuple[int, ImportLine]]) -> _Plan:
    """Everything the write needs from the database, and every check that needs it: no writes."""
    _refresh_statistics(tenant)
    dialect = tenant.dialect
    chunk = ARRAY_CHUNK if dialect == "postgresql" else LOOKUP_CHUNK
    existing: dict[str, dict[str, Any]] = {}
    for serials in _chunks([line.serial_number for _, line in items], chunk):
        stmt = tenant.columns(Device, *LOADED_COLUMNS).where(
            Device.deleted_at.is_(None), _among(dialect, Device.serial_number, serials)
        )
        for row in tenant.execute(stmt.with_for_update()).mappings():
            existing[row["serial_number"]] = dict(row)
    updated_ids = [d["id"] for d in existing.values()]

    person_ids = {line.user_id for _, line in items if isinstance(line.user_id, int)}
    people: set[int] = set()
    for ids in _chunks(sorted(person_ids), chunk):
        people.update(tenant.scalars(tenant.columns(Person, Person.id).where(_among(dialect, Person.id, ids))))

    address_ids = {
        a
        for _, line in items
        if isinstance(line.parcels, list)
        for p in line.parcels
        for a in (p.pickup_address_id, p.reception_address_id)
        if a is not None
    }
    addresses: set[int] = set()
    for ids in _chunks(sorted(address_ids), LOOKUP_CHUNK):
        addresses.update(tenant.scalars(tenant.columns(Address, Address.id).where(Address.id.in_(ids))))

    mdm: dict[int, dict[str, Any]] = {}
    parcels: dict[int, list[Columns]] = defaultdict(list)
    for ids in _chunks(updated_ids, chunk):
        for row in tenant.execute(
            tenant.columns(MdmEnrollment, *MDM.c).where(_among(dialect, MdmEnrollment.device_id, ids))
        ).mappings():
            mdm[row["device_id"]] = dict(row)
        stmt = tenant.columns(Parcel, *PARCEL.c).where(_among(dialect, Parcel.device_id, ids))
        for row in tenant.execute(stmt).mappings():
            parcels[row["device_id"]].append(Columns(dict(row)))

    orders: dict[str, _OrderPlan] = {}
    kept_order_ids: set[int] = set()
    for number, line in items:
        _check_references(number, line, people, addresses)
        stored = existing.get(line.serial_number)
        if isinstance(line.order, LineOrder):
            _merge_order(orders, number, line)
        elif stored is not None:
            kept_order_ids.add(stored["order_id"])

    stored_orders: dict[str, PurchaseOrder] = {}
    for numbers in _chunks(sorted(orders), LOOKUP_CHUNK):
        stmt = tenant.select(PurchaseOrder).where(PurchaseOrder.order_number.in_(numbers)).order_by(PurchaseOrder.id)
        for order in tenant.scalars(stmt):
            stored_orders.setdefault(cast(str, order.order_number), order)
    kept_orders: dict[int, PurchaseOrder] = {}
    for ids in _chunks(sorted(kept_order_ids), LOOKUP_CHUNK):
        kept_orders.update(
            (o.id, o) for o in tenant.scalars(tenant.select(PurchaseOrder).where(PurchaseOrder.id.in_(ids)))
        )
    return _Plan(items, existing, people, mdm, parcels, orders, stored_orders, kept_orders)


# The columns by which `_plan` looks rows up, a chunk of keys at a time.
PROBED_COLUMNS = {"device": ("company_id", "serial_number", "deleted_at"), "parcel": ("company_id", "device_id")}
_UNANALYZED = text(
    "SELECT relname FROM pg_stat_user_tables t WHERE schemaname = current_schema() AND relname = ANY(:tables) "
    "AND n_live_tup >= 1000 AND NOT EXISTS (SELECT FROM pg_stats s "
    "WHERE s.schemaname = t.schemaname AND s.tablename = t.relname AND s.attname = 'company_id')"
)


def _refresh_statistics(tenant: Tenant) -> None:
    """Gives PostgreSQL the statistics of the probed columns if a table has none yet, as after a
    first bulk load (autovacuum analyzes a minute later, if it runs). Without them it expects a
    chunk's 1,000 serials to match most of the table and scans it per chunk (73 s for the second
    50,000 devices), or walks the company's whole index per serial. On a connection of its own,
    so that the statistics do not wait for this transaction to commit and its lock is not held
    until then; SKIP_LOCKED never waits (e.g. behind autovacuum). Only these columns: sampling
    every stored item would cost a second a time, and autovacuum still analyzes the whole table."""
    if tenant.dialect != "postgresql":
        return
    missing = list(tenant.session.scalars(_UNANALYZED, {"tables": list(PROBED_COLUMNS)}))
    if missing:
        bind = tenant.session.get_bind()
        engine = bind if isinstance(bind, Engine) else bind.engine
        tables = ", ".join(f"{name} ({', '.join(PROBED_COLUMNS[name])})" for name in missing)
        try:
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.exec_driver_sql(f"ANALYZE (SKIP_LOCKED) {tables}")
        except SQLAlchemyError as error:  # e.g. no pooled connection to spare: only a plan is at stake
            log.warning("import: could not analyze %s: %s", tables, error)


def _among(dialect: str, column: Any, values: Sequence[Any]) -> Any:
    """`column IN values`; on PostgreSQL `= ANY` of one array parameter rather than a parameter per
    value, which SQLAlchemy and psycopg would each expand and convert on every statement."""
    if dialect == "postgresql":
        return column == any_(bindparam(None, list(values), type_=postgresql.ARRAY(column.type)))
    return column.in_(values)


def _check_references(number: int, line: ImportLine, people: set[int], addresses: set[int]) -> None:
    if isinstance(line.user_id, int) and line.user_id not in people:
        raise LineError(number, f"user_id {line.user_id} is not a person of this company")
    if isinstance(line.parcels, list):
        for index, parcel in enumerate(line.parcels):
            for key in ("pickup_address_id", "reception_address_id"):
                address = getattr(parcel, key)
                if address is not None and address not in addresses:
                    raise LineError(number, f"parcels[{index}].{key} {address} is not an address of this company")


def _merge_order(orders: dict[str, _OrderPlan], number: int, line: ImportLine) -> None:
    """Lines naming one order must agree on what they say of it."""
    given = cast(LineOrder, line.order)
    plan = orders.setdefault(given.order_number, _OrderPlan(given.order_number))
    for key in ORDER_FIELDS:
        value = getattr(given, key)
        if value is UNSET:
            continue
        if key == "order_date" and value is not None:
            value = parse_iso_z(value)
        earlier = plan.fields.setdefault(key, (value, number))
        if earlier[0] != value:
            raise LineError(number, f"order {given.order_number}: {key} differs from line {earlier[1]}")
    if isinstance(line.name, str) and len(plan.names) < ORDER_NAMES_LIMIT:
        plan.names[line.name] = None
    plan.count += 1


def _same(value: Any) -> Any:
    return value


class _Writer:
    """Bulk inserts through the driver, in the caller's transaction: `COPY` on PostgreSQL, where
    each statement of a multi-row INSERT is parsed, bound and planned anew (psycopg alone spent a
    quarter of the import converting their placeholders); multi-row INSERTs on SQLite, with a null
    written as a NULL literal rather than bound: sqlite3 binds None through its slow adaptation path."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.dialect = connection.dialect
        self.mark = "?" if self.dialect.paramstyle == "qmark" else "%s"
        self._templates: dict[tuple[bool, ...], str] = {}
        time_type = UTCDateTime().dialect_impl(self.dialect)
        self._bind_time: Callable[[Any], Any] = time_type.bind_processor(self.dialect) or _same
        # psycopg's connection under SQLAlchemy's: COPY has no SQLAlchemy form.
        raw = connection.connection.dbapi_connection
        self._copy_to = cast("psycopg.Connection[Any]", raw) if self.dialect.name == "postgresql" else None

    def time(self, value: datetime | None) -> Any:
        return None if value is None else self._bind_time(value)

    def insert(self, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        quote = self.dialect.identifier_preparer.quote
        into = f"{quote(table.name)} ({', '.join(quote(c) for c in columns)})"
        if self._copy_to is not None:
            with self._copy_to.cursor() as cursor, cursor.copy(f"COPY {into} FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        head = f"INSERT INTO {into} VALUES "
        parts: list[str] = []
        params: list[Any] = []
        for row in rows:
            if len(params) + len(row) > PARAMS_PER_STATEMENT:
                self.connection.exec_driver_sql(head + ", ".join(parts), tuple(params))
                parts, params = [], []
            present = tuple(map(is_not, row, _NONES))
            template = self._templates.get(present)
            if template is None:
                template = "(" + ", ".join(self.mark if keep else "NULL" for keep in present) + ")"
                self._templates[present] = template
            parts.append(template)
            params.extend(compress(row, present))
        if parts:
            self.connection.exec_driver_sql(head + ", ".join(parts), tuple(params))

    def reserve_ids(self, table: Table, count: int) -> Iterator[int]:
        """Ids for rows about to be inserted: each device's item, rendered before its insert, shows them."""
        if count == 0:
            return iter(())
        if self.dialect.name == "postgresql":
            # The sequence looked up once (an init plan), not per id: 6x faster.
            stmt = text(
                "SELECT nextval((SELECT pg_get_serial_sequence(:t, 'id')::regclass)) FROM generate_series(1, :n)"
            )
            return iter(list(self.connection.execute(stmt, {"t": table.name, "n": count}).scalars()))
        # SQLite: the write transaction holds the database lock, so nobody else takes these.
        last = self.connection.execute(select(func.max(table.c.id))).scalar() or 0
        return iter(range(last + 1, last + 1 + count))


@dataclass(slots=True)
class _Batch:
    """The rows one chunk of lines writes, in the driver's form."""

    created: list[tuple[Any, ...]] = field(default_factory=list)
    updated: list[tuple[Any, ...]] = field(default_factory=list)
    mdm_replaced: list[int] = field(default_factory=list)  # device ids whose enrollment goes
    mdm: list[tuple[Any, ...]] = field(default_factory=list)
    parcels_replaced: list[int] = field(default_factory=list)
    parcels: list[tuple[Any, ...]] = field(default_factory=list)
    spans_ended: list[int] = field(default_factory=list)
    spans: list[tuple[Any, ...]] = field(default_factory=list)


def _settle_orders(tenant: Tenant, plan: _Plan, now: datetime) -> tuple[dict[str, PurchaseOrder], set[int], int]:
    """Create the file's new orders and update the stored ones it changes; returns them by number,
    the ids of stored orders that changed, and how many were created."""
    settled: dict[str, PurchaseOrder] = {}
    changed: set[int] = set()
    for number, order_plan in plan.orders.items():
        given = {key: value for key, (value, _) in order_plan.fields.items()}
        order = plan.stored_orders.get(number)
        if order is None:
            order = PurchaseOrder(
                company_id=tenant.company_id,
                client_status=given.get("client_status", "RECEIVED"),
                device_names=given.get("device_names", list(order_plan.names)),
                rent=given.get("rent"),
                rent_currency=given.get("rent_currency"),
                order_number=number,
                contract_number=given.get("contract_number"),
                order_date=given.get("order_date", now),
                num_devices=given.get("num_devices", order_plan.count),
            )
            tenant.add(order)
        elif any(getattr(order, key) != value for key, value in given.items()):
            for key, value in given.items():
                setattr(order, key, value)
            changed.add(order.id)
        settled[number] = order
    tenant.session.flush()
    return settled, changed, len(settled) - len(plan.stored_orders)


class _Apply:
    """The write half of an import: orders settled and ids reserved up front, then lines written
    chunk by chunk, each device's item rendered just before its row is written."""

    def __init__(self, tenant: Tenant, plan: _Plan) -> None:
        self.tenant = tenant
        self.plan = plan
        self.company = tenant.company_id
        self.now = utcnow()
        orders, self.changed_orders, self.orders_created = _settle_orders(tenant, plan, self.now)
        self.order_ids = {number: order.id for number, order in orders.items()}
        self.intake = self._intake_order()
        settled = [*plan.kept_orders.values(), *orders.values(), *([self.intake] if self.intake else [])]
        self.orders = {o.id: Columns({name: getattr(o, name) for name in ORDER_COLUMNS}) for o in settled}

        self.writer = _Writer(tenant.session.connection())
        items = plan.items
        self.created = len(items) - len(plan.existing)
        self.device_ids = self.writer.reserve_ids(DEVICE, self.created)
        new_mdm = sum(
            1
            for _, line in items
            if isinstance(line.mdm, LineMdm)
            and ((d := plan.existing.get(line.serial_number)) is None or d["id"] not in plan.mdm)
        )
        self.mdm_ids = self.writer.reserve_ids(MDM, new_mdm)
        parcels = sum(len(line.parcels) for _, line in items if isinstance(line.parcels, list))
        self.parcel_ids = self.writer.reserve_ids(PARCEL, parcels)
        # `new_hex_id`'s 96 random bits per device, drawn in one call.
        random_hex = secrets.token_hex(12 * self.created)
        self.hex_ids = (random_hex[i : i + 24] for i in range(0, len(random_hex), 24))
        self.bound_now = self.writer.time(self.now)
        self.staging = _staging_table(self.writer.connection) if plan.existing else None

    def _intake_order(self) -> PurchaseOrder | None:
        """The order of the new devices whose line names none: one for the whole file."""
        existing = self.plan.existing
        names = [
            line.name if isinstance(line.name, str) else None
            for _, line in self.plan.items
            if line.order is UNSET and line.serial_number not in existing
        ]
        if not names:
            return None
        order = create_intake_order(self.tenant, names)
        order.device_names = order.device_names[:ORDER_NAMES_LIMIT]
        self.tenant.session.flush()
        return order

    def run(self, on_progress: Progress) -> ImportResult:
        total = len(self.plan.items)
        done = 0
        writing: Future[None] | None = None
        # The database drivers release the GIL while a statement runs: the next chunk is rendered
        # while the previous one is written. One writer thread, so writes keep their order.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="custody-import") as writer:
            for chunk in _chunks(self.plan.items, WRITE_CHUNK):
                batch = _Batch()
                for _, line in chunk:
                    self._line(line, batch)
                if writing is not None:
                    writing.result()
                    on_progress(done, total)
                writing = writer.submit(self._write, batch)
                done += len(chunk)
            if writing is not None:
                writing.result()
                on_progress(done, total)
        if self.staging is not None:
            self.staging.drop(self.writer.connection)
        _refresh_order_devices(self.tenant, self.changed_orders, [d["id"] for d in self.plan.existing.values()])
        return ImportResult(
            created=self.created,
            updated=len(self.plan.existing),
            orders_created=self.orders_created + (self.intake is not None),
            intake_order_id=self.intake.id if self.intake is not None else None,
        )

    def _line(self, line: ImportLine, batch: _Batch) -> None:
        stored = self.plan.existing.get(line.serial_number)
        values = self._device(line, stored)
        mdm = self._mdm(line, values, batch)
        parcels = self._parcels(line, stored, values["id"], batch)
        self._holder(line, stored, values, batch)
        device = cast(Device, Columns(values))
        order = cast(PurchaseOrder, self.orders[values["order_id"]])
        item = company_item(device, cast(MdmEnrollment | None, mdm), order, cast(list[Parcel], parcels))
        values["doc"] = _encode(item).decode()
        values["search_text"] = search_text(device)
        values["characteristics"] = _encode(values["characteristics"]).decode()
        values["updated_at"] = self.bound_now
        if stored is None:
            values["tags"] = "[]"
            values["created_at"] = self.bound_now
            batch.created.append(_device_row(values))
        else:
            batch.updated.append(_staged_row(values))

    def _device(self, line: ImportLine, stored: dict[str, Any] | None) -> dict[str, Any]:
        """The device's columns after this line: stored values (or a new device's defaults) overlaid
        with the keys the line carries."""
        if stored is None:
            values = dict(_NEW_DEVICE)
            values.update(
                id=next(self.device_ids),
                hex_id=next(self.hex_ids),
                company_id=self.company,
                serial_number=line.serial_number,
                client_status="AVAILABLE",
                characteristics=dict(_NO_CHARACTERISTICS),
                order_id=self.intake.id if self.intake is not None else None,
            )
        else:
            values = dict(stored)
            values["characteristics"] = {**_NO_CHARACTERISTICS, **(stored["characteristics"] or {})}
        for key, value in zip(DEVICE_FIELDS, _line_fields(line), strict=True):
            if value is not UNSET:
                values[key] = value
        given = line.characteristics
        if isinstance(given, Characteristics):
            chars = values["characteristics"]
            for key, value in zip(given.__struct_fields__, msgspec.structs.astuple(given), strict=True):
                if value is not UNSET:
                    chars[key] = value
        if isinstance(line.order, LineOrder):
            values["order_id"] = self.order_ids[line.order.order_number]
        return values

    def _bound(self, values: dict[str, Any], columns: Sequence[str]) -> tuple[Any, ...]:
        time = self.writer.time
        return tuple(time(v) if isinstance(v, datetime) else v for v in map(values.__getitem__, columns))

    def _mdm(self, line: ImportLine, device: dict[str, Any], batch: _Batch) -> Columns | None:
        """The enrollment the item shows. A line's `mdm` replaces the stored one, keeping its id and
        the OS details seed 002 does not carry; `null` removes it."""
        given = line.mdm
        stored = self.plan.mdm.get(device["id"])
        if given is UNSET:
            return Columns(stored) if stored is not None else None
        if stored is not None:
            batch.mdm_replaced.append(device["id"])
        if given is None:
            return None
        values = msgspec.structs.asdict(given)
        del values["is_locked"]
        for key in MDM_DATES:
            if values[key] is not None:
                values[key] = parse_iso_z(values[key])
        kept = stored or dict.fromkeys(("os_name", "os_version", "build_version"))
        values.update(
            id=stored["id"] if stored else next(self.mdm_ids),
            company_id=self.company,
            device_id=device["id"],
            os_name=kept["os_name"],
            os_version=kept["os_version"],
            build_version=kept["build_version"],
        )
        # One lock / wipe state drives both views; the item shows it back as `is_locked` and status.
        if given.status == "DEVICE_WIPE_PENDING":
            device["lock_wipe_status"] = "WIPING"
        elif given.is_locked:
            device["lock_wipe_status"] = "LOCKED"
        elif device["lock_wipe_status"] in ("LOCKED", "WIPING"):
            device["lock_wipe_status"] = None
        batch.mdm.append(self._bound(values, MDM_COLUMNS))
        return Columns(values)

    def _parcels(self, line: ImportLine, stored: dict[str, Any] | None, device_id: int, batch: _Batch) -> list[Columns]:
        if not isinstance(line.parcels, list):
            return self.plan.parcels.get(device_id, [])
        if stored is not None:
            batch.parcels_replaced.append(device_id)
        # Newest first on the line: the last gets the lowest id, so equal creation times keep the order.
        ids = [next(self.parcel_ids) for _ in line.parcels][::-1]
        parcels = []
        for parcel_id, given in zip(ids, line.parcels, strict=True):
            values = msgspec.structs.asdict(given)
            for key in PARCEL_DATES:
                if values[key] is not None:
                    values[key] = parse_iso_z(values[key])
            values.update(
                id=parcel_id, company_id=self.company, device_id=device_id, created_at=values["created_at"] or self.now
            )
            batch.parcels.append(self._bound(values, PARCEL_COLUMNS))
            parcels.append(Columns(values))
        return parcels

    def _holder(self, line: ImportLine, stored: dict[str, Any] | None, values: dict[str, Any], batch: _Batch) -> None:
        """`set_holder`'s rule in bulk: a new holder ends the open span and opens one from now."""
        if line.user_id is UNSET or line.user_id == values["holder_id"]:
            return
        if stored is not None and values["holder_id"] is not None:
            batch.spans_ended.append(values["id"])
        if line.user_id is not None:
            batch.spans.append((self.company, values["id"], line.user_id, self.bound_now))
        values["holder_id"] = line.user_id

    def _write(self, batch: _Batch) -> None:
        writer, company = self.writer, self.company
        connection = writer.connection
        writer.insert(DEVICE, DEVICE_COLUMNS, batch.created)
        if self.staging is not None and batch.updated:
            staging = self.staging
            connection.execute(delete(staging))
            writer.insert(staging, STAGED_COLUMNS, batch.updated)
            assignments = {c.name: c for c in staging.c if c.name not in ("id", "client_status")}
            connection.execute(update(DEVICE).values(assignments).where(DEVICE.c.id == staging.c.id))
            # The per-status counts follow client_status by a row trigger: set it only where it changes.
            status = staging.c.client_status
            connection.execute(
                update(DEVICE)
                .values(client_status=status)
                .where(DEVICE.c.id == staging.c.id, DEVICE.c.client_status != status)
            )
        for ids in _chunks(batch.mdm_replaced, LOOKUP_CHUNK):
            connection.execute(delete(MDM).where(MDM.c.company_id == company, MDM.c.device_id.in_(ids)))
        writer.insert(MDM, MDM_COLUMNS, batch.mdm)
        for ids in _chunks(batch.parcels_replaced, LOOKUP_CHUNK):
            connection.execute(delete(PARCEL).where(PARCEL.c.company_id == company, PARCEL.c.device_id.in_(ids)))
        writer.insert(PARCEL, PARCEL_COLUMNS, batch.parcels)
        at = literal(self.now, UTCDateTime())
        for ids in _chunks(batch.spans_ended, LOOKUP_CHUNK):
            connection.execute(
                update(OWNERSHIP)
                .where(
                    OWNERSHIP.c.company_id == company, OWNERSHIP.c.device_id.in_(ids), OWNERSHIP.c.end_time.is_(None)
                )
                .values(end_time=case((OWNERSHIP.c.start_time > at, OWNERSHIP.c.start_time), else_=at))
            )
        writer.insert(OWNERSHIP, ("company_id", "device_id", "person_id", "start_time"), batch.spans)


def _staging_table(connection: Connection) -> Table:
    """Updated devices are staged in a temporary table and applied by one UPDATE ... FROM per chunk,
    so that the device triggers run once per statement there too."""
    columns = [Column(name, DEVICE.c[name].type) for name in STAGED_COLUMNS]
    staging = Table("custody_import_device", MetaData(), *columns, prefixes=["TEMPORARY"])
    staging.create(connection)
    return staging


def _refresh_order_devices(tenant: Tenant, order_ids: set[int], imported: Iterable[int]) -> None:
    """Devices outside the file that sit on an order it changed show that order in their item."""
    if not order_ids:
        return
    stmt = tenant.columns(Device, Device.id).where(Device.order_id.in_(sorted(order_ids)), Device.deleted_at.is_(None))
    others = set(tenant.scalars(stmt)) - set(imported)
    refresh_devices(tenant, others)
