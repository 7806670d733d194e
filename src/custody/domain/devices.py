"""Devices: create, change, retire and list — the rules every API view shares."""

from __future__ import annotations

import functools
import re
import secrets
from dataclasses import dataclass, field
from typing import Any
from typing import cast as cast_type

from sqlalchemy import (
    BigInteger,
    BindParameter,
    ColumnElement,
    Select,
    and_,
    bindparam,
    case,
    cast,
    column,
    distinct,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
    table,
    true,
    union,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.selectable import CompoundSelect
from sqlalchemy.sql.visitors import ExternallyTraversible, replacement_traverse

from custody.db.engine import Reader
from custody.db.models import Device, DeviceBlockCount, DeviceCount, DeviceTeam, Person, PurchaseOrder, TeamWord
from custody.db.types import Utf8Bytes
from custody.domain.documents import refresh_devices
from custody.domain.enums import CHARACTERISTIC_KEYS
from custody.domain.errors import Conflict, NotFound
from custody.domain.fields import check_text
from custody.domain.keys import AUTH, KEY_COMPANY, caller_by_hash, caller_of
from custody.domain.ownership import end_all_for_device, resolve_person, set_holder
from custody.domain.tenancy import MAX_ID, Caller, Tenant, TenantSnapshot
from custody.domain.timefmt import utcnow

# Columns a client may set directly (the company devices API's writable keys).
WRITABLE_FIELDS = (
    "name",
    "serial_number",
    "rent",
    "tracking_number",
    "tracking_url",
    "client_status",
    "type",
    "category",
    "source",
    "comment",
)
NOT_FOUND = "DEVICE_NOT_FOUND"
INVALID_USER = "INVALID_USER"
KEEP = object()  # DeviceChanges.holder when the holder is not to change


def new_hex_id() -> str:
    return secrets.token_hex(12)


@dataclass(slots=True)
class DeviceSpec:
    """A device to create: column values, characteristics (absent keys are null), holder."""

    fields: dict[str, Any]
    characteristics: dict[str, Any] = field(default_factory=dict)
    holder_id: int | None = None


def _serial_conflict(error: IntegrityError) -> bool:
    message = str(error.orig).lower()
    return "serial" in message


def create_intake_order(tenant: Tenant, names: list[str | None]) -> PurchaseOrder:
    """Every device comes through an order; devices created directly get one for their batch."""
    now = utcnow()
    order = PurchaseOrder(
        company_id=tenant.company_id,
        client_status="RECEIVED",
        device_names=list(dict.fromkeys(n for n in names if n)),
        rent=None,
        rent_currency=None,
        order_number=None,
        contract_number=None,
        order_date=now,
        num_devices=len(names),
    )
    tenant.add(order)
    tenant.session.flush()
    order.order_number = f"INTAKE-{order.id:06d}"
    return order


def add_devices(tenant: Tenant, specs: list[DeviceSpec]) -> list[Device]:
    """Create a batch through one intake order, holders assigned; the caller renders their items
    (`refresh_devices`) once it has made every change it means to make."""
    tenant.require_write()
    now = utcnow()
    for spec in specs:
        check_text(spec.fields)
        check_text(spec.characteristics)
        if spec.holder_id is not None:
            resolve_person(tenant, spec.holder_id, INVALID_USER)
    order = create_intake_order(tenant, [s.fields.get("name") for s in specs])
    devices = []
    for spec in specs:
        values = {"client_status": "AVAILABLE", "tags": [], **spec.fields}
        device = Device(
            company_id=tenant.company_id,
            hex_id=new_hex_id(),
            order_id=order.id,
            characteristics={k: spec.characteristics.get(k) for k in CHARACTERISTIC_KEYS},
            search_text="",
            doc="",
            created_at=now,
            updated_at=now,
            **values,
        )
        tenant.add(device)
        devices.append(device)
    try:
        tenant.session.flush()
    except IntegrityError as error:
        if _serial_conflict(error):
            raise Conflict("INVALID_SERIAL_NUMBER", "serial number already used by another device") from error
        raise
    for device, spec in zip(devices, specs, strict=True):
        if spec.holder_id is not None:
            set_holder(tenant, device, spec.holder_id, now)
    return devices


def create_devices(tenant: Tenant, specs: list[DeviceSpec]) -> list[str]:
    """Create a batch through one intake order; returns the new devices' items, in input order."""
    devices = add_devices(tenant, specs)
    docs = refresh_devices(tenant, [d.id for d in devices])
    return [docs[d.id] for d in devices]


def get_device(tenant: Tenant, device_id: int, *, for_update: bool = False) -> Device:
    """A listed device of the caller's company; deleted, foreign and unknown ids are all not found."""
    if not 0 < device_id <= MAX_ID:
        raise NotFound(NOT_FOUND)
    stmt = tenant.select(Device).where(Device.id == device_id, Device.deleted_at.is_(None))
    if for_update:
        stmt = stmt.with_for_update()
    device = tenant.scalars(stmt).one_or_none()
    if device is None:
        raise NotFound(NOT_FOUND)
    return device


@dataclass(slots=True)
class DeviceChanges:
    """A partial update: only what is present changes; `holder` is `KEEP` unless given."""

    fields: dict[str, Any] = field(default_factory=dict)
    characteristics: dict[str, Any] = field(default_factory=dict)
    holder: int | object | None = KEEP

    def is_empty(self) -> bool:
        return not self.fields and not self.characteristics and self.holder is KEEP


def update_device(tenant: Tenant, device_id: int, changes: DeviceChanges) -> str:
    """Apply a partial update; returns the device's new item."""
    tenant.require_write()
    check_text(changes.fields)
    check_text(changes.characteristics)
    device = get_device(tenant, device_id, for_update=True)
    now = utcnow()
    for name, value in changes.fields.items():
        setattr(device, name, value)
    if changes.characteristics:
        device.characteristics = {**device.characteristics, **changes.characteristics}
    device.updated_at = now
    # Flush the field changes before the holder's queries, so a serial conflict is caught here.
    try:
        tenant.session.flush()
    except IntegrityError as error:
        if _serial_conflict(error):
            raise Conflict("INVALID_SERIAL_NUMBER", "serial number already used by another device") from error
        raise
    if changes.holder is not KEEP:
        holder = changes.holder
        assert holder is None or isinstance(holder, int)
        if holder is not None:
            resolve_person(tenant, holder, INVALID_USER)
        set_holder(tenant, device, holder, now)
    return refresh_devices(tenant, [device.id])[device.id]


def delete_device(tenant: Tenant, device_id: int) -> str:
    """Soft delete: the row and its history stay; the device is no longer listed or held."""
    tenant.require_write()
    device = get_device(tenant, device_id, for_update=True)
    now = utcnow()
    end_all_for_device(tenant, device.id, now)
    device.holder_id = None
    device.deleted_at = now
    device.updated_at = now
    return refresh_devices(tenant, [device.id])[device.id]


@dataclass(frozen=True, slots=True)
class DeviceQuery:
    limit: int = 50
    offset: int = 0
    search: str | None = None
    user_id: int | None = None
    client_status: str | None = None


OFFSET_CAP = 2**62
# Words shorter than this cannot use the trigram index and are matched by substring instead.
TRIGRAM = 3
_device = Device.__table__
_d = _device.c
# A device's stored item as bytes, for the list pages (see `page_body` in the company devices API).
_DOC = Utf8Bytes(_d.doc).label("doc")
_count = DeviceCount.__table__.c
_blocks = DeviceBlockCount.__table__.c
# Ids per block of `device_block_count` (migration 0005 keeps `id >> BLOCK_BITS`): a deep page
# steps through fewer than BLOCK index entries, after a running sum over about N / BLOCK rows.
BLOCK_BITS = 10
BLOCK = 1 << BLOCK_BITS
_fts = table("device_search", column("rowid"), column("device_search"))
_person_fts = table("person_search", column("rowid"), column("person_search"))
_p = Person.__table__.c
_dt = DeviceTeam.__table__.c
_tw = TeamWord.__table__.c


@dataclass(frozen=True, slots=True)
class Search:
    """A search's shape (which conditions it needs, the key of a cached statement) and its values.

    Every word must match, case-insensitively, as a substring of the device's own words (name,
    serial number) or of its holder's (name and email, `person.search_text`; or one of their teams,
    `device_team`). `%`, `_` and quotes are literal. One word, the anchor, finds the candidates:
    through the trigram indexes on devices and on people, and among the company's team names
    (`team_word`, by `LIKE`: a few rows) whose devices are one range of `device_team`. The anchor is
    the longest word (the most trigrams: as a rule the fewest matches) of those the indexes serve, on
    SQLite's FTS5 `trigram` three characters or more, on PostgreSQL's `pg_trgm` any (there the index
    is asked for the anchor's runs of letters and digits, `index_pattern`, and each candidate is
    checked for the whole word). The other words are checked on the candidates by `LIKE`. Without an
    anchor (SQLite, only shorter words), every word is checked on every device of the company."""

    anchor: str | None = None  # how the anchor is matched: "fts" (SQLite) or "like"; None: no anchor
    likes: int = 0  # the other words
    params: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str | None, dialect: str) -> Search:
        if text:
            check_text({"search": text})
        words = (text or "").lower().split()
        served = [w for w in words if len(w) >= TRIGRAM] if dialect == "sqlite" else words
        if not served:
            return cls(None, len(words), {f"like{i}": like_pattern(word) for i, word in enumerate(words)})
        anchor = max(served, key=len)
        words.remove(anchor)
        params = {f"like{i}": like_pattern(word) for i, word in enumerate(words)}
        params["team"] = like_pattern(anchor)
        if dialect == "sqlite":
            params["anchor"] = '"' + anchor.replace('"', '""') + '"'  # an FTS5 string: a phrase of its trigrams
            return cls("fts", len(words), params)
        params["anchor"] = index_pattern(anchor)
        params["word"] = anchor
        return cls("like", len(words), params)

    @property
    def shape(self) -> tuple[str | None, int]:
        return self.anchor, self.likes


