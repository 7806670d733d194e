"""The Alembic migrations and the models describe the same schema, on both databases."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Connection, Subquery, insert, inspect, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.visitors import iterate

from custody.db.engine import Database
from custody.db.models import Base, Ownership
from custody.domain.devices import DeviceQuery, DeviceSpec, create_devices, list_devices
from custody.domain.devices import _block_page as block_page
from custody.domain.devices import _list_statements as device_list_statements
from custody.domain.management import DeviceFilter
from custody.domain.management import _list_statements as management_statements
from custody.domain.management import list_devices as list_managed
from custody.domain.ownership import _DEVICE_STATE
from custody.domain.people import create_company, create_person
from custody.domain.tenancy import Caller, Tenant, TenantSnapshot
from custody.migrations import alembic_config, upgrade
from tests.conftest import empty_database
from tests.test_deep_pages import kept_blocks

# Made by the migration's own dialect-specific SQL and unknown to the models on purpose: the search
# indexes (SQLite FTS5 table and its shadow tables, PostgreSQL pg_trgm GIN index).
OUTSIDE_MODELS = {
    "table": ("device_search", "person_search"),
    "index": ("ix_device_search_trgm", "ix_person_search_trgm"),
}


def _include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    return not (name is not None and name.startswith(OUTSIDE_MODELS.get(type_, ())))


def test_migrations_match_the_models(db: Database) -> None:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "include_object": _include})
        assert compare_metadata(context, Base.metadata) == []


@contextmanager
def database_at(backend: str, tmp_path: Path, revision: str) -> Iterator[Database]:
    """A new database on this backend, migrated up to `revision`."""
    with empty_database(backend, tmp_path) as url:
        database = Database(url)
        try:
            upgrade(database.engine, revision)
            yield database
        finally:
            database.dispose()


def test_0002_carries_teams_over_and_back(backend: str, tmp_path: Path) -> None:
    """Upgrading a 0001 database with people keeps their team (as a one-item `teams`), and the
    downgrade restores it; a manager from another company is refused by the upgraded schema."""
    with database_at(backend, tmp_path, "0001") as database:
        now = "2024-01-01 00:00:00"
        with database.engine.begin() as conn:
            conn.execute(
                text("INSERT INTO company (id, name, created_at) VALUES (1, 'A', :t), (2, 'B', :t)"), {"t": now}
            )
            conn.execute(
                text(
                    "INSERT INTO person (id, company_id, hex_id, first_name, last_name, email, team, role, "
                    "created_at, updated_at) VALUES "
                    "(1, 1, 'aaaaaaaaaaaaaaaaaaaaaaaa', 'Ada', 'L', 'ada@a.test', 'Engineering', 'employee', "
                    ":t, :t), "
                    "(2, 1, 'bbbbbbbbbbbbbbbbbbbbbbbb', 'Bob', 'L', 'bob@a.test', NULL, 'employee', :t, :t), "
                    "(3, 2, 'cccccccccccccccccccccccc', 'Cy', 'L', 'cy@b.test', 'Ops', 'employee', :t, :t)"
                ),
                {"t": now},
            )
        upgrade(database.engine)
        with database.engine.connect() as conn:
            teams: dict[int, Any] = dict(conn.execute(text("SELECT id, teams FROM person ORDER BY id")).all())
        assert {k: json.loads(v) if isinstance(v, str) else v for k, v in teams.items()} == {
            1: ["Engineering"],
            2: [],
            3: ["Ops"],
        }
        with pytest.raises(IntegrityError), database.engine.begin() as conn:
            conn.execute(text("UPDATE person SET manager_id = 3 WHERE id = 1"))
        with database.engine.begin() as conn:
            conn.execute(text("UPDATE person SET manager_id = 2 WHERE id = 1"))
        downgrade(database, "0001")
        with database.engine.connect() as conn:
            assert dict(conn.execute(text("SELECT id, team FROM person ORDER BY id")).all()) == {
                1: "Engineering",
                2: None,
                3: "Ops",
            }


def downgrade(database: Database, revision: str) -> None:
    with database.engine.connect() as connection:
        command.downgrade(alembic_config_for(database, connection), revision)
        connection.commit()


def alembic_config_for(database: Database, connection: Connection) -> Config:
    """Alembic's config on this connection (SQLite: foreign keys off, as `upgrade` does)."""
    config = alembic_config(database.engine)
    if database.dialect == "sqlite":
        raw = connection.connection.driver_connection
        assert raw is not None
        raw.execute("PRAGMA foreign_keys=OFF")
    config.attributes["connection"] = connection
    return config


