"""The read path's ready-made data: each device's company devices API item and its search words.

Both are rebuilt by `refresh_devices` inside every write that touches what they show, so a list
page is served by joining stored documents, and search runs on one indexed column."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import msgspec
from sqlalchemy import bindparam, update

from custody.db.models import Device, MdmEnrollment, Parcel, PurchaseOrder
from custody.domain.enums import CHARACTERISTIC_KEYS
from custody.domain.tenancy import Tenant
from custody.domain.timefmt import iso_z

_encode = msgspec.json.Encoder().encode


def mdm_item(device: Device, mdm: MdmEnrollment | None) -> dict[str, Any] | None:
    if mdm is None:
        return None
    # One lock / wipe state machine drives both views: WIPING shows as DEVICE_WIPE_PENDING here.
    status = "DEVICE_WIPE_PENDING" if device.lock_wipe_status == "WIPING" else mdm.status
    return {
        "id": mdm.id,
        "status": status,
        "local_name": mdm.local_name,
        "is_locked": device.lock_wipe_status == "LOCKED",
        "lock_date": iso_z(mdm.lock_date),
        "firewall_enabled": mdm.firewall_enabled,
        "os_updates_enabled": mdm.os_updates_enabled,
        "is_encrypted": mdm.is_encrypted,
        "screenlock_enabled": mdm.screenlock_enabled,
        "is_compromised": mdm.is_compromised,
        "os_updates_available": mdm.os_updates_available,
        "disk_encryption_profile_installed": mdm.disk_encryption_profile_installed,
        "enrollment_date": iso_z(mdm.enrollment_date),
        "unenrollment_date": iso_z(mdm.unenrollment_date),
        "download_date": iso_z(mdm.download_date),
        "last_seen_date": iso_z(mdm.last_seen_date),
        "last_sync_date": iso_z(mdm.last_sync_date),
    }


def order_item(order: PurchaseOrder) -> dict[str, Any]:
    return {
        "order_id": order.id,
        "client_status": order.client_status,
        "device_names": list(order.device_names),
        "rent": order.rent,
        "rent_currency": order.rent_currency,
        "order_number": order.order_number,
        "contract_number": order.contract_number,
        "order_date": iso_z(order.order_date),
        "num_devices": order.num_devices,
    }


def parcel_item(parcel: Parcel) -> dict[str, Any]:
    return {
        "id": parcel.id,
        "type": parcel.type,
        "status": parcel.status,
        "tracking_number": parcel.tracking_number,
        "tracking_url": parcel.tracking_url,
        "carrier": parcel.carrier,
        "pickup_address_id": parcel.pickup_address_id,
        "reception_address_id": parcel.reception_address_id,
        "pickup_date": iso_z(parcel.pickup_date),
        "reception_date": iso_z(parcel.reception_date),
        "shipping_date": iso_z(parcel.shipping_date),
        "created_at": iso_z(parcel.created_at),
    }


def company_item(
    device: Device, mdm: MdmEnrollment | None, order: PurchaseOrder, parcels: Sequence[Parcel]
) -> dict[str, Any]:
    """One item of seed 002's device list: every documented key, `null` where unknown."""
    stored = device.characteristics or {}
    newest_first = sorted(parcels, key=lambda p: (p.created_at, p.id), reverse=True)
    return {
        "id": device.id,
        "name": device.name,
        "serial_number": device.serial_number,
        "rent": device.rent,
        "tracking_number": device.tracking_number,
        "tracking_url": device.tracking_url,
        "client_status": device.client_status,
        "type": device.type,
        "category": device.category,
        "source": device.source,
        "comment": device.comment,
        "characteristics": {key: stored.get(key) for key in CHARACTERISTIC_KEYS},
        "mdm": mdm_item(device, mdm),
        "order": order_item(order),
        "parcels": [parcel_item(p) for p in newest_first],
        # Not in the seed's list schema: the current holder, the same person `user_id` filters on.
        "user_id": device.holder_id,
    }


class Named(Protocol):
    @property
    def name(self) -> str | None: ...
    @property
    def serial_number(self) -> str | None: ...


class Holder(Protocol):
    @property
    def first_name(self) -> str: ...
    @property
    def last_name(self) -> str: ...
    @property
    def email(self) -> str: ...