def _teams(word: BindParameter[str]) -> Select[Any]:
    """The caller's company's team names containing `word` (a `LIKE` over a few rows)."""
    return select(_tw.words).where(_tw.company_id == bindparam("company_id"), _tw.words.like(word, escape="\\"))


def _team_devices(word: BindParameter[str]) -> Select[Any]:
    """The listed devices of the caller's company whose holder has a team containing `word`: the
    ranges of `device_team` of the team names that do."""
    return select(_dt.device_id).where(_dt.company_id == bindparam("company_id"), _dt.words.in_(_teams(word)))


def _anchor_matches(anchor: str, d: Any = _d) -> tuple[ColumnElement[bool], ColumnElement[bool], ColumnElement[bool]]:
    """Conditions on a device's columns `d`: its own words match the anchor; its holder's name or
    email do; one of its holder's teams does."""
    if anchor == "fts":
        own = d.id.in_(select(_fts.c.rowid).where(_fts.c.device_search.op("MATCH")(bindparam("anchor"))))
        people = select(_person_fts.c.rowid).where(_person_fts.c.person_search.op("MATCH")(bindparam("anchor")))
    else:
        own = and_(d.search_text.like(bindparam("anchor"), escape="\\"), _holds_word(d.search_text))
        people = select(_p.id).where(
            _p.company_id == bindparam("company_id"),
            _p.search_text.like(bindparam("anchor"), escape="\\"),
            _holds_word(_p.search_text),
        )
    return own, d.holder_id.in_(people), d.id.in_(_team_devices(bindparam("team")))


