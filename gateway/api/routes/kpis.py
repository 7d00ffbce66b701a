"""`/stores/{store}/kpis`: the dashboard header's figures, computed on request."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import func, select

from smartstore.gateway.api.dashboard_schemas import Kpis
from smartstore.gateway.api.deps import SessionDep, StoreDashboardReader
from smartstore.gateway.api.routes.devices import store_devices
from smartstore.gateway.db.restock import RestockTask
from smartstore.gateway.db.util import utc_now
from smartstore.gateway.restock import domain as rules
from smartstore.gateway.restock import kpis

router = APIRouter(tags=["dashboard"])


@router.get("/stores/{store}/kpis", response_model=Kpis, summary="A store's key figures now")
def get_kpis(scope: StoreDashboardReader, session: SessionDep) -> Kpis:
    now = utc_now()
    config = scope.store
    availability = kpis.store_availability(session, config)
    today = kpis.replenish_durations(session, scope.store_id, rules.start_of_day(now, config.store.timezone))
    open_tasks = session.scalar(
        select(func.count()).where(
            RestockTask.store_id == scope.store_id, RestockTask.state != rules.TaskState.CLOSED.value
        )
    )
    pickups = kpis.pickup_counts(session, scope.store_id, now)
    devices = store_devices(session, config)
    return Kpis(
        store=scope.store_id,
        at=now,
        osa=availability.osa,
        slots_planned=availability.planned,
        slots_ok=availability.ok,
        slots_low=availability.low,
        slots_empty=availability.empty,
        slots_unknown=availability.unknown,
        open_oos_slots=availability.empty,
        open_tasks=int(open_tasks or 0),
        mean_time_to_replenish_s=rules.mean_seconds(today),
        replenished_today=len(today),
        pickups_waiting=pickups["waiting"] if pickups else None,
        pickups_overdue=pickups["overdue"] if pickups else None,
        devices=len(devices),
        devices_offline=sum(device.state != "online" for device in devices),
    )
