"""ownership spans found by their end: taking and releasing stay O(log n) in a device's history

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 07:50:00

The span in force now, and the spans a new one could overlap, were found through
`ix_ownership_device (device_id, start_time)` with `start_time <= :t`: every span a device ever had.
A device taken and released ten thousand times made each take read ten thousand rows (1 ms per
statement on SQLite, three such statements per take / release). A span in force, or one a new span
could overlap, either has no end (the partial unique index `uq_ownership_open`) or ends after the
instant in question: `ix_ownership_device_end (device_id, end_time)` reads only those. On SQLite the
overlap triggers are rewritten as the same two index lookups (the same rule, term by term).
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# Two spans of a device overlap iff both are non-empty, each starts before the other ends (an
# open end is +infinity). Split by whether the stored span is open: open ones through
# `uq_ownership_open`, closed ones (which then end after NEW starts) through the new index.
_OVERLAP = """
    SELECT RAISE(ABORT, 'ownership spans of one device may not overlap')
    WHERE (NEW.end_time IS NULL OR NEW.start_time < NEW.end_time) AND (
        EXISTS (
            SELECT 1 FROM ownership o
            WHERE o.device_id = NEW.device_id AND o.end_time IS NULL AND o.id IS NOT NEW.id
              AND (NEW.end_time IS NULL OR o.start_time < NEW.end_time))
        OR EXISTS (
            SELECT 1 FROM ownership o
            WHERE o.device_id = NEW.device_id AND o.end_time > NEW.start_time AND o.id IS NOT NEW.id
              AND o.start_time < o.end_time
              AND (NEW.end_time IS NULL OR o.start_time < NEW.end_time)));
"""
# Migration 0001's form, for the downgrade.
_OVERLAP_0001 = """
    SELECT RAISE(ABORT, 'ownership spans of one device may not overlap')
    WHERE (NEW.end_time IS NULL OR NEW.start_time < NEW.end_time) AND EXISTS (
        SELECT 1 FROM ownership o
        WHERE o.device_id = NEW.device_id AND o.id IS NOT NEW.id
          AND (o.end_time IS NULL OR o.start_time < o.end_time)
          AND (NEW.end_time IS NULL OR o.start_time < NEW.end_time)
          AND (o.end_time IS NULL OR NEW.start_time < o.end_time));
"""


def _triggers(body: str) -> None:
    op.execute("DROP TRIGGER ownership_no_overlap_insert")
    op.execute("DROP TRIGGER ownership_no_overlap_update")
    op.execute(f"CREATE TRIGGER ownership_no_overlap_insert BEFORE INSERT ON ownership BEGIN {body} END")
    op.execute(
        "CREATE TRIGGER ownership_no_overlap_update BEFORE UPDATE OF device_id, start_time, end_time "
        f"ON ownership BEGIN {body} END"
    )


def upgrade() -> None:
    op.create_index("ix_ownership_device_end", "ownership", ["device_id", "end_time"])
    if op.get_bind().dialect.name == "sqlite":
        _triggers(_OVERLAP)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _triggers(_OVERLAP_0001)
    op.drop_index("ix_ownership_device_end", table_name="ownership")
