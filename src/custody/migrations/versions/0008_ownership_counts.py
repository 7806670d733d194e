"""ownership spans per company, kept by triggers

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22 09:00:00

The ownership API's unfiltered list (a company key) counted every span of the company on every
page: over a million index entries at a million devices. This count, kept like `device_kind_count`
(row triggers on SQLite, statement triggers over transition tables on PostgreSQL), makes it one
lookup. Spans are never deleted and never change company, but the triggers keep the count exact if
one ever did; on PostgreSQL the company change is a row trigger (a trigger with a column list
cannot have transition tables), so the many end-time updates fire nothing.

Each company's count is split over SHARDS rows by device (`device_id % SHARDS`), summed on read:
with one row, every take in a company would hold that row's lock until commit, so concurrent takes
of different devices would queue on PostgreSQL.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
SHARDS = 16
_UPSERT = "ON CONFLICT (company_id, shard) DO UPDATE SET n = n + 1"
SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER ownership_count_insert AFTER INSERT ON ownership BEGIN
        INSERT INTO ownership_count (company_id, shard, n) VALUES (NEW.company_id, NEW.device_id % {SHARDS}, 1)
            {_UPSERT};
    END""",
    f"""CREATE TRIGGER ownership_count_delete AFTER DELETE ON ownership BEGIN
        UPDATE ownership_count SET n = n - 1 WHERE company_id = OLD.company_id AND shard = OLD.device_id % {SHARDS};
    END""",
    f"""CREATE TRIGGER ownership_count_update AFTER UPDATE OF company_id ON ownership
    WHEN OLD.company_id IS NOT NEW.company_id BEGIN
        UPDATE ownership_count SET n = n - 1 WHERE company_id = OLD.company_id AND shard = OLD.device_id % {SHARDS};
        INSERT INTO ownership_count (company_id, shard, n) VALUES (NEW.company_id, NEW.device_id % {SHARDS}, 1)
            {_UPSERT};
    END""",
]
_DELTAS = {
    "insert": f"SELECT company_id, device_id % {SHARDS} AS shard, 1 AS delta FROM new_rows",
    "delete": f"SELECT company_id, device_id % {SHARDS} AS shard, -1 AS delta FROM old_rows",
}
_REFS = {"insert": "NEW TABLE AS new_rows", "delete": "OLD TABLE AS old_rows"}
POSTGRESQL_UPDATE = [
    f"""CREATE FUNCTION ownership_count_update() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE ownership_count SET n = n - 1 WHERE company_id = OLD.company_id AND shard = OLD.device_id % {SHARDS};
        INSERT INTO ownership_count AS c (company_id, shard, n) VALUES (NEW.company_id, NEW.device_id % {SHARDS}, 1)
            ON CONFLICT (company_id, shard) DO UPDATE SET n = c.n + 1;
        RETURN NULL;
    END $$""",
    "CREATE TRIGGER ownership_count_update AFTER UPDATE OF company_id ON ownership FOR EACH ROW "
    "WHEN (OLD.company_id IS DISTINCT FROM NEW.company_id) EXECUTE FUNCTION ownership_count_update()",
]


def upgrade() -> None:
    op.create_table(
        "ownership_count",
        sa.Column("company_id", ID, nullable=False),
        sa.Column("shard", sa.SmallInteger(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["company_id"], ["company.id"], name=op.f("fk_ownership_count_company_id_company")),
        sa.PrimaryKeyConstraint("company_id", "shard", name=op.f("pk_ownership_count")),
    )
    op.execute(
        f"INSERT INTO ownership_count (company_id, shard, n) SELECT company_id, device_id % {SHARDS}, count(*) "
        f"FROM ownership GROUP BY company_id, device_id % {SHARDS}"
    )
    if op.get_bind().dialect.name == "postgresql":
        for op_, delta in _DELTAS.items():
            op.execute(
                f"""CREATE FUNCTION ownership_count_{op_}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO ownership_count AS c (company_id, shard, n)
            SELECT company_id, shard, sum(delta) FROM ({delta}) AS changes GROUP BY company_id, shard
            ORDER BY company_id, shard
            ON CONFLICT (company_id, shard) DO UPDATE SET n = c.n + EXCLUDED.n;
        RETURN NULL;
    END $$"""
            )
            op.execute(
                f"CREATE TRIGGER ownership_count_{op_} AFTER {op_.upper()} ON ownership REFERENCING {_REFS[op_]} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION ownership_count_{op_}()"
            )
        for statement in POSTGRESQL_UPDATE:
            op.execute(statement)
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for op_ in ("insert", "delete", "update"):
        op.execute(f"DROP TRIGGER ownership_count_{op_}" + (" ON ownership" if postgresql else ""))
        if postgresql:
            op.execute(f"DROP FUNCTION ownership_count_{op_}()")
    op.drop_table("ownership_count")
