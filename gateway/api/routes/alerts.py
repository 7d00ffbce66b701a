"""Alerts: a store's list by state, and the acknowledge / clear steps of their lifecycle."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, cast

from fastapi import APIRouter, Query
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from smartstore.gateway.api.deps import (
    AlertManager,
    Offset,
    RowId,
    RuntimeDep,
    SessionDep,
    StoreAlertsReader,
    check_store,
)
from smartstore.gateway.api.errors import ApiError, ErrorResponse
from smartstore.gateway.api.schemas import MAX_PAGE, AlertPublic, AlertState, Page
from smartstore.gateway.db.models import Alert
from smartstore.gateway.monitoring.alerts import acknowledge_alert, alert_view, clear_alert
from smartstore.gateway.runtime import GatewayRuntime
from smartstore.gateway.security import Principal

router = APIRouter(tags=["alerts"])
_ERRORS: dict[int | str, dict[str, object]] = {
    403: {"model": ErrorResponse},
    404: {"model": ErrorResponse},
    409: {"model": ErrorResponse},
}


def to_alert_public(alert: Alert) -> AlertPublic:
    return AlertPublic(
        id=alert.id,
        store=alert.store_id,
        cause=alert.cause,
        severity=alert.severity,
        state=cast(AlertState, alert.state),
        message=alert.message,
        device=alert.device_id,
        opened_at=alert.opened_at,
        acknowledged_at=alert.acknowledged_at,
        acknowledged_by=alert.acknowledged_by,
        cleared_at=alert.cleared_at,
        history=alert.history or [],
    )


@router.get(
    "/stores/{store}/alerts", response_model=Page[AlertPublic], summary="A store's alerts, newest first"
)
def list_alerts(
    scope: StoreAlertsReader,
    session: SessionDep,
    state: Annotated[list[AlertState] | None, Query(description="Only these states (repeatable).")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    offset: Offset = 0,
) -> Page[AlertPublic]:
    conditions = [Alert.store_id == scope.store_id]
    if state:
        conditions.append(Alert.state.in_(state))
    total = session.scalar(select(func.count()).select_from(Alert).where(*conditions)) or 0
    rows = session.scalars(
        select(Alert)
        .where(*conditions)
        .order_by(Alert.opened_at.desc(), Alert.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return Page[AlertPublic](
        items=[to_alert_public(a) for a in rows], total=total, limit=limit, offset=offset
    )


def _alert_for(session: Session, runtime: GatewayRuntime, principal: Principal, alert_id: int) -> Alert:
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise ApiError(404, "unknown_alert", f"no alert {alert_id}")
    check_store(principal, runtime, alert.store_id)
    return alert


@router.post(
    "/alerts/{alert_id}/acknowledge",
    response_model=AlertPublic,
    responses=_ERRORS,
    summary="Acknowledge an open alert (again: no change)",
)
def acknowledge(
    principal: AlertManager, runtime: RuntimeDep, session: SessionDep, alert_id: RowId
) -> AlertPublic:
    alert = _alert_for(session, runtime, principal, alert_id)
    if alert.state == "cleared":
        raise ApiError(409, "alert_cleared", f"alert {alert_id} is cleared already")
    if alert.state == "acknowledged":
        return to_alert_public(alert)
    try:
        alert = acknowledge_alert(session, alert_id, by=principal.name, at=datetime.now(UTC))
    except (ValueError, LookupError) as error:
        session.rollback()
        raise ApiError(409, "alert_conflict", str(error)) from None
    session.commit()
    runtime.bus.publish("alert", alert.store_id, alert_view(alert))
    return to_alert_public(alert)


@router.post(
    "/alerts/{alert_id}/clear",
    response_model=AlertPublic,
    responses=_ERRORS,
    summary="Clear an open or acknowledged alert (again: no change)",
)
def clear(principal: AlertManager, runtime: RuntimeDep, session: SessionDep, alert_id: RowId) -> AlertPublic:
    alert = _alert_for(session, runtime, principal, alert_id)
    if alert.state == "cleared":
        return to_alert_public(alert)
    try:
        cleared = clear_alert(
            session, store_id=alert.store_id, cause=alert.cause, at=datetime.now(UTC), by=principal.name
        )
    except (ValueError, LookupError) as error:
        session.rollback()
        raise ApiError(409, "alert_conflict", str(error)) from None
    session.commit()
    alert = cleared if cleared is not None and cleared.id == alert_id else _reloaded(session, alert_id)
    runtime.bus.publish("alert", alert.store_id, alert_view(alert))
    return to_alert_public(alert)


def _reloaded(session: Session, alert_id: int) -> Alert:
    alert = session.get(Alert, alert_id, populate_existing=True)
    if alert is None:  # deleted between the clear and now: nothing sensible to show
        raise ApiError(404, "unknown_alert", f"no alert {alert_id}")
    return alert
