"""Alert lifecycle on real databases: one live alert per cause, acknowledge, clear, raise again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from gateway_helpers import STORE
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from smartstore.gateway.db.models import Alert
from smartstore.gateway.monitoring.alerts import acknowledge_alert, alert_view, clear_alert, raise_alert
from smartstore.gateway.runtime import GatewayRuntime

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
CAUSE = "rfid.zone_low:aisle-1"


def _raise(
    runtime: GatewayRuntime, severity: str = "warning", message: str = "low", at: datetime = T0
) -> Alert:
    with runtime.sessions() as session:
        alert = raise_alert(
            session,
            store_id=STORE,
            cause=CAUSE,
            severity=severity,
            message=message,
            device_id="reader-1",
            at=at,
        )
        session.commit()
        return alert


def _count(runtime: GatewayRuntime, **where: object) -> int:
    with runtime.sessions() as session:
        query = select(func.count()).select_from(Alert).filter_by(**where)
        return int(session.scalar(query) or 0)


def test_raising_a_live_cause_updates_it_instead_of_adding_a_row(runtime: GatewayRuntime) -> None:
    first = _raise(runtime)
    second = _raise(runtime, severity="critical", message="empty", at=T0 + timedelta(minutes=1))
    assert second.id == first.id
    assert _count(runtime) == 1
    view = alert_view(second)
    assert (view["state"], view["severity"], view["message"]) == ("open", "critical", "empty")
    assert [entry["event"] for entry in view["history"]] == ["raised", "raised"]
    assert view["opened_at"] == T0.isoformat()


def test_acknowledge_then_clear_then_raise_anew(runtime: GatewayRuntime) -> None:
    alert = _raise(runtime)
    with runtime.sessions() as session:
        acked = acknowledge_alert(session, alert.id, by="anna", at=T0 + timedelta(minutes=2))
        session.commit()
    assert (acked.state, acked.acknowledged_by) == ("acknowledged", "anna")
    # Raised again while someone is on it: still acknowledged, history grows.
    assert _raise(runtime).state == "acknowledged"

    with runtime.sessions() as session:
        cleared = clear_alert(session, store_id=STORE, cause=CAUSE, at=T0 + timedelta(minutes=3))
        session.commit()
    assert cleared is not None
    assert (cleared.state, cleared.live_cause) == ("cleared", None)
    assert [entry["event"] for entry in cleared.history] == ["raised", "acknowledged", "raised", "cleared"]

    again = _raise(runtime, at=T0 + timedelta(minutes=4))
    assert again.id != alert.id
    assert again.state == "open"
    assert _count(runtime) == 2
    assert _count(runtime, state="cleared") == 1


def test_clear_without_live_alert_is_none(runtime: GatewayRuntime) -> None:
    with runtime.sessions() as session:
        assert clear_alert(session, store_id=STORE, cause=CAUSE, at=T0) is None


def test_acknowledge_unknown_or_cleared_alert_fails(runtime: GatewayRuntime) -> None:
    with runtime.sessions() as session, pytest.raises(LookupError):
        acknowledge_alert(session, 999_999, by="anna", at=T0)
    alert = _raise(runtime)
    with runtime.sessions() as session:
        clear_alert(session, store_id=STORE, cause=CAUSE, at=T0)
        session.commit()
    with runtime.sessions() as session, pytest.raises(ValueError, match="cleared"):
        acknowledge_alert(session, alert.id, by="anna", at=T0)


def test_acknowledging_twice_is_harmless(runtime: GatewayRuntime) -> None:
    alert = _raise(runtime)
    for _ in range(2):
        with runtime.sessions() as session:
            acked = acknowledge_alert(session, alert.id, by="anna", at=T0)
            session.commit()
    assert [entry["event"] for entry in acked.history] == ["raised", "acknowledged"]


def test_database_refuses_a_second_live_alert_per_cause(runtime: GatewayRuntime) -> None:
    _raise(runtime)
    with runtime.sessions() as session:
        session.add(
            Alert(
                store_id=STORE,
                cause=CAUSE,
                severity="info",
                state="open",
                message="",
                opened_at=T0,
                live_cause=CAUSE,
                history=[],
            )
        )
        with pytest.raises(IntegrityError):
            session.commit()


def test_unknown_severity_is_refused(runtime: GatewayRuntime) -> None:
    with pytest.raises(ValueError, match=r"severity|valid"):
        _raise(runtime, severity="apocalyptic")
