"""Companies and the people in them."""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from custody.db.models import Company, Person
from custody.domain.devices import new_hex_id
from custody.domain.enums import PERSON_ROLES
from custody.domain.errors import Conflict, InvalidInput
from custody.domain.tenancy import Tenant
from custody.domain.timefmt import utcnow

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def create_company(session: Session, name: str) -> Company:
    """Companies are the tenants themselves, so this is the one write not made through a Tenant."""
    if not name.strip():
        raise InvalidInput("INVALID_NAME", "company name must not be empty")
    company = Company(name=name.strip(), created_at=utcnow())
    session.add(company)
    session.flush()
    return company


def create_person(
    tenant: Tenant,
    *,
    first_name: str,
    last_name: str,
    email: str,
    teams: Sequence[str] = (),
    role: str = "employee",
) -> Person:
    tenant.require_write()
    if not first_name.strip() or not last_name.strip():
        raise InvalidInput("INVALID_NAME", "first and last name must not be empty")
    if not _EMAIL.match(email):
        raise InvalidInput("INVALID_EMAIL", f"{email!r} is not an email address")
    if role not in PERSON_ROLES:
        raise InvalidInput("INVALID_ROLE", f"role must be one of {', '.join(PERSON_ROLES)}")
    now = utcnow()
    person = Person(
        company_id=tenant.company_id,
        hex_id=new_hex_id(),
        first_name=first_name.strip(),
        last_name=last_name.strip(),
        email=email.strip().lower(),
        teams=list(dict.fromkeys(t.strip() for t in teams if t.strip())),
        role=role,
        created_at=now,
        updated_at=now,
    )
    tenant.add(person)
    try:
        with tenant.session.begin_nested():
            tenant.session.flush()
    except IntegrityError as error:
        raise Conflict("USER_EMAIL_CONFLICT", f"a user with email {email!r} already exists") from error
    return person
