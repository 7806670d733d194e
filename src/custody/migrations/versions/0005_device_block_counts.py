"""listed devices per company, client_status and block of 1024 ids, kept by triggers

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 07:30:00

A deep page (`OFFSET 999950` of a million devices) stepped through every index entry before it:
50 ms on SQLite, more on PostgreSQL. With these counts the list finds the block of ids its page
starts in by a running sum over about N / 1024 rows, then steps through fewer than 1024 entries.
Each block has a row per status and one for all statuses (`client_status` ''), so both shapes of
page read one contiguous range of this table. Kept like `device_count` (row triggers on SQLite,
statement triggers over transition tables on PostgreSQL); rows that fall to 0 stay.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
BLOCK_BITS = 10  # custody.domain.devices.BLOCK_BITS: changing it means rebuilding the table
ALL = "''"  # the `client_status` of a block's all-status row

SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER device_block_count_insert AFTER INSERT ON device WHEN NEW.deleted_at IS NULL BEGIN
        INSERT INTO device_block_count (company_id, client_status, block, n)
            VALUES (NEW.company_id, NEW.client_status, NEW.id >> {BLOCK_BITS}, 1),
                   (NEW.company_id, {ALL}, NEW.id >> {BLOCK_BITS}, 1)
            ON CONFLICT (company_id, client_status, block) DO UPDATE SET n = n + 1;
    END""",
    f"""CREATE TRIGGER device_block_count_delete AFTER DELETE ON device WHEN OLD.deleted_at IS NULL BEGIN
        UPDATE device_block_count SET n = n - 1
            WHERE company_id = OLD.company_id AND client_status IN (OLD.client_status, {ALL})
              AND block = OLD.id >> {BLOCK_BITS};
    END""",
    # Only when the row's place in the counts changes: the import rewrites `deleted_at` (unchanged)
    # on every device it updates, and two writes per row for nothing would slow it down.
    f"""CREATE TRIGGER device_block_count_update AFTER UPDATE OF id, company_id, client_status, deleted_at ON device
    WHEN OLD.id IS NOT NEW.id OR OLD.company_id IS NOT NEW.company_id OR OLD.client_status IS NOT NEW.client_status
        OR (OLD.deleted_at IS NULL) <> (NEW.deleted_at IS NULL) BEGIN
        UPDATE device_block_count SET n = n - 1
            WHERE OLD.deleted_at IS NULL AND company_id = OLD.company_id
              AND client_status IN (OLD.client_status, {ALL}) AND block = OLD.id >> {BLOCK_BITS};
        INSERT INTO device_block_count (company_id, client_status, block, n)
            SELECT NEW.company_id, status, NEW.id >> {BLOCK_BITS}, 1
            FROM (SELECT NEW.client_status AS status UNION ALL SELECT {ALL}) WHERE NEW.deleted_at IS NULL
            ON CONFLICT (company_id, client_status, block) DO UPDATE SET n = n + 1;
    END""",
]
_KEY = f"company_id, client_status, id >> {BLOCK_BITS} AS block"
_NEW = f"SELECT {_KEY}, 1 AS delta FROM new_rows WHERE deleted_at IS NULL"
_OLD = f"SELECT {_KEY}, -1 AS delta FROM old_rows WHERE deleted_at IS NULL"
_DELTAS = {"insert": _NEW, "delete": _OLD, "update": f"{_NEW} UNION ALL {_OLD}"}
_REFS = {
    "insert": "NEW TABLE AS new_rows",
    "delete": "OLD TABLE AS old_rows",
    "update": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
}


def upgrade() -> None:
    op.create_table(
        "device_block_count",
        sa.Column("company_id", ID, nullable=False),
        sa.Column("client_status", sa.String(length=32), nullable=False),
        sa.Column("block", sa.BigInteger(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["company_id"], ["company.id"], name=op.f("fk_device_block_count_company_id_company")),
        sa.PrimaryKeyConstraint("company_id", "client_status", "block", name=op.f("pk_device_block_count")),
    )
    op.execute(
        f"INSERT INTO device_block_count (company_id, client_status, block, n) "
        f"SELECT company_id, client_status, id >> {BLOCK_BITS}, count(*) FROM device WHERE deleted_at IS NULL "
        f"GROUP BY company_id, client_status, id >> {BLOCK_BITS} "
        f"UNION ALL SELECT company_id, {ALL}, id >> {BLOCK_BITS}, count(*) FROM device WHERE deleted_at IS NULL "
        f"GROUP BY company_id, id >> {BLOCK_BITS}"
    )
    if op.get_bind().dialect.name == "postgresql":
        for op_, delta in _DELTAS.items():
            # The second grouping set is the all-status row. Rows are upserted in key order so that
            # two concurrent statements lock the counters they share in the same order.
            op.execute(
                f"""CREATE FUNCTION device_block_count_{op_}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO device_block_count AS c (company_id, client_status, block, n)
            SELECT company_id, coalesce(client_status, {ALL}), block, sum(delta) FROM ({delta}) AS changes
            GROUP BY GROUPING SETS ((company_id, client_status, block), (company_id, block))
            HAVING sum(delta) <> 0
            ORDER BY 1, 2, 3
            ON CONFLICT (company_id, client_status, block) DO UPDATE SET n = c.n + EXCLUDED.n;
        RETURN NULL;
    END $$"""
            )
            op.execute(
                f"CREATE TRIGGER device_block_count_{op_} AFTER {op_.upper()} ON device REFERENCING {_REFS[op_]} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION device_block_count_{op_}()"
            )
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for op_ in _DELTAS:
        op.execute(f"DROP TRIGGER device_block_count_{op_}" + (" ON device" if postgresql else ""))
        if postgresql:
            op.execute(f"DROP FUNCTION device_block_count_{op_}()")
    op.drop_table("device_block_count")
