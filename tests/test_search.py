"""`search=` of the company devices list, in the domain: every shape of search (trigram words,
short words, both) with every filter (`client_status`, `user_id`, both) and offsets up to past the
end equals a reference computed in Python over the company's devices; and a search reads its
matches once, in one statement, for its total and its page."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from custody.db.engine import Database
from custody.db.models import Device, Person
from custody.domain.devices import DeviceQuery, DeviceSpec, Search, create_devices, delete_device, list_devices
from custody.domain.people import create_company, create_person
from custody.domain.tenancy import Caller, Tenant, TenantSnapshot
from tests.conftest import statements

NAMES = ("MacBook Pro 14", "MacBook Air 13", "ThinkPad X1 Carbon", "Pixel 8", "Dell Latitude 5440")
STATUSES = ("AVAILABLE", "IN_SERVICE", "SHIPPED")
SEARCHES = (
    "macbook",  # trigram words only
    "MACBOOK pro",
    "thinkpad carbon",
    "platform-ops",  # a team: the holder's words
    "m-op",  # a fragment of one team
    "lyon",  # a word of a team's name
    "ops pixel",  # a team word beside the anchor
    "op",  # a fragment of two teams and a name, without an anchor
    "lovelace",
    "srch",  # a fragment of every serial
    "x1",  # short words only
    "air 1",  # both
    "pixel 8 hopper",
    "nothing-like-this",
    "lovelace-ada",  # its runs of letters, in order, are in Ada's words; the word itself is not
    "mac_ook",  # `_` is literal, not LIKE's any character
    "n",  # in both of Grace's teams (and in device names): each device once
)


@dataclass(frozen=True, slots=True)
class Fleet:
    caller: Caller
    people: tuple[int, int]


def _company(db: Database, devices: int) -> Fleet:
    suffix = uuid.uuid4().hex[:8]
    with db.write() as session:
        company = create_company(session, f"Search {suffix}")
        caller = Caller(company_id=company.id, person_id=None, can_write=True)
        tenant = Tenant(session, caller)
        ada = create_person(
            tenant, first_name="Ada", last_name="Lovelace", email=f"ada.{suffix}@s.test", teams=["Platform-Ops"]
        )
        grace = create_person(
            tenant,
            first_name="Grace",
            last_name="Hopper",
            email=f"grace.{suffix}@s.test",
            teams=["Field-Ops Lyon", "Design"],
        )
        specs = [
            DeviceSpec(
                fields={
                    "name": NAMES[i % len(NAMES)],
                    "serial_number": f"SRCH{suffix}{i:03d}",
                    "client_status": STATUSES[i % len(STATUSES)],
                },
                holder_id=(ada.id, grace.id, None)[i % 3 if i % 2 else 2],
            )
            for i in range(devices)
        ]
        create_devices(tenant, specs)
        ids = sorted(session.scalars(select(Device.id).where(Device.company_id == company.id)))
        for device_id in ids[::7]:  # deleted devices are never listed
            delete_device(tenant, device_id)
        people = (ada.id, grace.id)
    return Fleet(caller, people)


@pytest.fixture
def fleets(db: Database) -> tuple[Fleet, Fleet]:
    """Two companies with the same names, teams and people: a search sees its own company's."""
    return _company(db, 70), _company(db, 20)


def reference(db: Database, company_id: int, query: DeviceQuery) -> tuple[list[bytes], int]:
    """The seed's rule from the raw columns: every word is a substring of the device's name or
    serial number or of its holder's name, email or teams (case-insensitively). Items as the list
    returns them: the stored document's UTF-8 bytes."""
    with db.read() as session:
        rows = session.execute(
            select(
                Device.doc,
                Device.name,
                Device.serial_number,
                Device.client_status,
                Device.holder_id,
                Person.first_name,
                Person.last_name,
                Person.email,
                Person.teams,
            )
            .outerjoin(Person, Person.id == Device.holder_id)
            .where(Device.company_id == company_id, Device.deleted_at.is_(None))
            .order_by(Device.id)
        ).all()
    words = (query.search or "").lower().split()
    found = []
    for doc, name, serial, status, holder, first, last, email, teams in rows:
        fields = [name or "", serial or ""]
        if holder is not None:
            fields += [f"{first} {last}", email, *teams]
        text = "\n".join(fields).lower()
        if all(w in text for w in words) and query.client_status in (None, status) and query.user_id in (None, holder):
            found.append(doc.encode())
    return found[query.offset : query.offset + query.limit], len(found)