def _holds_word(words: Any) -> ColumnElement[bool]:
    """`words` contain the anchor `:word` (checked after the index, which it cannot use)."""
    return func.strpos(words, bindparam("word")) > literal_column("0")


def _word_checks(likes: int, anchored: bool) -> list[ColumnElement[bool]]:
    """Conditions on `device`: each word other than the anchor is in its own words or its holder's.
    On an anchor's few candidates the holder and the device's teams are looked up per device;
    without an anchor every device of the company is checked, and the people and teams whose words
    match are found once (per device lookups doubled the time of a scan of a million devices: 2.8 s
    against 1.4 s)."""
    checks: list[ColumnElement[bool]] = []
    for i in range(likes):
        word: BindParameter[str] = bindparam(f"like{i}")
        holder: ColumnElement[bool]
        teams: ColumnElement[bool]
        if anchored:
            holder = exists().where(_p.id == _d.holder_id, _p.search_text.like(word, escape="\\"))
            # The device's teams are looked up only if some team of the company has the word (a
            # condition without the device, evaluated once): most words of a name are in no team's.
            in_team = exists().where(_dt.device_id == _d.id, _dt.words.like(word, escape="\\"))
            teams = and_(exists(_teams(word)), in_team)
        else:
            people = select(_p.id).where(
                _p.company_id == bindparam("company_id"), _p.search_text.like(word, escape="\\")
            )
            holder = _d.holder_id.in_(people)
            teams = _d.id.in_(_team_devices(word))
        checks.append(or_(_d.search_text.like(word, escape="\\"), holder, teams))
    return checks


