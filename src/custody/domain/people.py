"""Companies and the people in them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from custody.db.models import Company, Person
from custody.domain.devices import new_hex_id
from custody.domain.documents import person_search_text, team_words
from custody.domain.enums import PERSON_ROLES
from custody.domain.errors import Conflict, InvalidInput
from custody.domain.fields import check_text
from custody.domain.tenancy import Tenant
from custody.domain.timefmt import utcnow

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MANAGER_NOT_FOUND = "MANAGER_NOT_FOUND"


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
    manager_id: int | None = None,
    start_date: datetime | None = None,
    termination_date: datetime | None = None,
) -> Person:
    """A person of the caller's company. The manager, if any, is a person of the same company;
    employment cannot end before it starts."""
    tenant.require_write()
    check_text({"first_name": first_name, "last_name": last_name, "email": email, "teams": list(teams)})
    if not first_name.strip() or not last_name.strip():
        raise InvalidInput("INVALID_NAME", "first and last name must not be empty")
    if not _EMAIL.fullmatch(email.strip()):
        raise InvalidInput("INVALID_EMAIL", f"{email!r} is not an email address")
    if role not in PERSON_ROLES:
        raise InvalidInput("INVALID_ROLE", f"role must be one of {', '.join(PERSON_ROLES)}")
    if start_date is not None and termination_date is not None and termination_date < start_date:
        raise InvalidInput("INVALID_TERMINATION_DATE", "the termination date must not be before the start date")
    if manager_id is not None:
        tenant.get(Person, manager_id, MANAGER_NOT_FOUND)
    now = utcnow()
    person = Person(
        company_id=tenant.company_id,
        hex_id=new_hex_id(),
        first_name=first_name.strip(),
        last_name=last_name.strip(),
        email=email.strip().lower(),
        teams=list(dict.fromkeys(t.strip() for t in teams if t.strip())),
        role=role,
        manager_id=manager_id,
        start_date=start_date,
        termination_date=termination_date,
        created_at=now,
        updated_at=now,
    )
    person.search_text = person_search_text(person)
    person.team_words = team_words(person.teams)
    tenant.add(person)
    try:
        with tenant.session.begin_nested():
            tenant.session.flush()
    except IntegrityError as error:
        raise Conflict("USER_EMAIL_CONFLICT", f"a user with email {email!r} already exists") from error
    return person
