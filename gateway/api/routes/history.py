"""`/stores/{store}/history/…`: series for the dashboard's charts (availability, out-of-stock periods)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from smartstore.gateway.api.dashboard_schemas import OosHistory, OosPeriod, OsaHistory, OsaPoint
from smartstore.gateway.api.deps import SessionDep, StoreDashboardReader
from smartstore.gateway.db.util import utc_now
from smartstore.gateway.restock import kpis

router = APIRouter(prefix="/stores/{store}/history", tags=["dashboard"])
Hours = Annotated[float, Query(gt=0, le=24 * 7, description="How far back, in hours.")]


@router.get("/osa", response_model=OsaHistory, summary="On-shelf availability sampled over time")
def osa_history(scope: StoreDashboardReader, session: SessionDep, hours: Hours = 12) -> OsaHistory:
    now = utc_now()
    points = kpis.osa_history(session, scope.store, now - timedelta(hours=hours), now)
    return OsaHistory(store=scope.store_id, points=[OsaPoint.model_validate(p) for p in points])


@router.get("/oos", response_model=OosHistory, summary="Out-of-stock periods of slots, longest first")
def oos_history(
    scope: StoreDashboardReader,
    session: SessionDep,
    hours: Hours = 12,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> OosHistory:
    now = utc_now()
    periods = kpis.oos_durations(session, scope.store, now - timedelta(hours=hours), now, limit)
    return OosHistory(store=scope.store_id, periods=[OosPeriod.model_validate(p) for p in periods])
