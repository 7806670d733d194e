"""One-statement reads: `Database.statement` runs outside any transaction (on PostgreSQL, one
round trip: no BEGIN, no ROLLBACK, and generic plans); and on PostgreSQL `keyed_page` answers as
`authenticate` then `list_devices` do, in one statement."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from custody.db.engine import Database
from custody.domain.devices import DeviceQuery, DeviceSpec, create_devices, keyed_page, list_devices
from custody.domain.keys import authenticate, hash_token, revoke_key
from custody.domain.tenancy import Caller, Tenant, TenantSnapshot
from tests.conftest import Company, new_company


def _in_transaction(reader: Any) -> bool:
    driver = reader._cursor.connection
    if isinstance(driver, psycopg.Connection):
        return driver.info.transaction_status != psycopg.pq.TransactionStatus.IDLE
    return bool(driver.in_transaction)


def test_a_statement_runs_outside_a_transaction(db: Database) -> None:
    with db.statement() as reader:
        assert reader.scalar(text("SELECT 1"), {}) == 1
        assert not _in_transaction(reader)
    with db.snapshot() as reader:  # the snapshot still is one (the connection is back as it was)
        reader.scalar(text("SELECT 1"), {})
        assert _in_transaction(reader)


def test_a_statement_planned_per_run_is_one_and_leaves_snapshots_as_they_were(db: Database) -> None:
    """A search's one statement: outside a transaction, planned for its values (PostgreSQL), on a
    connection that the next snapshot finds beginning transactions again."""
    with db.statement(planned_per_run=True) as reader:
        assert reader.scalar(text("SELECT 1"), {}) == 1
        assert not _in_transaction(reader)
        if db.dialect == "postgresql":
            assert reader.scalar(text("SELECT current_setting('plan_cache_mode')"), {}) == "force_custom_plan"
    with db.snapshot() as reader:
        reader.scalar(text("SELECT 1"), {})
        assert _in_transaction(reader)


def test_a_failed_statement_leaves_the_next_one_working(db: Database) -> None:
    with pytest.raises(DBAPIError), db.statement() as reader:
        reader.scalar(text("SELECT CAST('x' AS INTEGER) + 1" if db.dialect == "postgresql" else "SELECT x"), {})
    for _ in range(3):
        with db.statement() as reader:
            assert reader.scalar(text("SELECT 2"), {}) == 2
            assert not _in_transaction(reader)


def test_statements_are_planned_once_on_postgresql(db: Database) -> None:
    if db.dialect != "postgresql":
        pytest.skip("plan_cache_mode is PostgreSQL's")
    show = text("SELECT current_setting('plan_cache_mode')")
    with db.statement() as reader:
        assert reader.scalar(show, {}) == "force_generic_plan"
    with db.snapshot() as reader:  # reads whose plans depend on their values: planned for them
        assert reader.scalar(show, {}) == "force_custom_plan"


def test_snapshots_keep_their_statements_prepared_on_postgresql(db: Database) -> None:
    """A snapshot ends with COMMIT (psycopg forgets its prepared statements at a ROLLBACK), so a
    read run often is parsed once per connection; it is still planned for each run's values."""
    if db.dialect != "postgresql":
        pytest.skip("prepared statements are psycopg's")
    probe = text("SELECT count(*) FROM device WHERE company_id = :company AND id > :after")
    for after in range(12):
        with db.snapshot() as reader:
            reader.scalar(probe, {"company": 1, "after": after})
    prepared = text("SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE '%id > $2%'")
    with db.snapshot() as reader:
        (generic, custom), *_ = reader.rows(prepared, {})
    assert generic == 0 and custom >= 5


@pytest.fixture
def fleet(db: Database) -> tuple[Company, Company]:
    if db.dialect != "postgresql":
        pytest.skip("keyed_page is PostgreSQL's one-statement read (SQLite reads in process)")
    companies = new_company(db, "Keyed"), new_company(db, "Other")
    for company, count in zip(companies, (70, 5), strict=True):
        with db.write() as session:
            tenant = Tenant(session, Caller(company_id=company.id, person_id=None, can_write=True))
            ada = int(str(company.people[0]["id"]))
            specs = [
                DeviceSpec(
                    fields={"name": f"Keyed {i}", "serial_number": f"K{company.id}-{i}", "client_status": status},
                    holder_id=ada if i % 4 == 0 else None,
                )
                for i, status in zip(range(count), ["AVAILABLE", "IN_SERVICE", "SHIPPED"] * count, strict=False)
            ]
            create_devices(tenant, specs)
    return companies


def test_keyed_page_answers_as_authenticate_and_list_devices(db: Database, fleet: tuple[Company, Company]) -> None:
    company, other = fleet
    ada = int(str(company.people[0]["id"]))
    queries = [
        DeviceQuery(),
        DeviceQuery(limit=7, offset=3),
        DeviceQuery(offset=69),
        DeviceQuery(offset=70),
        DeviceQuery(offset=2**62),
        DeviceQuery(client_status="IN_SERVICE", limit=5, offset=2),
        DeviceQuery(user_id=ada),
        DeviceQuery(user_id=ada, client_status="AVAILABLE"),
        DeviceQuery(user_id=2**63 - 1),
    ]
    for token in (company.read_token, company.person_token, other.write_token):
        header = f"Bearer {token}"
        for query in queries:
            with db.snapshot() as reader:
                caller = authenticate(reader, header)
                assert caller is not None
                expected = (caller, *list_devices(TenantSnapshot(reader, caller), query))
            with db.statement() as reader:
                assert keyed_page(reader, hash_token(token), query) == expected, (token, query)
    with db.statement() as reader:  # the other company's key sees its own five devices only
        keyed = keyed_page(reader, hash_token(other.read_token), DeviceQuery(limit=100))
    assert keyed is not None and keyed[2] == 5 and all(f'"K{other.id}-'.encode() in doc for doc in keyed[1])


def test_keyed_page_leaves_searches_to_list_devices(db: Database, fleet: tuple[Company, Company]) -> None:
    with pytest.raises(ValueError, match="does not search"), db.statement() as reader:
        keyed_page(reader, hash_token(fleet[0].read_token), DeviceQuery(search="keyed"))


def test_keyed_page_without_a_live_key_reads_nothing(db: Database, fleet: tuple[Company, Company]) -> None:
    company, _ = fleet
    with db.write() as session:
        revoke_key(session, company.read_token)
    for token_hash in (hash_token(company.read_token), hash_token("cst_unknown"), ""):
        with db.statement() as reader:
            assert keyed_page(reader, token_hash, DeviceQuery()) is None
            assert keyed_page(reader, token_hash, DeviceQuery(user_id=2**63 - 1)) is None
