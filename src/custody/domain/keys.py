"""API keys: a random token with a recognisable prefix, shown once; only its SHA-256 is stored.

The token carries 256 bits of randomness, so a fast hash is safe here and keeps auth one indexed
lookup per request."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from custody.db.engine import Reader
from custody.db.models import ApiKey, Person
from custody.domain.errors import InvalidInput, NotFound
from custody.domain.tenancy import Caller, Tenant
from custody.domain.timefmt import utcnow

TOKEN_PREFIX = "cst_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(kind: str) -> tuple[str, str]:
    """A fresh token `<kind><8 hex>_<43 urlsafe>` and its public prefix `<kind><8 hex>`, by which
    it can be named (revoked, recognised in logs) without being shown."""
    public = f"{kind}{secrets.token_hex(4)}"
    return public, f"{public}_{secrets.token_urlsafe(32)}"


def bearer_token(authorization: str | None, kind: str) -> str | None:
    """The token of an `Authorization: Bearer <kind>...` header, or None for anything else."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token.startswith(kind):
        return None
    return token


def create_key(tenant: Tenant, *, person_id: int | None, read_only: bool) -> tuple[ApiKey, str]:
    if person_id is not None:
        person = tenant.scalars(tenant.select(Person).where(Person.id == person_id)).one_or_none()
        if person is None:
            raise InvalidInput("INVALID_USER", f"no person {person_id} in company {tenant.company_id}")
    public, token = new_token(TOKEN_PREFIX)
    key = ApiKey(
        company_id=tenant.company_id,
        person_id=person_id,
        prefix=public,
        token_hash=hash_token(token),
        scope="read" if read_only else "write",
        created_at=utcnow(),
    )
    tenant.add(key)
    tenant.session.flush()
    return key, token


def revoke_key(session: Session, token_or_prefix: str) -> ApiKey:
    """Revoke by the full token or by its public prefix (`cst_1a2b3c4d`)."""
    stmt = select(ApiKey).where((ApiKey.token_hash == hash_token(token_or_prefix)) | (ApiKey.prefix == token_or_prefix))
    key = session.scalars(stmt).one_or_none()
    if key is None:
        raise NotFound("KEY_NOT_FOUND", "no such key")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    return key


_key = ApiKey.__table__.c
_LIVE = (_key.token_hash == bindparam("token_hash"), _key.revoked_at.is_(None))
# The live key of `:token_hash`: what `authenticate` reads, and what a statement that also reads
# the caller's data (`devices.keyed_page`) selects, its columns in `caller_of`'s order.
AUTH = select(_key.id, _key.company_id, _key.person_id, _key.scope).where(*_LIVE)
# The company of that key, for such a statement's `:company_id`: NULL, and so nothing, without one.
KEY_COMPANY = select(_key.company_id).where(*_LIVE).scalar_subquery()


def caller_of(key_id: int, company_id: int, person_id: int | None, scope: str) -> Caller:
    return Caller(company_id=company_id, person_id=person_id, can_write=scope == "write", key_id=key_id)


def authenticate(reader: Reader, authorization: str | None) -> Caller | None:
    """The caller behind an `Authorization: Bearer <token>` header, or None (→ 401).
    Runs on every request: one prebuilt statement on a raw snapshot, no ORM."""
    token_hash = key_hash(authorization)
    return None if token_hash is None else caller_by_hash(reader, token_hash)


def key_hash(authorization: str | None) -> str | None:
    """The stored hash of the API key an `Authorization: Bearer <token>` header carries, if any."""
    token = bearer_token(authorization, TOKEN_PREFIX)
    return None if token is None else hash_token(token)


def caller_by_hash(reader: Reader, token_hash: str) -> Caller | None:
    rows = reader.rows(AUTH, {"token_hash": token_hash})
    return caller_of(*rows[0]) if rows else None