def test_every_search_shape_and_filter_matches_the_reference(db: Database, fleets: tuple[Fleet, Fleet]) -> None:
    fleet = fleets[0]
    ada = fleet.people[0]
    filters: list[dict[str, Any]] = [{}, {"client_status": "IN_SERVICE"}, {"user_id": ada}]
    filters.append({"client_status": "SHIPPED", "user_id": ada})
    checked = 0
    for search in SEARCHES:
        for extra in filters:
            _, total = reference(db, fleet.caller.company_id, DeviceQuery(search=search, **extra))
            for offset, limit in ((0, 50), (0, 3), (2, 3), (max(total - 1, 0), 5), (total, 5), (total + 10, 5)):
                query = DeviceQuery(search=search, offset=offset, limit=limit, **extra)
                expected = reference(db, fleet.caller.company_id, query)
                with db.snapshot() as reader:  # the API's path
                    assert list_devices(TenantSnapshot(reader, fleet.caller), query) == expected, query
                with db.read() as session:
                    assert list_devices(Tenant(session, fleet.caller), query) == expected, query
                checked += 1
    assert checked == len(SEARCHES) * len(filters) * 6
    # The searches find something (not a comparison of empty pages), and the other company's
    # devices, with the same names and people's names, are never among them.
    with db.read() as session:
        docs, total = list_devices(Tenant(session, fleet.caller), DeviceQuery(search="macbook", limit=100))
    assert total > 20 and {json.loads(doc)["id"] for doc in docs} == {
        json.loads(doc)["id"] for doc in reference(db, fleet.caller.company_id, DeviceQuery(search="macbook"))[0]
    }
    other_total = reference(db, fleets[1].caller.company_id, DeviceQuery(search="macbook"))[1]
    assert 0 < other_total < total


@pytest.mark.parametrize("search", ["macbook", "air 1", "x1"])
def test_a_search_reads_its_matches_once(db: Database, fleets: tuple[Fleet, Fleet], search: str) -> None:
    """Counting and paging as two statements read the trigram index twice; one statement does
    both, from its matches read once."""
    with db.read() as session, statements(db) as seen:
        docs, total = list_devices(Tenant(session, fleets[0].caller), DeviceQuery(search=search, limit=2))
    assert total > 2 and len(docs) == 2
    reads = [sql for sql in seen if sql.upper().startswith(("SELECT", "WITH"))]  # not BEGIN
    assert len(reads) == 1, seen
    shape = Search.parse(search, db.dialect)
    # The anchor through the devices' and the people's trigram indexes (SQLite: MATCH), once each,
    # and the company's team names (LIKE over a few rows): once, in the third branch of a union, or
    # for one word alone on PostgreSQL three times (the team devices' count, their first ids, the
    # other matches' check against them); every other word by LIKE on the device's words, the
    # holder's and the teams' (on an anchor's candidates, if a team name has it), in each branch.
    anchor = {"fts": (2, 0), "like": (0, 2), None: (0, 0)}[shape.anchor]
    team_names = 0 if shape.anchor is None else 3 if (shape.anchor, shape.likes) == ("like", 0) else 1
    branches, per_word = (1, 3) if shape.anchor is None else (3, 4)
    expected = (anchor[0], anchor[1] + team_names + per_word * branches * shape.likes)
    assert (reads[0].count(" MATCH "), reads[0].count(" LIKE ")) == expected, reads