def plan_of(conn: Connection, statement: Any, values: dict[str, Any]) -> str:
    """How the database plans a Core statement for `values`, on one line (SQLite's `EXPLAIN QUERY
    PLAN`, PostgreSQL's `EXPLAIN`)."""
    compiled = statement.compile(dialect=conn.dialect)
    given = {**compiled.params, **values}
    if conn.dialect.name == "sqlite":
        args = tuple(given[n] for n in compiled.positiontup or ())
        return " ".join(str(row[-1]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled.string}", args))
    return " ".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {compiled.string}", given))


def test_analyze_gives_sqlite_the_statistics_it_plans_by(tmp_path: Path) -> None:
    """SQLite keeps no statistics unless asked; without them it finds one device's ownerships by
    walking the company's whole (company_id, id) index. `analyze` (run by `upgrade` and after every
    import) lets it pick `ix_ownership_device`."""
    db = Database(f"sqlite:///{tmp_path / 'fleet.sqlite3'}")
    query = text("EXPLAIN QUERY PLAN SELECT id FROM ownership WHERE company_id = :c AND device_id = :d ORDER BY id")
    try:
        db.upgrade()
        with db.write() as session:
            tenant = Tenant(session, Caller(company_id=create_company(session, "A").id, person_id=None, can_write=True))
            person = create_person(tenant, first_name="Ada", last_name="L", email="ada@a.test")
            devices = create_devices(tenant, [DeviceSpec(fields={"name": f"D{i}"}) for i in range(200)])
            start = datetime(2020, 1, 1, tzinfo=UTC)
            session.execute(
                insert(Ownership),
                [
                    {
                        "company_id": tenant.company_id,
                        "device_id": json.loads(d)["id"],
                        "person_id": person.id,
                        "start_time": start + timedelta(days=k),
                        "end_time": start + timedelta(days=k, hours=1),
                    }
                    for d in devices
                    for k in range(5)
                ],
            )
            company_id = tenant.company_id
        params = {"c": company_id, "d": json.loads(devices[0])["id"]}

        def plan() -> str:
            with db.engine.connect() as conn:
                return " ".join(str(row[-1]) for row in conn.execute(query, params))

        assert "ix_ownership_device" not in plan()  # what the statistics change
        db.analyze()
        assert "ix_ownership_device" in plan()
        # Taking a device reads the span in force by the span ends (migration 0006), whatever the
        # device's history; a range on `start_time` would read every past span.
        with db.engine.connect() as conn:
            at = "2026-01-01 00:00:00.000000"
            taking = plan_of(conn, _DEVICE_STATE, {"device_id": params["d"], "now": at, "start": at})
        assert taking.count("ix_ownership_device_end") == 2 and "start_time<" not in taking, taking
    finally:
        db.dispose()


def test_the_device_management_pages_step_through_their_own_index(db: Database) -> None:
    """Migration 0011: the ids of a device management page (its kinds only, in id order) are read
    from `ix_device_managed`, whose entries are those devices only, not from an index of every
    device with each skipped one fetched for its kind (plain scans of the table ruled out on
    PostgreSQL); the company devices API's pages, deep ones too, stay on `ix_device_listed`."""
    with db.write() as session:
        tenant = Tenant(session, Caller(company_id=create_company(session, "A").id, person_id=None, can_write=True))
        kinds = ["LAPTOP", "MOUSE", "TABLET", "CHAIR", "SMARTPHONE"]
        create_devices(tenant, [DeviceSpec(fields={"type": kinds[i % 5]}) for i in range(300)])
        company_id = tenant.company_id
    db.analyze()
    page, _ = management_statements(db.dialect, False, False, False, False, None, 0)
    ids = next(e.element for e in iterate(page) if isinstance(e, Subquery) and e.name == "page_ids")
    values = {"company_id": company_id, "limit": 50, "offset": 100, "client_status": None}
    with db.engine.connect() as conn:
        if db.dialect == "postgresql":
            for setting in ("enable_seqscan", "enable_bitmapscan"):
                conn.exec_driver_sql(f"SET {setting} = off")
        managed = plan_of(conn, ids, values)
        assert "ix_device_managed" in managed, managed
        if db.dialect == "sqlite":  # PostgreSQL plans a page of 300 devices by sorting them
            for listed in (device_list_statements(False, False)[0], block_page(False, from_end=True)):
                plan = plan_of(conn, listed, values)
                assert "ix_device_listed" in plan, plan
    with db.snapshot() as reader:  # the page: the 101st to 150th laptops, tablets and smartphones
        got = list_managed(TenantSnapshot(reader, tenant.caller), DeviceFilter(page=3, per_page=50))
    assert (got.total, len(got.items)) == (180, 50)


def test_0005_backfills_its_block_counts_and_downgrades(backend: str, tmp_path: Path) -> None:
    """The upgrade counts the devices already there; the downgrade drops the table and its triggers
    (devices are still written without them), and upgrading again counts afresh."""
    with database_at(backend, tmp_path, "0004") as database:
        with database.write() as session:
            company = create_company(session, "A")
            tenant = Tenant(session, Caller(company_id=company.id, person_id=None, can_write=True))
            statuses = ("AVAILABLE", "IN_SERVICE", "SHIPPED")
            create_devices(tenant, [DeviceSpec(fields={"client_status": statuses[i % 3]}) for i in range(1500)])
            session.execute(text("UPDATE device SET deleted_at = updated_at WHERE id % 7 = 0"))
        upgrade(database.engine)
        kept, fresh = kept_blocks(database)
        assert kept == fresh and len(kept) >= 8  # two blocks at least: 3 statuses and all, each
        downgrade(database, "0004")
        with database.engine.begin() as conn:
            assert "device_block_count" not in inspect(conn).get_table_names()
            conn.execute(text("UPDATE device SET client_status = 'ARCHIVED' WHERE id % 5 = 0"))
            conn.execute(text("DELETE FROM device WHERE id % 11 = 0"))
        upgrade(database.engine)
        kept, fresh = kept_blocks(database)
        assert kept == fresh and ("ARCHIVED" in {status for _, status, _ in kept})


def test_0009_moves_the_holders_words_to_the_person_and_back(backend: str, tmp_path: Path) -> None:
    """The upgrade gives people their words and leaves devices their own (the holder's found through
    the person's index); the downgrade writes the holder's words into the device's again."""
    with database_at(backend, tmp_path, "0008") as database:
        with database.write() as session:
            company = create_company(session, "A")
            tenant = Tenant(session, Caller(company_id=company.id, person_id=None, can_write=True))
            session.execute(
                text(
                    "INSERT INTO person (id, company_id, hex_id, first_name, last_name, email, teams, role, "
                    "created_at, updated_at) VALUES (7, :c, 'aaaaaaaaaaaaaaaaaaaaaaaa', 'Zoé', 'Ünal', "
                    "'zoe@a.test', :teams, 'employee', :t, :t)"
                ),
                {"c": company.id, "teams": json.dumps(["Platform-Ops"]), "t": "2024-01-01 00:00:00"},
            )
            create_devices(tenant, [DeviceSpec(fields={"name": f"Book {i}", "serial_number": f"S{i}"}) for i in (1, 2)])
            # As 0008 kept them: the holder's words in the device's.
            old = "book 1\ns1\nzoé ünal\nzoe@a.test\nplatform-ops"
            session.execute(text("UPDATE device SET holder_id = 7, search_text = :w WHERE name = 'Book 1'"), {"w": old})
        upgrade(database.engine, "0009")
        with database.engine.connect() as conn:
            devices: dict[str, str] = dict(conn.execute(text("SELECT name, search_text FROM device")).all())
            person = conn.execute(text("SELECT search_text FROM person WHERE id = 7")).scalar_one()
        assert devices == {"Book 1": "book 1\ns1", "Book 2": "book 2\ns2"}
        assert person == "zoé ünal\nzoe@a.test\nplatform-ops"  # Python's lower(), not SQL's
        upgrade(database.engine)  # the searches of this code need 0010's team rows too
        with database.read() as session:
            for search in ("platform-ops", "ÜNAL book", "zoe@a", "s1"):
                docs, total = list_devices(Tenant(session, Caller(company.id, None, False)), DeviceQuery(search=search))
                assert total == 1 and json.loads(docs[0])["name"] == "Book 1", search
        downgrade(database, "0008")
        with database.engine.connect() as conn:
            assert dict(conn.execute(text("SELECT name, search_text FROM device")).all()) == {
                "Book 1": old,
                "Book 2": "book 2\ns2",
            }
            assert "search_text" not in {c["name"] for c in inspect(conn).get_columns("person")}


def test_0010_copies_holders_teams_to_their_devices_and_back(backend: str, tmp_path: Path) -> None:
    """The upgrade moves people's teams out of their words into `team_words` (Python's lowercase),
    fills `team_word` and `device_team` for the listed devices they hold, and leaves triggers that
    keep them; the downgrade puts the teams back into the words."""
    with database_at(backend, tmp_path, "0009") as database:
        with database.write() as session:
            company = create_company(session, "A")
            tenant = Tenant(session, Caller(company_id=company.id, person_id=None, can_write=True))
            for person_id, teams in ((7, ["Équipe-Zoé", "Ops"]), (8, [])):
                session.execute(
                    text(
                        "INSERT INTO person (id, company_id, hex_id, first_name, last_name, email, teams, role, "
                        "search_text, created_at, updated_at) VALUES (:id, :c, :hex, 'Zoé', 'Ünal', :email, :teams, "
                        "'employee', :words, :t, :t)"
                    ),
                    {
                        "id": person_id,
                        "c": company.id,
                        "hex": f"{person_id:024x}",
                        "email": f"zoe{person_id}@a.test",
                        "teams": json.dumps(teams),
                        "words": "\n".join([f"zoé ünal\nzoe{person_id}@a.test", *teams]).lower(),
                        "t": "2024-01-01 00:00:00",
                    },
                )
            create_devices(
                tenant, [DeviceSpec(fields={"name": f"Book {i}", "serial_number": f"S{i}"}) for i in (1, 2, 3)]
            )
            session.execute(text("UPDATE device SET holder_id = 7 WHERE name IN ('Book 1', 'Book 3')"))
            session.execute(text("UPDATE device SET deleted_at = updated_at WHERE name = 'Book 3'"))
        upgrade(database.engine)
        ids: dict[int, str] = {}

        def device_teams() -> set[tuple[str, str]]:
            with database.engine.connect() as conn:
                ids.update(conn.execute(text("SELECT id, name FROM device")).all())
                return {(ids[d], w) for w, d in conn.execute(text("SELECT words, device_id FROM device_team")).all()}

        with database.engine.connect() as conn:
            person = conn.execute(text("SELECT search_text, team_words FROM person WHERE id = 7")).one()
            vocabulary = set(conn.execute(text("SELECT words FROM team_word")).scalars())
        assert (person[0], json.loads(person[1]) if isinstance(person[1], str) else person[1]) == (
            "zoé ünal\nzoe7@a.test",
            ["équipe-zoé", "ops"],
        )
        assert vocabulary == {"équipe-zoé", "ops"}
        assert device_teams() == {("Book 1", "équipe-zoé"), ("Book 1", "ops")}
        with database.read() as session:
            reader = Tenant(session, Caller(company.id, None, False))
            assert list_devices(reader, DeviceQuery(search="ÉQUIPE"))[1] == 1
            assert list_devices(reader, DeviceQuery(search="zoe8"))[1] == 0
        with database.engine.begin() as conn:  # the triggers: a new holder, a holder without teams
            conn.execute(text("UPDATE device SET holder_id = 7 WHERE name = 'Book 2'"))
            conn.execute(text("UPDATE device SET holder_id = 8 WHERE name = 'Book 1'"))
        assert device_teams() == {("Book 2", "équipe-zoé"), ("Book 2", "ops")}
        downgrade(database, "0009")
        with database.engine.connect() as conn:
            words = conn.execute(text("SELECT search_text FROM person WHERE id = 7")).scalar_one()
            assert words == "zoé ünal\nzoe7@a.test\néquipe-zoé\nops"
            assert "team_words" not in {c["name"] for c in inspect(conn).get_columns("person")}
            assert not {"device_team", "team_word"} & set(inspect(conn).get_table_names())
