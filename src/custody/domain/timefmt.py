"""Instants: aware UTC in Python, rendered with `Z` as the seeds show them."""

from __future__ import annotations

import re
from datetime import UTC, datetime

# Seed 000's date-time pattern, leap-year aware, UTC only.
DATE_TIME_PATTERN = (
    r"^(?:(?:\d\d[2468][048]|\d\d[13579][26]|\d\d0[48]|[02468][048]00|[13579][26]00)-02-29|\d{4}-"
    r"(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)|(?:02)-"
    r"(?:0[1-9]|1\d|2[0-8])))T(?:(?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d+)?)?(?:Z))$"
)
_DATE_TIME = re.compile(DATE_TIME_PATTERN)


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso_z(value: datetime | None) -> str | None:
    """`2023-11-07T05:31:56Z`: second precision, UTC."""
    if value is None:
        return None
    # isoformat, not strftime: `%Y` does not pad years before 1000 to four digits on every platform.
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def parse_iso_z(text: str) -> datetime:
    """Accept exactly what seed 000's pattern accepts (so `2023-02-29T00:00:00Z` is refused).
    The whole text must match: Python's `$` would also accept a trailing newline."""
    if not _DATE_TIME.fullmatch(text):
        raise ValueError(f"{text!r} is not a UTC date-time like 2023-11-07T05:31:56Z")
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
