"""a holder's search words are the person's, not the device's

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 09:00:00

`search=` matches a device's name and serial number and its holder's name, email and teams. The
holder's words were copied into the device's `search_text`, so every change of holder (a take, a
release, an assignment) rewrote the device's row in the trigram index: on SQLite an FTS5 delete and
insert of some ninety trigrams, in the one writer's time, about as long as the rest of the write.
Now `person.search_text` holds a person's words, with a trigram index of its own (an FTS5 table on
SQLite, `pg_trgm` on PostgreSQL), and `device.search_text` its own words only; a search finds the
devices held by the people who match (`devices.Search`).

The words are computed here as the application computes them (`documents.search_text` and
`person_search_text`: Python's `lower()`, which SQL's is not), a batch of rows at a time. On
SQLite the device index is rebuilt once from the table instead of row by row.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

BATCH = 5000
DEVICE_WORDS_TRIGGER = """CREATE TRIGGER device_search_update AFTER UPDATE OF search_text ON device BEGIN
        INSERT INTO device_search (device_search, rowid, search_text) VALUES ('delete', OLD.id, OLD.search_text);
        INSERT INTO device_search (rowid, search_text) VALUES (NEW.id, NEW.search_text);
    END"""
SQLITE_PERSON_SEARCH = [
    "CREATE VIRTUAL TABLE person_search USING fts5("
    "search_text, content='person', content_rowid='id', tokenize='trigram')",
    """CREATE TRIGGER person_search_insert AFTER INSERT ON person BEGIN
        INSERT INTO person_search (rowid, search_text) VALUES (NEW.id, NEW.search_text);
    END""",
    """CREATE TRIGGER person_search_delete AFTER DELETE ON person BEGIN
        INSERT INTO person_search (person_search, rowid, search_text) VALUES ('delete', OLD.id, OLD.search_text);
    END""",
    """CREATE TRIGGER person_search_update AFTER UPDATE OF search_text ON person BEGIN
        INSERT INTO person_search (person_search, rowid, search_text) VALUES ('delete', OLD.id, OLD.search_text);
        INSERT INTO person_search (rowid, search_text) VALUES (NEW.id, NEW.search_text);
    END""",
]


def _teams(value: Any) -> list[str]:
    return list(json.loads(value) if isinstance(value, str) else value or [])


def _person_words(first: str, last: str, email: str, teams: Any) -> str:
    return "\n".join((f"{first} {last}", email, *_teams(teams))).lower()


def _device_words(name: str | None, serial: str | None, holder: tuple[Any, ...] | None = None) -> str:
    words = [name, serial]
    if holder is not None:  # the words of 0008 and before
        words += [f"{holder[0]} {holder[1]}", holder[2], *_teams(holder[3])]
    return "\n".join(w for w in words if w).lower()


def _batches(select: str) -> Iterator[Sequence[Any]]:
    """The rows of `select` (its first column an id, its last `WHERE id > :after ORDER BY id LIMIT`)."""
    bind = op.get_bind()
    after = 0
    while rows := bind.execute(sa.text(select), {"after": after, "n": BATCH}).all():
        yield rows
        after = rows[-1][0]


def _rewrite(table: str, select: str, words: Callable[[Any], str]) -> None:
    update = sa.text(f"UPDATE {table} SET search_text = :words WHERE id = :id")
    for rows in _batches(select):
        changed = [{"id": row[0], "words": w} for row in rows if (w := words(row)) != row[1]]
        if changed:
            op.get_bind().execute(update, changed)


def _device_index(rewrite: Callable[[], None]) -> None:
    """Rewrite devices' words; on SQLite without the row trigger, then rebuild the index once."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("DROP TRIGGER device_search_update")
    rewrite()
    if sqlite:
        op.execute("INSERT INTO device_search (device_search) VALUES ('rebuild')")
        op.execute(DEVICE_WORDS_TRIGGER)


def upgrade() -> None:
    op.add_column("person", sa.Column("search_text", sa.Text(), server_default="", nullable=False))
    _rewrite(
        "person",
        "SELECT id, search_text, first_name, last_name, email, teams FROM person "
        "WHERE id > :after ORDER BY id LIMIT :n",
        lambda row: _person_words(row[2], row[3], row[4], row[5]),
    )
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_PERSON_SEARCH:
            op.execute(statement)
        op.execute("INSERT INTO person_search (person_search) VALUES ('rebuild')")
    else:
        op.execute("CREATE INDEX ix_person_search_trgm ON person USING gin (search_text gin_trgm_ops)")
    select = "SELECT id, search_text, name, serial_number FROM device WHERE id > :after ORDER BY id LIMIT :n"
    _device_index(lambda: _rewrite("device", select, lambda row: _device_words(row[2], row[3])))


def downgrade() -> None:
    select = (
        "SELECT d.id, d.search_text, d.name, d.serial_number, p.first_name, p.last_name, p.email, p.teams "
        "FROM device d LEFT JOIN person p ON p.id = d.holder_id WHERE d.id > :after ORDER BY d.id LIMIT :n"
    )
    _device_index(
        lambda: _rewrite(
            "device", select, lambda row: _device_words(row[2], row[3], tuple(row[4:]) if row[4] is not None else None)
        )
    )
    if op.get_bind().dialect.name == "sqlite":
        for name in ("person_search_insert", "person_search_delete", "person_search_update"):
            op.execute(f"DROP TRIGGER {name}")
        op.execute("DROP TABLE person_search")
    else:
        op.execute("DROP INDEX ix_person_search_trgm")
    op.execute("ALTER TABLE person DROP COLUMN search_text")
