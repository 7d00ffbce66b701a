"""Domain events: written in the caller's transaction, so a change and its event commit together."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from smartstore.gateway.db.orders import DomainEvent

ORDER_CREATED = "order.created"
ORDER_STATE_CHANGED = "order.state_changed"
ORDER_REMINDER = "order.pickup_reminder"
ORDER_AT_RISK = "order.promise_at_risk"
CHANNEL_ATP_CHANGED = "inventory.channel_atp_changed"


def record(
    session: Session, type_: str, *, store: str | None, subject: str, data: Mapping[str, Any], at: datetime
) -> DomainEvent:
    """Add one event to the session (not flushed); its id is a fresh UUID."""
    event = DomainEvent(
        id=str(uuid.uuid4()), type=type_, store_id=store, subject=subject, data=dict(data), at=at
    )
    session.add(event)
    return event


def event_row(
    type_: str, *, store: str | None, subject: str, data: Mapping[str, Any], at: datetime
) -> dict[str, Any]:
    """The same event as a plain row, for the ingest's bulk insert."""
    return {
        "id": str(uuid.uuid4()),
        "type": type_,
        "store_id": store,
        "subject": subject,
        "data": dict(data),
        "at": at,
    }
