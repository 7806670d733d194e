"""The Alembic migrations and the models describe the same schema, on both databases."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from custody.db.engine import Database
from custody.db.models import Base

# Made by the migration's own dialect-specific SQL and unknown to the models on purpose: the search
# indexes (SQLite FTS5 table and its shadow tables, PostgreSQL pg_trgm GIN index).
OUTSIDE_MODELS = {"table": ("device_search",), "index": ("ix_device_search_trgm",)}


def _include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    return not (name is not None and name.startswith(OUTSIDE_MODELS.get(type_, ())))


def test_migrations_match_the_models(db: Database) -> None:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "include_object": _include})
        assert compare_metadata(context, Base.metadata) == []
