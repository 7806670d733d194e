"""initial fleet schema

Revision ID: 0001
Revises:
Create Date: 2026-11-22 02:30:30.064311
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from custody.db.types import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "company",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_company")),
    )
    op.create_table(
        "address",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("company_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=True),
        sa.Column("address_line_1", sa.String(length=200), nullable=False),
        sa.Column("address_line_2", sa.String(length=200), nullable=True),
        sa.Column("zip_code", sa.String(length=20), nullable=True),
        sa.Column("city", sa.String(length=100), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["company_id"], ["company.id"], name=op.f("fk_address_company_id_company")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_address")),
        sa.UniqueConstraint("company_id", "id", name=op.f("uq_address_company_id_id")),
    )
    op.create_table(
        "device_count",
        sa.Column("company_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("client_status", sa.String(length=32), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["company_id"], ["company.id"], name=op.f("fk_device_count_company_id_company")),
        sa.PrimaryKeyConstraint("company_id", "client_status", name=op.f("pk_device_count")),
    )
    op.create_table(
        "person",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("company_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("hex_id", sa.String(length=24), nullable=False),
        sa.Column("first_name", sa.String(length=100), nullable=False),
        sa.Column("last_name", sa.String(length=100), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("team", sa.String(length=100), nullable=True),
        sa.Column(
            "role",
            sa.Enum(
                "employee",
                "manager",
                "admin",
                name="person_role",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["company_id"], ["company.id"], name=op.f("fk_person_company_id_company")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person")),
        sa.UniqueConstraint("company_id", "email", name=op.f("uq_person_company_id_email")),
        sa.UniqueConstraint("company_id", "id", name=op.f("uq_person_company_id_id")),
        sa.UniqueConstraint("hex_id", name=op.f("uq_person_hex_id")),
    )
    op.create_table(
        "purchase_order",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("company_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "client_status",
            sa.Enum(
                "RECEIVED",
                "BEING_PROCESSED",
                "FINANCING_REQUEST",
                "DOC_REQUIRED",
                "SIGNING",
                "PROCESSING",
                "SHIPPED",
                "RECEPTION_TO_CONFIRM",
                "ONGOING_ORDER",
                "PENDING_DECISION",
                "EQUIPMENT_TO_SEND",
                "ARCHIVED",
                "FAILED",
                "UNKNOWN",
                name="order_client_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("device_names", sa.JSON(), nullable=False),
        sa.Column("rent", sa.String(length=50), nullable=True),
        sa.Column("rent_currency", sa.String(length=3), nullable=True),
        sa.Column("order_number", sa.String(length=100), nullable=True),
        sa.Column("contract_number", sa.String(length=100), nullable=True),
        sa.Column("order_date", UTCDateTime(), nullable=True),
        sa.Column("num_devices", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["company_id"], ["company.id"], name=op.f("fk_purchase_order_company_id_company")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purchase_order")),
        sa.UniqueConstraint("company_id", "id", name=op.f("uq_purchase_order_company_id_id")),
    )
    op.create_table(
        "api_key",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("company_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("prefix", sa.String(length=32), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "scope",
            sa.Enum("read", "write", name="key_scope", native_enum=False, create_constraint=True, length=32),
            nullable=False,
        ),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["company_id", "person_id"],
            ["person.company_id", "person.id"],
            name=op.f("fk_api_key_company_id_person_id_person"),
        ),
        sa.ForeignKeyConstraint(["company_id"], ["company.id"], name=op.f("fk_api_key_company_id_company")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_key")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_key_token_hash")),
    )
    op.create_table(
        "device",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("hex_id", sa.String(length=24), nullable=False),
        sa.Column("company_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("holder_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("serial_number", sa.String(length=100), nullable=True),
        sa.Column(
            "client_status",
            sa.Enum(
                "ARCHIVED",
                "PENDING_VALIDATION",
                "IN_PREPARATION",
                "DELIVERED",
                "SHIPPED",
                "AVAILABLE",
                "IN_SERVICE",
                "IN_MAINTENANCE",
                "OUT_OF_SERVICE",
                name="device_client_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("type", sa.String(length=50), nullable=True),
        sa.Column("category", sa.String(length=50), nullable=True),
        sa.Column("source", sa.String(length=50), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("rent", sa.String(length=50), nullable=True),
        sa.Column("tracking_number", sa.String(length=100), nullable=True),
        sa.Column("tracking_url", sa.String(length=500), nullable=True),
        sa.Column("characteristics", sa.JSON(), nullable=False),
        sa.Column(
            "platform",
            sa.Enum(
                "ANDROID",
                "IOS",
                "MACOS",
                "WINDOWS",
                "LINUX",
                "CHROME_OS",
                "IPADOS",
                "UNKNOWN",
                name="device_platform",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("brand", sa.String(length=100), nullable=True),
        sa.Column("manufacturer", sa.String(length=100), nullable=True),
        sa.Column("model_name", sa.String(length=100), nullable=True),
        sa.Column("model_identifier", sa.String(length=100), nullable=True),
        sa.Column("year", sa.Integer(), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column(
            "lock_wipe_status",
            sa.Enum(
                "LOCKED",
                "LOCKING",
                "UNLOCKING",
                "WIPED",
                "WIPING",
                name="lock_wipe_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column(
            "edr_provider",
            sa.Enum(
                "SENTINELONE",
                "THREATDOWN",
                name="edr_provider",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("doc", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("deleted_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["company_id", "holder_id"],
            ["person.company_id", "person.id"],
            name=op.f("fk_device_company_id_holder_id_person"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id", "order_id"],
            ["purchase_order.company_id", "purchase_order.id"],
            name=op.f("fk_device_company_id_order_id_purchase_order"),
        ),
        sa.ForeignKeyConstraint(["company_id"], ["company.id"], name=op.f("fk_device_company_id_company")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device")),
        sa.UniqueConstraint("company_id", "id", name=op.f("uq_device_company_id_id")),
        sa.UniqueConstraint("hex_id", name=op.f("uq_device_hex_id")),
    )
    with op.batch_alter_table("device", schema=None) as batch_op:
        batch_op.create_index(
            "ix_device_holder",
            ["company_id", "holder_id", "id"],
            unique=False,
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )
        batch_op.create_index(
            "ix_device_listed",
            ["company_id", "id"],
            unique=False,
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )
        batch_op.create_index(
            "ix_device_status",
            ["company_id", "client_status", "id"],
            unique=False,
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )
        batch_op.create_index(
            "uq_device_serial",
            ["company_id", "serial_number"],
            unique=True,
            sqlite_where=sa.text("deleted_at IS NULL AND serial_number IS NOT NULL"),
            postgresql_where=sa.text("deleted_at IS NULL AND serial_number IS NOT NULL"),
        )

    op.create_table(
        "mdm_enrollment",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("company_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("device_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "SUBSCRIBED",
                "DOWNLOADED",
                "IDENTIFIED",
                "ENROLLMENT_IN_PROGRESS",
                "ENROLLED",
                "UNENROLLED",
                "DEVICE_WIPE_PENDING",
                name="mdm_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("local_name", sa.String(length=200), nullable=True),
        sa.Column("lock_date", UTCDateTime(), nullable=True),
        sa.Column("firewall_enabled", sa.Boolean(), nullable=True),
        sa.Column("os_updates_enabled", sa.Boolean(), nullable=True),
        sa.Column("is_encrypted", sa.Boolean(), nullable=True),
        sa.Column("screenlock_enabled", sa.Boolean(), nullable=True),
        sa.Column("is_compromised", sa.Boolean(), nullable=True),
        sa.Column("os_updates_available", sa.Boolean(), nullable=True),
        sa.Column("disk_encryption_profile_installed", sa.Boolean(), nullable=True),
        sa.Column("enrollment_date", UTCDateTime(), nullable=True),
        sa.Column("unenrollment_date", UTCDateTime(), nullable=True),
        sa.Column("download_date", UTCDateTime(), nullable=True),
        sa.Column("last_seen_date", UTCDateTime(), nullable=True),
        sa.Column("last_sync_date", UTCDateTime(), nullable=True),
        sa.Column("os_name", sa.String(length=100), nullable=True),
        sa.Column("os_version", sa.String(length=100), nullable=True),
        sa.Column("build_version", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ["company_id", "device_id"],
            ["device.company_id", "device.id"],
            name=op.f("fk_mdm_enrollment_company_id_device_id_device"),
        ),
        sa.ForeignKeyConstraint(["company_id"], ["company.id"], name=op.f("fk_mdm_enrollment_company_id_company")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mdm_enrollment")),
        sa.UniqueConstraint("device_id", name=op.f("uq_mdm_enrollment_device_id")),
    )
    op.create_table(
        "ownership",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("company_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("device_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("start_time", UTCDateTime(), nullable=False),
        sa.Column("end_time", UTCDateTime(), nullable=True),
        sa.CheckConstraint("end_time IS NULL OR end_time >= start_time", name=op.f("ck_ownership_span_order")),
        sa.ForeignKeyConstraint(
            ["company_id", "device_id"],
            ["device.company_id", "device.id"],
            name=op.f("fk_ownership_company_id_device_id_device"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id", "person_id"],
            ["person.company_id", "person.id"],
            name=op.f("fk_ownership_company_id_person_id_person"),
        ),
        sa.ForeignKeyConstraint(["company_id"], ["company.id"], name=op.f("fk_ownership_company_id_company")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ownership")),
    )
    with op.batch_alter_table("ownership", schema=None) as batch_op:
        batch_op.create_index("ix_ownership_device", ["device_id", "start_time"], unique=False)
        batch_op.create_index("ix_ownership_person", ["person_id", "end_time"], unique=False)
        batch_op.create_index(
            "uq_ownership_open",
            ["device_id"],
            unique=True,
            sqlite_where=sa.text("end_time IS NULL"),
            postgresql_where=sa.text("end_time IS NULL"),
        )

    op.create_table(
        "parcel",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("company_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("device_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "type",
            sa.Enum(
                "RETURN",
                "INTER_OFFICE_DELIVERY",
                name="parcel_type",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "WAITING",
                "SCHEDULED",
                "SHIPPED",
                "RECEIVED",
                "FAILED",
                name="parcel_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("tracking_number", sa.String(length=100), nullable=True),
        sa.Column("tracking_url", sa.String(length=500), nullable=True),
        sa.Column("carrier", sa.String(length=100), nullable=True),
        sa.Column("pickup_address_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("reception_address_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("pickup_date", UTCDateTime(), nullable=True),
        sa.Column("reception_date", UTCDateTime(), nullable=True),
        sa.Column("shipping_date", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id", "device_id"],
            ["device.company_id", "device.id"],
            name=op.f("fk_parcel_company_id_device_id_device"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id", "pickup_address_id"],
            ["address.company_id", "address.id"],
            name=op.f("fk_parcel_company_id_pickup_address_id_address"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id", "reception_address_id"],
            ["address.company_id", "address.id"],
            name=op.f("fk_parcel_company_id_reception_address_id_address"),
        ),
        sa.ForeignKeyConstraint(["company_id"], ["company.id"], name=op.f("fk_parcel_company_id_company")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_parcel")),
    )
    with op.batch_alter_table("parcel", schema=None) as batch_op:
        batch_op.create_index("ix_parcel_device", ["device_id", "created_at"], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRESQL_UPGRADE:
            op.execute(statement)
    else:
        for statement in SQLITE_UPGRADE:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for op_ in _COUNT_DELTAS:
            op.execute(f"DROP TRIGGER device_count_{op_} ON device")
            op.execute(f"DROP FUNCTION device_count_{op_}()")
    else:
        op.execute("DROP TABLE device_search")
    with op.batch_alter_table("parcel", schema=None) as batch_op:
        batch_op.drop_index("ix_parcel_device")

    op.drop_table("parcel")
    with op.batch_alter_table("ownership", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_ownership_open",
            sqlite_where=sa.text("end_time IS NULL"),
            postgresql_where=sa.text("end_time IS NULL"),
        )
        batch_op.drop_index("ix_ownership_person")
        batch_op.drop_index("ix_ownership_device")

    op.drop_table("ownership")
    op.drop_table("mdm_enrollment")
    with op.batch_alter_table("device", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_device_serial",
            sqlite_where=sa.text("deleted_at IS NULL AND serial_number IS NOT NULL"),
            postgresql_where=sa.text("deleted_at IS NULL AND serial_number IS NOT NULL"),
        )
        batch_op.drop_index(
            "ix_device_status",
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )
        batch_op.drop_index(
            "ix_device_listed",
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )
        batch_op.drop_index(
            "ix_device_holder",
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )

    op.drop_table("device")
    op.drop_table("api_key")
    op.drop_table("purchase_order")
    op.drop_table("person")
    op.drop_table("device_count")
    op.drop_table("address")
    op.drop_table("company")


# The database refuses what must never happen, whoever writes: overlapping ownership spans of one
# device (half-open [start, end), an open end is +infinity, an empty span overlaps nothing), and
# it keeps the per-status device counts and the search index itself.
_OVERLAP = """
    SELECT RAISE(ABORT, 'ownership spans of one device may not overlap')
    WHERE (NEW.end_time IS NULL OR NEW.start_time < NEW.end_time) AND EXISTS (
        SELECT 1 FROM ownership o
        WHERE o.device_id = NEW.device_id AND o.id IS NOT NEW.id
          AND (o.end_time IS NULL OR o.start_time < o.end_time)
          AND (NEW.end_time IS NULL OR o.start_time < NEW.end_time)
          AND (o.end_time IS NULL OR NEW.start_time < o.end_time));
