"""people's teams and managers, reservations' holder changes, device tokens and reports, rate windows

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 04:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from custody.db.types import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _device_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["company_id", "device_id"],
        ["device.company_id", "device.id"],
        name=op.f(f"fk_{table}_company_id_device_id_device"),
    )


def _company_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["company_id"], ["company.id"], name=op.f(f"fk_{table}_company_id_company"))


def upgrade() -> None:
    # SQLite cannot add a constraint to a table: batch mode rebuilds `person` (foreign keys are off
    # during migrations there, see custody.migrations.upgrade, and checked afterwards).
    with op.batch_alter_table("person") as batch_op:
        batch_op.add_column(sa.Column("teams", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("manager_id", ID, nullable=True))
        batch_op.add_column(sa.Column("start_date", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("termination_date", UTCDateTime(), nullable=True))
    person = sa.table("person", sa.column("team", sa.String()), sa.column("teams", sa.JSON()))
    op.execute(person.update().where(person.c.team.is_(None)).values(teams=[]))
    for (team,) in op.get_bind().execute(sa.select(person.c.team).where(person.c.team.is_not(None)).distinct()):
        op.execute(person.update().where(person.c.team == team).values(teams=[team]))
    with op.batch_alter_table("person") as batch_op:
        batch_op.alter_column("teams", existing_type=sa.JSON(), nullable=False)
        batch_op.drop_column("team")
        batch_op.create_foreign_key(
            op.f("fk_person_company_id_manager_id_person"), "person", ["company_id", "manager_id"], ["company_id", "id"]
        )
        batch_op.create_check_constraint(op.f("ck_person_not_own_manager"), "manager_id IS NULL OR manager_id <> id")

    op.create_table(
        "holder_due",
        sa.Column("id", ID, nullable=False),
        sa.Column("company_id", ID, nullable=False),
        sa.Column("device_id", ID, nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        _device_fk("holder_due"),
        _company_fk("holder_due"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_holder_due")),
    )
    op.create_index("ix_holder_due_at", "holder_due", ["due_at"])
    op.create_table(
        "device_token",
        sa.Column("id", ID, nullable=False),
        sa.Column("company_id", ID, nullable=False),
        sa.Column("device_id", ID, nullable=False),
        sa.Column("prefix", sa.String(length=32), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        _device_fk("device_token"),
        _company_fk("device_token"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_device_token_token_hash")),
    )
    op.create_table(
        "device_report",
        sa.Column("id", ID, nullable=False),
        sa.Column("company_id", ID, nullable=False),
        sa.Column("device_id", ID, nullable=False),
        sa.Column("reported_at", UTCDateTime(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("os_name", sa.String(length=100), nullable=True),
        sa.Column("os_version", sa.String(length=100), nullable=True),
        sa.Column("build_version", sa.String(length=100), nullable=True),
        sa.Column("last_seen_at", UTCDateTime(), nullable=True),
        sa.Column("firewall_enabled", sa.Boolean(), nullable=True),
        sa.Column("disk_encrypted", sa.Boolean(), nullable=True),
        sa.Column("screen_lock_enabled", sa.Boolean(), nullable=True),
        sa.Column("os_updates_enabled", sa.Boolean(), nullable=True),
        sa.Column("os_updates_available", sa.Boolean(), nullable=True),
        sa.Column("compromised", sa.Boolean(), nullable=True),
        _device_fk("device_report"),
        _company_fk("device_report"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_report")),
    )
    op.create_index("ix_device_report_device", "device_report", ["device_id", "reported_at"])
    op.create_table(
        "rate_window",
        sa.Column("key_id", ID, nullable=False),
        sa.Column("window", sa.BigInteger(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key_id", "window", name=op.f("pk_rate_window")),
        # Counters are worth losing in a crash rather than a WAL write per request.
        prefixes=["UNLOGGED"] if op.get_bind().dialect.name == "postgresql" else [],
    )


def downgrade() -> None:
    op.drop_table("rate_window")
    op.drop_index("ix_device_report_device", table_name="device_report")
    op.drop_table("device_report")
    op.drop_table("device_token")
    op.drop_index("ix_holder_due_at", table_name="holder_due")
    op.drop_table("holder_due")
    with op.batch_alter_table("person") as batch_op:
        batch_op.drop_constraint(op.f("ck_person_not_own_manager"), type_="check")
        batch_op.drop_constraint(op.f("fk_person_company_id_manager_id_person"), type_="foreignkey")
        batch_op.add_column(sa.Column("team", sa.String(length=100), nullable=True))
        batch_op.drop_column("termination_date")
        batch_op.drop_column("start_date")
        batch_op.drop_column("manager_id")
    op.execute(
        "UPDATE person SET team = json_extract(teams, '$[0]')"
        if op.get_bind().dialect.name == "sqlite"
        else "UPDATE person SET team = teams->>0"
    )
    with op.batch_alter_table("person") as batch_op:
        batch_op.drop_column("teams")
