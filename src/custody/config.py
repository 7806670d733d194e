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


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str
    company_devices_base: str = "/platform/v1"
    ownership_base: str = "/v1"

    @classmethod
    def from_env(cls) -> Settings:
        url = os.environ.get("CUSTODY_DATABASE_URL")
        if not url:
            url = f"sqlite:///{default_data_dir() / 'custody.sqlite3'}"
        return cls(
            database_url=url,
            company_devices_base=os.environ.get("CUSTODY_COMPANY_DEVICES_BASE", "/platform/v1").rstrip("/"),
            ownership_base=os.environ.get("CUSTODY_OWNERSHIP_BASE", "/v1").rstrip("/"),
        )