"""
SQLITE_UPGRADE = [
    f"CREATE TRIGGER ownership_no_overlap_insert BEFORE INSERT ON ownership BEGIN {_OVERLAP} END",
    "CREATE TRIGGER ownership_no_overlap_update BEFORE UPDATE OF device_id, start_time, end_time "
    f"ON ownership BEGIN {_OVERLAP} END",
    """CREATE TRIGGER device_count_insert AFTER INSERT ON device WHEN NEW.deleted_at IS NULL BEGIN
        INSERT OR IGNORE INTO device_count (company_id, client_status, n)
            VALUES (NEW.company_id, NEW.client_status, 0);
        UPDATE device_count SET n = n + 1
            WHERE company_id = NEW.company_id AND client_status = NEW.client_status;
    END""",
    """CREATE TRIGGER device_count_delete AFTER DELETE ON device WHEN OLD.deleted_at IS NULL BEGIN
        UPDATE device_count SET n = n - 1
            WHERE company_id = OLD.company_id AND client_status = OLD.client_status;
    END""",
    """CREATE TRIGGER device_count_update AFTER UPDATE OF company_id, client_status, deleted_at ON device
    BEGIN
        UPDATE device_count SET n = n - 1
            WHERE OLD.deleted_at IS NULL AND company_id = OLD.company_id AND client_status = OLD.client_status;
        INSERT OR IGNORE INTO device_count (company_id, client_status, n)
            SELECT NEW.company_id, NEW.client_status, 0 WHERE NEW.deleted_at IS NULL;
        UPDATE device_count SET n = n + 1
            WHERE NEW.deleted_at IS NULL AND company_id = NEW.company_id AND client_status = NEW.client_status;
    END""",
    # Substring search served by a trigram index instead of a LIKE scan.
    "CREATE VIRTUAL TABLE device_search USING fts5("
    "search_text, content='device', content_rowid='id', tokenize='trigram')",
    """CREATE TRIGGER device_search_insert AFTER INSERT ON device BEGIN
        INSERT INTO device_search (rowid, search_text) VALUES (NEW.id, NEW.search_text);
    END""",
    """CREATE TRIGGER device_search_delete AFTER DELETE ON device BEGIN
        INSERT INTO device_search (device_search, rowid, search_text) VALUES ('delete', OLD.id, OLD.search_text);
    END""",
    """CREATE TRIGGER device_search_update AFTER UPDATE OF search_text ON device BEGIN
        INSERT INTO device_search (device_search, rowid, search_text) VALUES ('delete', OLD.id, OLD.search_text);
        INSERT INTO device_search (rowid, search_text) VALUES (NEW.id, NEW.search_text);
    END""",
]
_LISTED_NEW = "SELECT company_id, client_status, 1 AS delta FROM new_rows WHERE deleted_at IS NULL"
_LISTED_OLD = "SELECT company_id, client_status, -1 AS delta FROM old_rows WHERE deleted_at IS NULL"
_COUNT_DELTAS = {
    "insert": _LISTED_NEW,
    "delete": _LISTED_OLD,
    "update": f"{_LISTED_NEW} UNION ALL {_LISTED_OLD}",
}
POSTGRESQL_UPGRADE = [
    "CREATE EXTENSION IF NOT EXISTS btree_gist",
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "ALTER TABLE ownership ADD CONSTRAINT ex_ownership_overlap EXCLUDE USING gist "
    "(device_id WITH =, tstzrange(start_time, end_time, '[)') WITH &&)",
    "CREATE INDEX ix_device_search_trgm ON device USING gin (search_text gin_trgm_ops)",
    # Statement-level, over transition tables: a bulk insert updates each counter once, not once
    # per row (row triggers serialised every insert of a company on one counter row).
    *(
        f"""CREATE FUNCTION device_count_{op_}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO device_count AS c (company_id, client_status, n)
            SELECT company_id, client_status, sum(delta) FROM ({delta}) AS changes
            GROUP BY company_id, client_status HAVING sum(delta) <> 0
            ON CONFLICT (company_id, client_status) DO UPDATE SET n = c.n + EXCLUDED.n;
        RETURN NULL;
    END $$"""
        for op_, delta in _COUNT_DELTAS.items()
    ),
    *(
        f"CREATE TRIGGER device_count_{op_} AFTER {op_.upper()} ON device REFERENCING {refs} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION device_count_{op_}()"
        for op_, refs in (
            ("insert", "NEW TABLE AS new_rows"),
            ("delete", "OLD TABLE AS old_rows"),
            ("update", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
        )
    ),
]