def search_text(device: Named) -> str:
    """A device's own words for `search=`: its name and serial number. Its holder's words are the
    person's (`person_search_text`, `team_words`), found through the holder: a change of holder
    rewrites no trigram index."""
    return "\n".join(w for w in (device.name, device.serial_number) if w).lower()


def person_search_text(person: Holder) -> str:
    """A person's name and email for `search=` of the devices they hold (their teams are
    `team_words`)."""
    return "\n".join((f"{person.first_name} {person.last_name}", person.email)).lower()


def team_words(teams: Sequence[str]) -> list[str]:
    """A person's teams for `search=`, each once: the database copies them to the `device_team`
    rows of the devices the person holds (a team holds thousands of devices, which the holder index
    would find one person at a time)."""
    return list(dict.fromkeys(team.lower() for team in teams))


_HOLDER_KEY = ',"user_id":'


def with_holder(doc: str, holder_id: int | None) -> str:
    """A stored item with another holder, the rest as rendered: `user_id` is the item's last key
    (see `company_item`), so a holder change need not load and render the whole device."""
    return f"{doc[: doc.rindex(_HOLDER_KEY)]}{_HOLDER_KEY}{'null' if holder_id is None else holder_id}}}"


class Columns:
    """A row's column values read as attributes, which is all `company_item` and `search_text`
    read of ORM rows: building an instrumented ORM instance per row costs more than rendering it."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__ = values


_DEVICE = Device.__table__
# What rendering reads of a device, and its stored words to compare with (not the stored item).
_RENDERED = [c for c in _DEVICE.c if c.name not in ("doc", "tags", "created_at", "updated_at", "deleted_at")]
_MDM, _ORDER, _PARCEL = (m.__table__ for m in (MdmEnrollment, PurchaseOrder, Parcel))


def refresh_devices(tenant: Tenant, device_ids: Iterable[int]) -> dict[int, str]:
    """Re-render the stored item and search words of these devices from their current rows;
    returns the new items by device id. Reads through Core (the session's pending changes are
    flushed first), so a device re-rendered after a report costs four plain selects."""
    ids = sorted(set(device_ids))
    rendered: dict[int, str] = {}
    session = tenant.session
    session.flush()

    def rows(model: Any, columns: Any, key: Any, keys: Iterable[Any]) -> list[Any]:  # Columns, read as the model
        stmt = tenant.columns(model, *columns).where(key.in_(sorted(keys)))
        return [Columns(dict(row)) for row in tenant.execute(stmt).mappings()]

    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        devices = rows(Device, _RENDERED, _DEVICE.c.id, chunk)
        mdms = {m.device_id: m for m in rows(MdmEnrollment, _MDM.c, _MDM.c.device_id, chunk)}
        orders = {o.id: o for o in rows(PurchaseOrder, _ORDER.c, _ORDER.c.id, {d.order_id for d in devices})}
        parcels: dict[int, list[Any]] = defaultdict(list)
        for p in rows(Parcel, _PARCEL.c, _PARCEL.c.device_id, chunk):
            parcels[p.device_id].append(p)
        reindexed: list[dict[str, Any]] = []
        kept: list[dict[str, Any]] = []
        for d in devices:
            doc = _encode(company_item(d, mdms.get(d.id), orders[d.order_id], parcels[d.id])).decode()
            words = search_text(d)
            rendered[d.id] = doc
            # Words that did not change are not written: SQLite's FTS5 trigger re-indexes them on
            # any write of the column, the same words too (most changes leave name and serial).
            if words == d.search_text:
                kept.append({"b_id": d.id, "doc": doc})
            else:
                reindexed.append({"b_id": d.id, "doc": doc, "search_text": words})
        for changed, stmt in ((reindexed, _SET_DOC_AND_WORDS), (kept, _SET_DOC)):
            if changed:
                session.connection().execute(stmt, changed)
    for device_id in ids:  # the session's own copies, if it holds any, read the new values again
        loaded = session.identity_map.get(session.identity_key(Device, device_id))
        if loaded is not None:
            session.expire(loaded, ["doc", "search_text"])
    return rendered


_SET_DOC = (
    update(Device.__table__)  # type: ignore[arg-type]
    .where(Device.__table__.c.id == bindparam("b_id"))
    .values(doc=bindparam("doc"))
)
_SET_DOC_AND_WORDS = _SET_DOC.values(search_text=bindparam("search_text"))
