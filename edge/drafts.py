"""Signals as processors draft them: envelope fields with `seq` 0, which the outbox stamps on storing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from smartstore.kernel.contract.payloads import envelope


def draft(now: float) -> dict[str, Any]:
    """Envelope fields of a signal a processor emits; the outbox stamps the real `seq` when it stores it."""
    return envelope(0, datetime.fromtimestamp(now, UTC))
