"""Device tokens: a device's own credential, good for posting that one device's reports.

Made like the API keys (`domain.keys`): 256 random bits behind a recognisable public prefix, shown
once, only the SHA-256 stored. The prefix differs (`cdt_` against `cst_`), so neither kind of token
is ever mistaken for the other: a device token opens no API-key route and the reverse. A device
may hold several live tokens (rotation without downtime); each is revoked on its own."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session

from custody.db.engine import Reader
from custody.db.models import Device, DeviceToken
from custody.domain.errors import NotFound
from custody.domain.keys import bearer_token, hash_token, new_token
from custody.domain.tenancy import MAX_ID, Tenant
from custody.domain.timefmt import utcnow

TOKEN_PREFIX = "cdt_"
DEVICE_NOT_FOUND = "DEVICE_NOT_FOUND"


@dataclass(frozen=True, slots=True)
class DeviceCaller:
    """A device authenticated by one of its tokens."""

    company_id: int
    device_id: int
    token_id: int | None = None


def create_device_token(tenant: Tenant, device_id: int) -> tuple[DeviceToken, str]:
    """A new token for a listed device of the caller's company; the token is returned only here."""
    tenant.require_write()
    if not 0 < device_id <= MAX_ID:
        raise NotFound(DEVICE_NOT_FOUND, f"no device {device_id}")
    found = tenant.execute(
        tenant.columns(Device, Device.id).where(Device.id == device_id, Device.deleted_at.is_(None))
    ).first()
    if found is None:
        raise NotFound(DEVICE_NOT_FOUND, f"no device {device_id} in company {tenant.company_id}")
    public, token = new_token(TOKEN_PREFIX)
    row = DeviceToken(
        company_id=tenant.company_id,
        device_id=device_id,
        prefix=public,
        token_hash=hash_token(token),
        created_at=utcnow(),
    )
    tenant.add(row)
    tenant.session.flush()
    return row, token


def revoke_device_token(session: Session, token_or_prefix: str) -> DeviceToken:
    """Revoke by the full token or by its public prefix (`cdt_1a2b3c4d`). Revoking twice is fine."""
    stmt = select(DeviceToken).where(
        (DeviceToken.token_hash == hash_token(token_or_prefix)) | (DeviceToken.prefix == token_or_prefix)
    )
    row = session.scalars(stmt).one_or_none()
    if row is None:
        raise NotFound("TOKEN_NOT_FOUND", "no such device token")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    return row


_token = DeviceToken.__table__.c
_device = Device.__table__.c
# One statement on the unique token_hash index plus the device's primary key: a live token of a
# listed device. Deleting a device therefore shuts its tokens out without touching them.
_AUTH: Select[tuple[int, int, int]] = (
    select(_token.id, _token.company_id, _token.device_id)
    .join(Device.__table__, (_device.id == _token.device_id) & (_device.company_id == _token.company_id))
    .where(_token.token_hash == bindparam("token_hash"), _token.revoked_at.is_(None), _device.deleted_at.is_(None))
)


def authenticate_device(source: Reader | Session, authorization: str | None) -> DeviceCaller | None:
    """The device behind an `Authorization` header, or None (→ 401): unknown, revoked, or its
    device deleted. `source` is a raw snapshot (the request path) or a session (tests, CLI)."""
    token = bearer_token(authorization, TOKEN_PREFIX)
    if token is None:
        return None
    params = {"token_hash": hash_token(token)}
    if isinstance(source, Reader):
        rows = source.rows(_AUTH, params)
    else:
        rows = [tuple(row) for row in source.execute(_AUTH, params)]
    if not rows:
        return None
    token_id, company_id, device_id = rows[0]
    return DeviceCaller(company_id=company_id, device_id=device_id, token_id=token_id)
