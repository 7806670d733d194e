"""a team's devices in one index range

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 11:00:00

`search=` of a team found the team's people through the person trigram index (a phrase of ~15
trigrams over every person, 7 ms at 250,000 people), then each member's devices through the holder
index (~2,500 probes for ~7,000 devices), before counting and paging them: 15-17 ms served at a
million devices. Now a person's teams are `person.team_words` (as `search=` matches them: Python's
`lower()`), no longer in `person.search_text` (name and email), and triggers copy them to
`device_team(company_id, words, device_id)` for every listed device the person holds. A search
matches its word against the company's team names (`team_word`, a few rows) and reads those teams'
devices from `device_team`'s key, already in id order.

Triggers keep both tables: on `device` when a device is inserted, changes holder or is deleted or
restored (`deleted_at`); on `person` when its `team_words` change (and when inserted, for
`team_word`). Devices are deleted from `device_team` with the device (a cascading foreign key).
On PostgreSQL the insert trigger is a statement trigger over the inserted rows (the import's COPY
of a million devices), the others row triggers with a `WHEN` on the columns that matter, so the
many other updates of a device (reports, renames) fire nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
BATCH = 5000
# The rows of `device_team` for the devices in `devices` (a FROM item with `company_id`, `id`,
# `holder_id`, `deleted_at`), in each dialect's JSON functions.
_SQLITE_ROWS = (
    "SELECT d.company_id, j.value, d.id FROM {devices} JOIN person p ON p.id = d.holder_id, json_each(p.team_words) j "
    "WHERE d.deleted_at IS NULL"
)
_POSTGRESQL_ROWS = (
    "SELECT d.company_id, w.value, d.id FROM {devices} JOIN person p ON p.id = d.holder_id "
    "CROSS JOIN LATERAL json_array_elements_text(p.team_words) AS w(value) WHERE d.deleted_at IS NULL"
)
# The rows for the one device NEW of a row trigger (its holder's teams, if it is listed).
_SQLITE_NEW = (
    "SELECT NEW.company_id, j.value, NEW.id FROM person p, json_each(p.team_words) j "
    "WHERE p.id = NEW.holder_id AND NEW.deleted_at IS NULL"
)
_POSTGRESQL_NEW = (
    "SELECT NEW.company_id, json_array_elements_text(p.team_words), NEW.id FROM person p "
    "WHERE p.id = NEW.holder_id AND NEW.deleted_at IS NULL"
)
SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER device_team_insert AFTER INSERT ON device
    WHEN NEW.holder_id IS NOT NULL AND NEW.deleted_at IS NULL BEGIN
        INSERT OR IGNORE INTO device_team (company_id, words, device_id) {_SQLITE_NEW};
    END""",
    f"""CREATE TRIGGER device_team_update AFTER UPDATE OF holder_id, deleted_at ON device
    WHEN OLD.holder_id IS NOT NEW.holder_id OR OLD.deleted_at IS NOT NEW.deleted_at BEGIN
        DELETE FROM device_team WHERE device_id = OLD.id;
        INSERT OR IGNORE INTO device_team (company_id, words, device_id) {_SQLITE_NEW};
    END""",
    """CREATE TRIGGER person_team_insert AFTER INSERT ON person BEGIN
        INSERT OR IGNORE INTO team_word (company_id, words) SELECT NEW.company_id, value FROM json_each(NEW.team_words);
    END""",
    f"""CREATE TRIGGER person_team_update AFTER UPDATE OF team_words ON person
    WHEN OLD.team_words IS NOT NEW.team_words BEGIN
        INSERT OR IGNORE INTO team_word (company_id, words) SELECT NEW.company_id, value FROM json_each(NEW.team_words);
        DELETE FROM device_team WHERE device_id IN (
            SELECT id FROM device WHERE company_id = NEW.company_id AND holder_id = NEW.id AND deleted_at IS NULL
        );
        INSERT OR IGNORE INTO device_team (company_id, words, device_id)
            {_SQLITE_ROWS.format(devices="device d")} AND d.company_id = NEW.company_id AND d.holder_id = NEW.id;
    END""",
]
POSTGRESQL_TRIGGERS = [
    f"""CREATE FUNCTION device_team_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO device_team (company_id, words, device_id) {_POSTGRESQL_ROWS.format(devices="new_rows d")}
            ON CONFLICT DO NOTHING;
        RETURN NULL;
    END $$""",
    "CREATE TRIGGER device_team_insert AFTER INSERT ON device REFERENCING NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION device_team_insert()",
    f"""CREATE FUNCTION device_team_update() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        DELETE FROM device_team WHERE device_id = OLD.id;
        INSERT INTO device_team (company_id, words, device_id) {_POSTGRESQL_NEW} ON CONFLICT DO NOTHING;
        RETURN NULL;
    END $$""",
    "CREATE TRIGGER device_team_update AFTER UPDATE OF holder_id, deleted_at ON device FOR EACH ROW "
    "WHEN (OLD.holder_id IS DISTINCT FROM NEW.holder_id OR OLD.deleted_at IS DISTINCT FROM NEW.deleted_at) "
    "EXECUTE FUNCTION device_team_update()",
    """CREATE FUNCTION person_team_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO team_word (company_id, words) SELECT NEW.company_id, json_array_elements_text(NEW.team_words)
            ON CONFLICT DO NOTHING;
        RETURN NULL;
    END $$""",
    "CREATE TRIGGER person_team_insert AFTER INSERT ON person FOR EACH ROW EXECUTE FUNCTION person_team_insert()",
    f"""CREATE FUNCTION person_team_update() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO team_word (company_id, words) SELECT NEW.company_id, json_array_elements_text(NEW.team_words)
            ON CONFLICT DO NOTHING;
        DELETE FROM device_team WHERE device_id IN (
            SELECT id FROM device WHERE company_id = NEW.company_id AND holder_id = NEW.id AND deleted_at IS NULL
        );
        INSERT INTO device_team (company_id, words, device_id) {_POSTGRESQL_ROWS.format(devices="device d")}
            AND d.company_id = NEW.company_id AND d.holder_id = NEW.id ON CONFLICT DO NOTHING;
        RETURN NULL;
    END $$""",
    # json has no equality operator: compare the texts.
    "CREATE TRIGGER person_team_update AFTER UPDATE OF team_words ON person FOR EACH ROW "
    "WHEN (OLD.team_words::text IS DISTINCT FROM NEW.team_words::text) EXECUTE FUNCTION person_team_update()",
]
TRIGGERS = ("device_team_insert", "device_team_update", "person_team_insert", "person_team_update")