def search_conditions(anchor: str | None, likes: int) -> list[ColumnElement[bool]]:
    """The conditions of a `Search` of this shape on `device`, for a statement that filters devices
    with other conditions (the device management API's list). The anchor's three ways are one
    `IN` of their union: SQLite does not serve an `OR` of `IN`s by several indexes."""
    conditions = _word_checks(likes, anchored=anchor is not None)
    if anchor is not None:
        a = _device.alias("anchored").c
        company = a.company_id == bindparam("company_id")
        ways = [select(a.id).where(company, matches) for matches in _anchor_matches(anchor, a)]
        conditions.append(_d.id.in_(union(*ways)))
    return conditions


@functools.cache
def _list_statements(status: bool, user: bool) -> tuple[Select[Any], Select[Any]]:
    """The page and count statements for one shape of query without a search (`_search_page`),
    built once: the list is the hot path, and building SQLAlchemy expressions costs more than
    running the SQL."""
    conditions = _conditions(status, user)
    count = select(func.count()).select_from(_device).where(*conditions) if user else _kept_total(status)
    page = select(_DOC).where(*conditions).order_by(_d.id)
    page = page.limit(bindparam("limit", type_=BigInteger)).offset(bindparam("offset", type_=BigInteger))
    return page, count


@functools.cache
def _search_page(status: bool, user: bool, anchor: str | None, likes: int) -> Select[Any]:
    """A search's total and page in one statement, its matches read once: rows `(total, doc)`,
    the page in id order, or one row `(total, NULL)` when the page is empty. Counting and paging
    in two statements read the trigram indexes twice, and that read is most of a search's time.
    The matches are the union of the devices whose own words match the anchor, the devices held
    by people whose name or email do (through the holder index, filtered as it is read) and the
    devices of the teams that do; for one word without filters on PostgreSQL, `_one_word_page`."""
    if anchor == "like" and not (status or user or likes):
        return _one_word_page()
    conditions = _conditions(status, user) + _word_checks(likes, anchored=anchor is not None)
    if anchor is None:
        matches: Select[Any] | CompoundSelect[Any] = select(_d.id).where(*conditions)
    else:
        own, held, teamed = _anchor_matches(anchor)
        # `device_team` holds listed devices of the company only: without other conditions a
        # team's devices are read from its key alone, not each from the device table too.
        in_teams = (
            _team_devices(bindparam("team"))
            if not (status or user or likes)
            else select(_d.id).where(*conditions, teamed)
        )
        matches = union(select(_d.id).where(*conditions, own), select(_d.id).where(*conditions, held), in_teams)
    found = matches.cte("found").prefix_with("MATERIALIZED")  # once, for the count and the page
    limit, offset = bindparam("limit", type_=BigInteger), bindparam("offset", type_=BigInteger)
    page_ids = select(found.c.id).order_by(found.c.id).limit(limit).offset(offset)
    total = select(select(func.count()).select_from(found).scalar_subquery().label("n")).subquery("total")
    page = select(_d.id, _DOC).where(_d.id.in_(page_ids)).subquery("page")
    return select(total.c.n, page.c.doc).select_from(total.outerjoin(page, true())).order_by(page.c.id)


