"""The wall clock every component stamps events and rows with: aware datetimes in UTC."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)
