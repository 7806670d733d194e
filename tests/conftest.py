"""Fixtures shared by every test: the two databases, a live `custody serve`, and tenants.

Every test that asks for `backend` (directly or through another fixture) runs once on SQLite and
once on PostgreSQL. PostgreSQL is taken from `CUSTODY_TEST_POSTGRES_URL` (default: the CI
machine's `postgresql://postgres@127.0.0.1:5432/test`); each run creates and drops its own database
there. Without a reachable server those tests skip, unless `CI=true`, where they fail instead.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import event

from custody.db.engine import Database
from custody.domain.keys import create_key
from custody.domain.people import create_company, create_person
from custody.domain.tenancy import Caller, Tenant

PG_URL = os.environ.get("CUSTODY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
CI = os.environ.get("CI", "").lower() == "true"
CUSTODY = [sys.executable, "-m", "custody.cli"]


def _postgres_problem() -> str | None:
    try:
        with psycopg.connect(PG_URL, connect_timeout=3):
            return None
    except psycopg.Error as error:
        return f"PostgreSQL not reachable at {PG_URL}: {str(error).strip()}"


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres":
        problem = _postgres_problem()
        if problem:
            if CI:
                pytest.fail(f"CI=true requires PostgreSQL: {problem}")
            pytest.skip(problem)
    return str(request.param)


@contextmanager
def empty_database(backend: str, directory: Path) -> Iterator[str]:
    """A new, empty database on this backend (a SQLite file, or a PostgreSQL database dropped after)."""
    if backend == "sqlite":
        yield f"sqlite:///{directory / 'custody.sqlite3'}"
        return
    name = f"custody_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with empty_database(backend, tmp_path_factory.mktemp("sqlite")) as url:
        yield url


@pytest.fixture(scope="session")
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    database.upgrade()
    yield database
    database.dispose()


def run_cli(database_url: str, *args: str) -> dict[str, object]:
    """Run `custody ... --json` as a user would and return its JSON answer."""
    env = {**os.environ, "CUSTODY_DATABASE_URL": database_url}
    done = subprocess.run([*CUSTODY, *args, "--json"], env=env, capture_output=True, text=True, check=True)
    result: dict[str, object] = json.loads(done.stdout)
    return result


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_server(
    database_url: str, log_dir: Path, workers: int = 1, settings: dict[str, str] | None = None
) -> Iterator[str]:
    """A real `custody serve` on a free loopback port (`settings`: extra CUSTODY_* variables);
    yields its base URL."""
    port = _free_port()
    log = log_dir / "serve.log"
    env = {**os.environ, "CUSTODY_DATABASE_URL": database_url, **(settings or {})}
    command = [*CUSTODY, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    with log.open("w") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{url}/platform/v1/openapi.json", timeout=1)
            break
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"custody serve did not start:\n{log.read_text()}") from None
            time.sleep(0.1)
    try:
        yield url
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture(scope="session")
def server(database_url: str, db: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `custody serve` (one worker) on a free loopback port; yields its base URL."""
    with running_server(database_url, tmp_path_factory.mktemp("server")) as url:
        yield url


@dataclass(frozen=True)
class Company:
    """A tenant as a client sees it: its id, people, and keys (write, read-only, person-bound)."""

    id: int
    write_token: str
    read_token: str
    people: tuple[dict[str, object], ...]
    person_token: str

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.write_token}"}


def make_company(database_url: str, name: str) -> Company:
    """Two people and three keys, made through the CLI exactly as the README shows."""
    company = run_cli(database_url, "company", "create", name)
    cid = str(company["id"])
    people = tuple(
        run_cli(
            database_url,
            "person",
            "create",
            "--company",
            cid,
            "--first-name",
            first,
            "--last-name",
            last,
            "--email",
            f"{first.lower()}.{uuid.uuid4().hex[:6]}@{name.lower()}.test",
            "--team",
            team,
        )
        for first, last, team in (("Ada", "Lovelace", "Engineering"), ("Grace", "Hopper", "Operations"))
    )
    write = run_cli(database_url, "key", "create", "--company", cid)
    read = run_cli(database_url, "key", "create", "--company", cid, "--read-only")
    personal = run_cli(database_url, "key", "create", "--company", cid, "--person", str(people[0]["id"]))
    return Company(
        id=int(cid),
        write_token=str(write["token"]),
        read_token=str(read["token"]),
        people=people,
        person_token=str(personal["token"]),
    )


@pytest.fixture(scope="session")
def cli_companies(database_url: str, db: Database) -> tuple[Company, Company]:
    """Two companies made through the CLI, shared by the whole session on this backend."""
    return make_company(database_url, "Acme"), make_company(database_url, "Globex")


def new_company(db: Database, label: str) -> Company:
    """A new, empty company made in-process (fast): two people and three keys, like `make_company`."""
    suffix = uuid.uuid4().hex[:8]
    with db.write() as session:
        company = create_company(session, f"{label} {suffix}")
        tenant = Tenant(session, Caller(company_id=company.id, person_id=None, can_write=True))
        people = tuple(
            create_person(
                tenant,
                first_name=first,
                last_name=last,
                email=f"{first.lower()}.{suffix}@{label.lower()}.test",
                teams=[team],
            )
            for first, last, team in (("Ada", "Lovelace", "Engineering"), ("Grace", "Hopper", "Operations"))
        )
        _, write = create_key(tenant, person_id=None, read_only=False)
        _, read = create_key(tenant, person_id=None, read_only=True)
        _, personal = create_key(tenant, person_id=people[0].id, read_only=False)
        people_json: tuple[dict[str, object], ...] = tuple(
            {
                "id": p.id,
                "hex_id": p.hex_id,
                "first_name": p.first_name,
                "last_name": p.last_name,
                "email": p.email,
                "teams": p.teams,
            }
            for p in people
        )
        return Company(id=company.id, write_token=write, read_token=read, people=people_json, person_token=personal)


@pytest.fixture
def fresh_company(db: Database) -> Company:
    """A new, empty company per test, so totals and pages are exact."""
    return new_company(db, "Fresh")


@pytest.fixture
def api(server: str) -> Iterator[httpx.Client]:
    """An HTTP client on the company devices API base (`/platform/v1`)."""
    with httpx.Client(base_url=f"{server}/platform/v1", timeout=30) as client:
        yield client


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    """The SQL `db`'s engine runs inside the block, each with its white space folded."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        seen.append(" ".join(sql.split()))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