def _one_word_page() -> Select[Any]:
    """`_search_page` of one word without filters on PostgreSQL, where a team word finds thousands
    of devices (~7,000 at a million). `device_team` holds listed devices of the company only, so
    those are counted from its key alone, and the page needs only the first `offset + limit` ids
    of each matching team's range (in id order in the key). Only the devices the word finds by
    their own or their holder's words, as a rule few, are checked against the teams (`rest`). A
    union of the three ways deduplicated and sorted all of them: a team search took 4.4 ms in SQL
    at a million devices that way, 2.6 ms this way (a serial fragment 0.8 ms, 1.1 ms)."""
    own, held, _ = _anchor_matches("like")
    listed = _conditions(status=False)
    small = union(select(_d.id).where(*listed, own), select(_d.id).where(*listed, held))
    found = small.cte("small").prefix_with("MATERIALIZED")
    word: BindParameter[str] = bindparam("team")
    company = _dt.company_id == bindparam("company_id")
    in_a_team = exists().where(company, _dt.device_id == found.c.id, _dt.words.in_(_teams(word)))
    rest = select(found.c.id).where(~in_a_team).cte("rest").prefix_with("MATERIALIZED")
    limit, offset = bindparam("limit", type_=BigInteger), bindparam("offset", type_=BigInteger)
    teams = _teams(word).subquery("teams")
    # A team's first ids, read in order from its range of the key (LATERAL: one range per team).
    first = (
        select(_dt.device_id.label("id"))
        .where(company, _dt.words == teams.c.words)
        .order_by(_dt.device_id)
        .limit(offset + limit)
        .lateral("first")
    )
    head = select(first.c.id).select_from(teams.join(first, true())).distinct()
    both = union_all(head, select(rest.c.id)).subquery("both")
    ids = select(both.c.id).order_by(both.c.id).limit(limit).offset(offset).cte("ids").prefix_with("MATERIALIZED")
    team = _team_devices(word).subquery("team")  # a device once per matching team of its holder
    teamed = select(func.count(distinct(team.c.device_id))).scalar_subquery()
    total = select((teamed + select(func.count()).select_from(rest).scalar_subquery()).label("n")).subquery("total")
    page = select(_d.id, _DOC).join(ids, ids.c.id == _d.id).subquery("page")
    return select(total.c.n, page.c.doc).select_from(total.outerjoin(page, true())).order_by(page.c.id)


def _conditions(status: bool, user: bool = False) -> list[ColumnElement[bool]]:
    """A listed device of the caller's company (of `:client_status`, held by `:user_id`)."""
    conditions: list[ColumnElement[bool]] = [_d.company_id == bindparam("company_id"), _d.deleted_at.is_(None)]
    if status:
        conditions.append(_d.client_status == bindparam("client_status"))
    if user:
        conditions.append(_d.holder_id == bindparam("user_id"))
    return conditions


def _kept_total(status: bool) -> Select[Any]:
    """The listed devices (of `:client_status`) from the kept per-status counts."""
    kept = [_count.company_id == bindparam("company_id")]
    if status:
        kept.append(_count.client_status == bindparam("client_status"))
    return select(func.coalesce(func.sum(_count.n), 0)).where(*kept)


