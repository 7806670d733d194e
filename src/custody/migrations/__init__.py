"""Alembic migrations, shipped inside the package so an installed Custody can upgrade its database."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

HERE = Path(__file__).parent
PG_LOCK_KEY = 0x637573746F6479  # "custody": one migrator at a time when many workers start


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    config = alembic_config(engine)
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": PG_LOCK_KEY})
            try:
                config.attributes["connection"] = conn
                command.upgrade(config, revision)
                conn.commit()
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": PG_LOCK_KEY})
                conn.commit()
    else:
        with engine.connect() as conn:
            # SQLite's way to change a table's constraints is to rebuild it (Alembic's batch mode),
            # which must run with foreign keys off, outside any transaction, and be checked after.
            raw = conn.connection.driver_connection
            assert raw is not None
            raw.execute("PRAGMA foreign_keys=OFF")
            try:
                config.attributes["connection"] = conn
                command.upgrade(config, revision)
                conn.commit()
                broken = raw.execute("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"migration left broken references: {broken[:5]}")
            finally:
                raw.execute("PRAGMA foreign_keys=ON")
