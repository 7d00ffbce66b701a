"""Alert lifecycle open -> acknowledged -> cleared, with at most one live alert per (store, cause)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, TypedDict

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from smartstore.gateway.db.models import Alert
from smartstore.gateway.db.util import as_utc, begin_write, iso
from smartstore.kernel.contract.payloads import Severity

logger = logging.getLogger(__name__)

OPEN = "open"
ACKNOWLEDGED = "acknowledged"
CLEARED = "cleared"


class AlertView(TypedDict):
    """An alert as the bus carries it and the API reads it (times as ISO text)."""

    id: int
    store: str
    cause: str
    severity: str
    state: str
    message: str
    device: str | None
    opened_at: str
    acknowledged_at: str | None
    acknowledged_by: str | None
    cleared_at: str | None
    history: list[dict[str, Any]]


def _live(session: Session, store_id: str, cause: str) -> Alert | None:
    query = select(Alert).where(Alert.store_id == store_id, Alert.live_cause == cause).with_for_update()
    return session.scalars(query).first()


def _append(alert: Alert, at: datetime, event: str, **details: Any) -> None:
    # A new list: the JSON column only notices reassignment.
    alert.history = [*(alert.history or []), {"at": iso(at), "event": event, **details}]


def raise_alert(
    session: Session,
    *,
    store_id: str,
    cause: str,
    severity: Severity | str,
    message: str,
    device_id: str | None,
    at: datetime,
) -> Alert:
    """Open an alert for `cause`, or update the live one (severity, message; history grows).

    An acknowledged alert raised again stays acknowledged: someone is already on it.
    """
    level = Severity(severity).value
    begin_write(session)
    alert = _live(session, store_id, cause)
    if alert is None:
        alert = Alert(
            store_id=store_id,
            cause=cause,
            severity=level,
            state=OPEN,
            message=message,
            device_id=device_id,
            opened_at=at,
            live_cause=cause,
            history=[{"at": iso(at), "event": "raised", "severity": level, "message": message}],
        )
        try:
            # The savepoint keeps the caller's transaction usable if another writer won the race.
            with session.begin_nested():
                session.add(alert)
        except IntegrityError:
            logger.info("alert %s/%s raised concurrently; updating the live one", store_id, cause)
            alert = _live(session, store_id, cause)
            if alert is None:
                raise
        else:
            logger.info("alert opened: %s %s (%s)", store_id, cause, level)
            return alert
    alert.severity = level
    alert.message = message
    alert.device_id = device_id or alert.device_id
    _append(alert, at, "raised", severity=level, message=message)
    session.flush()
    return alert


def clear_alert(
    session: Session, *, store_id: str, cause: str, at: datetime, by: str = "system"
) -> Alert | None:
    """Clear the live alert of `cause`; None when there is none. A cleared cause can be raised anew."""
    begin_write(session)
    alert = _live(session, store_id, cause)
    if alert is None:
        return None
    alert.state = CLEARED
    alert.cleared_at = at
    alert.live_cause = None
    _append(alert, at, "cleared", by=by)
    session.flush()
    logger.info("alert cleared: %s %s by %s", store_id, cause, by)
    return alert


def acknowledge_alert(session: Session, alert_id: int, *, by: str, at: datetime) -> Alert:
    """Mark an open alert acknowledged; LookupError if unknown, ValueError if already cleared.

    Acknowledging an acknowledged alert changes nothing (retries are harmless).
    """
    begin_write(session)
    alert = session.get(Alert, alert_id, with_for_update=True)
    if alert is None:
        raise LookupError(f"no alert {alert_id}")
    if alert.state == CLEARED:
        raise ValueError(f"alert {alert_id} is already cleared")
    if alert.state == ACKNOWLEDGED:
        return alert
    alert.state = ACKNOWLEDGED
    alert.acknowledged_at = at
    alert.acknowledged_by = by
    _append(alert, at, "acknowledged", by=by)
    session.flush()
    return alert


def alert_view(alert: Alert) -> AlertView:
    return {
        "id": alert.id,
        "store": alert.store_id,
        "cause": alert.cause,
        "severity": alert.severity,
        "state": alert.state,
        "message": alert.message,
        "device": alert.device_id,
        "opened_at": as_utc(alert.opened_at).isoformat(),
        "acknowledged_at": iso(alert.acknowledged_at),
        "acknowledged_by": alert.acknowledged_by,
        "cleared_at": iso(alert.cleared_at),
        "history": list(alert.history or []),
    }