@functools.cache
def _block_page(status: bool, from_end: bool) -> Select[Any]:
    """A page of the listed devices (of `:client_status`) at a deep `:offset`, in one statement (one
    snapshot on either engine): the block the page starts in is the one whose rows before it
    (`before`) are at most the offset and, with its own, more than it; the page is then read from
    that block's first id, skipping `offset - before` rows, fewer than BLOCK.

    `before` is a running sum over the block's kept counts, from the first block, or for a page in
    the second half from the last one (the total minus the rows from this block on): the sum stops
    at the block it looks for, so the deepest pages read a few rows of counts, not N / BLOCK."""
    of = bindparam("client_status") if status else literal("")  # '': a block's all-status row
    kept = [_blocks.company_id == bindparam("company_id"), _blocks.client_status == of]
    if from_end:
        after = func.sum(_blocks.n).over(order_by=_blocks.block.desc(), rows=(None, 0))
        before = _kept_total(status).scalar_subquery() - after
    else:
        before = func.sum(_blocks.n).over(order_by=_blocks.block, rows=(None, 0)) - _blocks.n
    blocks = select(_blocks.block, _blocks.n, before.label("before")).where(*kept).subquery("blocks")
    offset = bindparam("offset", type_=BigInteger)
    # Exactly one block matches (a block of 0 matches none), so LIMIT 1 only ends the scan there.
    start = (
        select(blocks.c.block, (offset - blocks.c.before).label("skip"))
        .where(blocks.c.before <= offset, blocks.c.before + blocks.c.n > offset)
        .limit(1)
        .cte("start", nesting=True)  # in its page's own WITH, which `_keyed_statement` nests
    )
    first_id = select(start.c.block * BLOCK).scalar_subquery()
    # No start block (a concurrent delete moved the end before the offset): first_id is NULL and
    # the page empty; SQLite refuses a NULL OFFSET. PostgreSQL's sum is numeric, OFFSET a bigint.
    skip = cast(func.coalesce(select(start.c.skip).scalar_subquery(), 0), BigInteger)
    page = select(_DOC).where(*_conditions(status), _d.id >= first_id).order_by(_d.id)
    return page.limit(bindparam("limit", type_=BigInteger)).offset(skip)


_RUNS = re.compile(r"[^\W_]+")  # letters and digits


def index_pattern(word: str) -> str:
    """What PostgreSQL's trigram index is asked for a search word: its runs of letters and digits
    in order (`%legal%madrid%` for `legal-madrid`), a condition every match meets. `pg_trgm` takes
    a character between them as a word boundary and adds the trigrams of a word's start and end
    (`  m`, ` ma` for `-madrid`), which the names of most devices share: at a million devices the
    index spent 3.1 ms on `%legal-madrid%` to find nothing, 0.04 ms on `%madrid%`. The word itself,
    when no run has a trigram."""
    runs = _RUNS.findall(word)
    if not any(len(run) >= TRIGRAM for run in runs):
        return like_pattern(word)
    return "%" + "%".join(runs) + "%"


def like_pattern(word: str) -> str:
    """`%word%` for `LIKE ... ESCAPE '\\'`: the word's own `%`, `_` and `\\` match literally."""
    return "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


@dataclass(frozen=True, slots=True)
class _ListPlan:
    """A list query's statement shape and parameters (without `:company_id`)."""

    status: bool
    user: bool
    search: Search
    params: dict[str, Any]

    @classmethod
    def of(cls, query: DeviceQuery, dialect: str) -> _ListPlan | None:
        """None when no device can match (a holder id no row can have)."""
        search = Search.parse(query.search, dialect)
        if query.user_id is not None and not 0 < query.user_id <= MAX_ID:
            return None
        params: dict[str, Any] = {
            "limit": query.limit,
            # Past any real total the page is empty anyway; the cap keeps OFFSET + LIMIT within 64 bits.
            "offset": min(query.offset, OFFSET_CAP),
            "client_status": query.client_status,
            "user_id": query.user_id,
            **search.params,
        }
        return cls(query.client_status is not None, query.user_id is not None, search, params)

    @property
    def statements(self) -> tuple[Select[Any], Select[Any]]:
        """Without a search: see `_search_page` for one."""
        return _list_statements(self.status, self.user)

    @property
    def by_blocks(self) -> bool:
        """Kept block counts serve a deep page of this filter (`_block_page`)."""
        return self.params["offset"] >= BLOCK and not self.user and self.search.shape == (None, 0)


