"""Typed settings read from the environment; the embedded SQLite file is the default store."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def default_data_dir() -> Path:
    """`$CUSTODY_DATA_DIR`, else `$XDG_DATA_HOME/custody`, else `~/.local/share/custody`."""
    explicit = os.environ.get("CUSTODY_DATA_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "custody"


SQLITE_SYNCHRONOUS = ("FULL", "NORMAL")


def _count_from_env(name: str, default: int) -> int:
    """A whole number >= 0 from `$name`, else `default`; a wrong value stops startup, naming the variable."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not {raw!r}") from None
    if value < 0:
        raise ValueError(f"{name} must be 0 (off) or more, not {value}")
    return value


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str
    company_devices_base: str = "/platform/v1"
    ownership_base: str = "/v1"
    device_management_base: str = ""  # the root: `PATCH /devices/{deviceId}`
    # Requests per minute per API key on the ownership API; 0 turns the limit off. 600 (10/s) is 6x the
    # 100/min a comparable vendor API allows: an integration paging through a fleet never meets it,
    # while one runaway client can take only a small share of a worker.
    ownership_rate_limit: int = 600
    # SQLite's `synchronous` in WAL mode. FULL (the default): a 2xx means the write is on disk, one
    # fsync per commit. NORMAL: no fsync per commit; a crash of Custody loses nothing, a power cut may
    # lose the last commits (never the database's consistency). SQLite recommends NORMAL with WAL.
    sqlite_synchronous: str = "FULL"

    @classmethod
    def from_env(cls) -> Settings:
        url = os.environ.get("CUSTODY_DATABASE_URL")
        if not url:
            url = f"sqlite:///{default_data_dir() / 'custody.sqlite3'}"
        return cls(
            database_url=url,
            company_devices_base=os.environ.get("CUSTODY_COMPANY_DEVICES_BASE", "/platform/v1").rstrip("/"),
            ownership_base=os.environ.get("CUSTODY_OWNERSHIP_BASE", "/v1").rstrip("/"),
            device_management_base=os.environ.get("CUSTODY_DEVICE_MANAGEMENT_BASE", "").rstrip("/"),
            ownership_rate_limit=_count_from_env("CUSTODY_OWNERSHIP_RATE_LIMIT", 600),
            sqlite_synchronous=_synchronous_from_env(),
        )


def _synchronous_from_env() -> str:
    raw = os.environ.get("CUSTODY_SQLITE_SYNCHRONOUS", "FULL").strip().upper() or "FULL"
    if raw not in SQLITE_SYNCHRONOUS:
        raise ValueError(f"CUSTODY_SQLITE_SYNCHRONOUS must be FULL or NORMAL, not {raw!r}")
    return raw