def _teams(value: Any) -> list[str]:
    return list(json.loads(value) if isinstance(value, str) else value or [])


def _person_words(first: str, last: str, email: str, teams: Any = ()) -> str:
    """`documents.person_search_text` of this revision (with `teams`: of 0009)."""
    return "\n".join((f"{first} {last}", email, *_teams(teams))).lower()


def _team_words(teams: Any) -> list[str]:
    """`documents.team_words` of this revision."""
    return list(dict.fromkeys(team.lower() for team in _teams(teams)))


def _batches() -> Iterator[Sequence[Any]]:
    bind = op.get_bind()
    select = sa.text(
        "SELECT id, first_name, last_name, email, teams FROM person WHERE id > :after ORDER BY id LIMIT :n"
    )
    after = 0
    while rows := bind.execute(select, {"after": after, "n": BATCH}).all():
        yield rows
        after = rows[-1][0]


def _rewrite_people(with_teams: bool) -> None:
    """Every person's words (and from this revision on, team words), computed as the application
    does; on SQLite the person index is rebuilt once afterwards instead of row by row."""
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    if sqlite:
        op.execute("DROP TRIGGER person_search_update")
    if with_teams:
        update = sa.text("UPDATE person SET search_text = :words, team_words = :teams WHERE id = :id")
        update = update.bindparams(sa.bindparam("teams", type_=sa.JSON()))
    else:
        update = sa.text("UPDATE person SET search_text = :words WHERE id = :id")
    for rows in _batches():
        values = []
        for person_id, first, last, email, teams in rows:
            if with_teams:
                words = _person_words(first, last, email)
                values.append({"id": person_id, "words": words, "teams": _team_words(teams)})
            else:
                values.append({"id": person_id, "words": _person_words(first, last, email, teams)})
        bind.execute(update, values)
    if sqlite:
        op.execute("INSERT INTO person_search (person_search) VALUES ('rebuild')")
        op.execute(
            """CREATE TRIGGER person_search_update AFTER UPDATE OF search_text ON person BEGIN
        INSERT INTO person_search (person_search, rowid, search_text) VALUES ('delete', OLD.id, OLD.search_text);
        INSERT INTO person_search (rowid, search_text) VALUES (NEW.id, NEW.search_text);
    END"""
        )


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    op.add_column("person", sa.Column("team_words", sa.JSON(), server_default="[]", nullable=False))
    op.create_table(
        "device_team",
        sa.Column("company_id", ID, nullable=False),
        sa.Column("words", sa.Text(), nullable=False),
        sa.Column("device_id", ID, nullable=False),
        sa.ForeignKeyConstraint(["company_id"], ["company.id"], name=op.f("fk_device_team_company_id_company")),
        sa.ForeignKeyConstraint(
            ["company_id", "device_id"],
            ["device.company_id", "device.id"],
            name=op.f("fk_device_team_company_id_device_id_device"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("company_id", "words", "device_id", name=op.f("pk_device_team")),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_device_team_device", "device_team", ["device_id"])
    op.create_table(
        "team_word",
        sa.Column("company_id", ID, nullable=False),
        sa.Column("words", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["company_id"], ["company.id"], name=op.f("fk_team_word_company_id_company")),
        sa.PrimaryKeyConstraint("company_id", "words", name=op.f("pk_team_word")),
        sqlite_with_rowid=False,
    )
    _rewrite_people(with_teams=True)
    if postgresql:
        op.execute(
            "INSERT INTO team_word (company_id, words) "
            "SELECT DISTINCT company_id, json_array_elements_text(team_words) FROM person ORDER BY 1, 2"
        )
        op.execute(
            f"INSERT INTO device_team (company_id, words, device_id) {_POSTGRESQL_ROWS.format(devices='device d')} "
            "ORDER BY 1, 2, 3"
        )
        for statement in POSTGRESQL_TRIGGERS:
            op.execute(statement)
    else:
        op.execute(
            "INSERT INTO team_word (company_id, words) SELECT DISTINCT p.company_id, j.value "
            "FROM person p, json_each(p.team_words) j ORDER BY 1, 2"
        )
        op.execute(
            f"INSERT INTO device_team (company_id, words, device_id) {_SQLITE_ROWS.format(devices='device d')} "
            "ORDER BY 1, 2, 3"
        )
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for name in TRIGGERS:
        table = "device" if name.startswith("device") else "person"
        op.execute(f"DROP TRIGGER {name}" + (f" ON {table}" if postgresql else ""))
        if postgresql:
            op.execute(f"DROP FUNCTION {name}()")
    op.drop_table("team_word")
    op.drop_index("ix_device_team_device", table_name="device_team")
    op.drop_table("device_team")
    _rewrite_people(with_teams=False)
    op.execute("ALTER TABLE person DROP COLUMN team_words")