def list_devices(tenant: Tenant | TenantSnapshot, query: DeviceQuery) -> tuple[list[bytes], int]:
    """A page of stored items in id order, and the exact number of matches before paging
    (search: see `Search`). Without a holder or search filter, a page at an offset of BLOCK or more
    starts from the kept block counts (`_block_page`), not by stepping through every row before it."""
    plan = _ListPlan.of(query, tenant.dialect)
    if plan is None:
        return [], 0
    params = plan.params
    if plan.search.shape != (None, 0):  # total and page in one statement (`_search_page`)
        rows = tenant.rows(_search_page(plan.status, plan.user, *plan.search.shape), params)
        return [doc for _, doc in rows if doc is not None], int(rows[0][0])
    page, count = plan.statements
    total = int(tenant.rows(count, params)[0][0])
    if params["offset"] >= total:
        return [], total  # past the end: stepping through every match would only find nothing
    if plan.by_blocks:  # start from the nearer end of the list
        page = _block_page(plan.status, from_end=2 * params["offset"] >= total)
    docs = [row[0] for row in tenant.rows(page, params)]
    return docs, total


def keyed_page(reader: Reader, token_hash: str, query: DeviceQuery) -> tuple[Caller, list[bytes], int] | None:
    """PostgreSQL: `authenticate` and `list_devices` in one statement, for a reader in autocommit
    (`Database.statement`): one round trip, against five for a snapshot's BEGIN, key, total, page
    and ROLLBACK, which under load cost the server more than the page itself. None without a live
    key. The same statements as `list_devices`, their `:company_id` taken from the key.

    Not for a search: read in the statement, the key's company is unknown when it is planned, so
    PostgreSQL plans for a company of average size and intersects the trigram matches with the
    whole company's index (7 ms at 100,000 devices, where the matches alone take 1 ms)."""
    if query.search is not None:
        raise ValueError("keyed_page does not search: list_devices does")
    plan = _ListPlan.of(query, reader.dialect)
    if plan is None:
        caller = caller_by_hash(reader, token_hash)
        return None if caller is None else (caller, [], 0)
    statement = _keyed_statement(plan.status, plan.user, plan.by_blocks)
    row = reader.record(statement, {**plan.params, "token_hash": token_hash})
    if row is None:
        return None
    return caller_of(row.id, row.company_id, row.person_id, row.scope), list(row.docs or ()), int(row.total)


def _of_the_key(statement: Select[Any]) -> Select[Any]:
    """The statement with its `:company_id` replaced by the company of the key `:token_hash`."""

    def swap(element: ExternallyTraversible, **_: Any) -> ExternallyTraversible | None:
        return KEY_COMPANY if isinstance(element, BindParameter) and element.key == "company_id" else None

    return cast_type(Select[Any], replacement_traverse(statement, {}, swap))


@functools.cache
def _keyed_statement(status: bool, user: bool, by_blocks: bool) -> Select[Any]:
    """The key's row, the total and, unless the offset is past it, the page as an array. The
    page's subqueries in the CASE run only when their branch is taken: for a block page, the one
    that starts from the nearer end."""
    page, count = _list_statements(status, user)
    key = AUTH.subquery("caller")
    # OFFSET 0 keeps PostgreSQL from pulling the subquery up, which would count twice (once for
    # the column, once for the CASE).
    total = select(_of_the_key(count).scalar_subquery().label("n")).offset(0).subquery("total")
    offset = bindparam("offset", type_=BigInteger)

    def docs(statement: Select[Any]) -> Any:
        return func.array(_of_the_key(statement).scalar_subquery(), type_=ARRAY(_DOC.type))

    if by_blocks:
        # `2 * offset >= n` without the product, which overflows a bigint at OFFSET_CAP (PostgreSQL
        # folds constants when it plans, whichever branch runs).
        nearer_end = offset >= total.c.n - offset
        pages = [(offset >= total.c.n, None), (nearer_end, docs(_block_page(status, from_end=True)))]
        items = case(*pages, else_=docs(_block_page(status, from_end=False)))
    else:
        items = case((offset < total.c.n, docs(page)), else_=None)
    return select(*key.c, total.c.n.label("total"), items.label("docs")).select_from(key).join(total, true())
