"""Hypothesis drives random sequences of take / reserve / release / assign through the other two APIs
over real HTTP, and after every step checks the one ownership table: at most one open span per
device, no overlapping spans, history only grows (no row vanishes, no start or ended end moves),
and each answer is the one the spans before the step call for."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import text

from custody.db.engine import Database
from tests.conftest import new_company
from tests.e2e.ownership import Person, add_person, hex_id_of, new_device

PEOPLE = 3
DEVICES = 2
FAR = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Span:
    id: int
    device: int
    person: int
    start: datetime
    end: datetime | None

    def overlaps(self, start: datetime, end: datetime | None) -> bool:
        if self.end is not None and self.end <= self.start:
            return False  # an empty (cancelled) span overlaps nothing
        return self.start < (end or FAR) and start < (self.end or FAR)

    def covers(self, now: datetime) -> bool:
        return self.start <= now and (self.end is None or self.end > now)


def _time(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def test_random_sequences_keep_the_ownership_table_sound(server: str, db: Database) -> None:
    class Ownerships(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.company = new_company(db, "Stateful")
            self.v1 = httpx.Client(base_url=f"{server}/v1", timeout=30)
            self.api = httpx.Client(base_url=f"{server}/platform/v1", timeout=30)
            self.people: list[Person] = [add_person(db, self.company, f"P{i}") for i in range(PEOPLE)]
            self.devices = [new_device(self.api, self.company) for _ in range(DEVICES)]
            self.hex_ids = [hex_id_of(server, self.company, d) for d in self.devices]
            self.seen: dict[int, Span] = {}

        def teardown(self) -> None:
            self.v1.close()
            self.api.close()

        def spans(self, device: int | None = None) -> list[Span]:
            with db.read() as session:
                rows = session.execute(
                    text(
                        "SELECT id, device_id, person_id, start_time, end_time FROM ownership "
                        "WHERE company_id = :c ORDER BY device_id, start_time, id"
                    ),
                    {"c": self.company.id},
                ).all()
            found = [Span(r[0], r[1], r[2], _aware(r[3]), _aware(r[4])) for r in rows]
            return [s for s in found if device is None or s.device == device]

        def _take(self, person: Person, device: dict[str, Any], **extra: Any) -> httpx.Response:
            body = {"serial_number": device["serial_number"], "device_name": device["name"], **extra}
            return self.v1.post("/device-ownerships/", json=body, headers=person.headers())

        @rule(p=st.integers(0, PEOPLE - 1), d=st.integers(0, DEVICES - 1))
        def take_now(self, p: int, d: int) -> None:
            device = self.devices[d]
            held = any(s.covers(datetime.now(UTC)) for s in self.spans(device["id"]))
            response = self._take(self.people[p], device)
            assert response.status_code == (409 if held else 201), response.text

        @rule(
            p=st.integers(0, PEOPLE - 1),
            d=st.integers(0, DEVICES - 1),
            days=st.integers(1, 6),
            length=st.none() | st.integers(1, 3),
        )
        def reserve(self, p: int, d: int, days: int, length: int | None) -> None:
            device = self.devices[d]
            # Whole days ahead: nothing booked here starts or ends while the test runs.
            start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=days)
            end = start + timedelta(days=length) if length else None
            spans = self.spans(device["id"])
            effective_end = end or min((s.start for s in spans if s.start > start), default=None)
            clash = any(s.overlaps(start, effective_end) for s in spans)
            extra = {"start_time": start.isoformat().replace("+00:00", "Z")}
            if end is not None:
                extra["end_time"] = end.isoformat().replace("+00:00", "Z")
            response = self._take(self.people[p], device, **extra)
            assert response.status_code == (409 if clash else 201), response.text

        @rule(pick=st.integers(0, 10**6), as_company=st.booleans())
        def release(self, pick: int, as_company: bool) -> None:
            spans = self.spans()
            if not spans:
                return
            span = spans[pick % len(spans)]
            owner = next(p for p in self.people if p.id == span.person)
            headers = self.company.headers() if as_company else owner.headers()
            before = datetime.now(UTC)
            ended = span.end is not None and span.end <= before
            response = self.v1.post(f"/device-ownerships/{span.id}/release/", headers=headers)
            assert response.status_code == (409 if ended else 200), response.text
            if not ended:
                after = response.json()
                assert after["end_time"] != "2999-12-31T23:59:59Z"
                if span.start > before:  # a booking not yet started is cancelled: empty, kept
                    assert after["end_time"] == after["start_time"]
                else:  # a span in force ends now
                    assert before <= _time(after["end_time"]) <= datetime.now(UTC)

        @rule(p=st.none() | st.integers(0, PEOPLE - 1), d=st.integers(0, DEVICES - 1))
        def assign_through_company_devices_api(self, p: int | None, d: int) -> None:
            holder = None if p is None else self.people[p].id
            response = self.api.patch(
                f"/devices/{self.devices[d]['id']}", json={"user_id": holder}, headers=self.company.headers()
            )
            assert response.status_code == 200, response.text
            assert response.json()["data"]["user_id"] == holder

        @rule(p=st.none() | st.integers(0, PEOPLE - 1), d=st.integers(0, DEVICES - 1))
        def assign_through_device_management_api(self, p: int | None, d: int) -> None:
            owner = None if p is None else self.people[p].hex_id
            response = httpx.patch(
                f"{server}/devices/{self.hex_ids[d]}",
                json={"ownerId": owner},
                headers=self.company.headers(),
                timeout=30,
            )
            assert response.status_code == 200, response.text
            assert response.json()["ownerId"] == owner

        @invariant()
        def table_is_sound(self) -> None:
            spans = self.spans()
            now = datetime.now(UTC)
            for d in self.devices:
                mine = [s for s in spans if s.device == d["id"]]
                assert sum(s.end is None for s in mine) <= 1, mine
                live = [s for s in mine if s.end is None or s.end > s.start]
                for a, b in itertools.pairwise(live):
                    assert a.end is not None and a.end <= b.start, (a, b)
                current = [s for s in mine if s.covers(now)]
                assert len(current) <= 1
            by_id = {s.id: s for s in spans}
            for old in self.seen.values():
                new = by_id.get(old.id)
                assert new is not None, f"span {old.id} vanished"
                assert (new.device, new.person, new.start) == (old.device, old.person, old.start)
                if old.end is not None and old.end <= now:
                    assert new.end == old.end, f"ended span {old.id} changed its end"
            self.seen = by_id

    run_state_machine_as_test(
        Ownerships,
        settings=settings(
            max_examples=20,
            stateful_step_count=15,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )


def _aware(value: Any) -> Any:
    """Rows read with plain SQL: SQLite returns text, PostgreSQL aware datetimes."""
    if value is None or isinstance(value, datetime):
        return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)
