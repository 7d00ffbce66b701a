"""`/stores/{store}/telemetry/rfid`: the edge's latest RFID reader summaries and their read rates."""

from __future__ import annotations

from fastapi import APIRouter

from smartstore.gateway.api.dashboard_schemas import RfidTelemetryPublic
from smartstore.gateway.api.deps import RuntimeDep, StoreDashboardReader

router = APIRouter(tags=["dashboard"])


@router.get(
    "/stores/{store}/telemetry/rfid",
    response_model=RfidTelemetryPublic,
    summary="Latest RFID telemetry per reader with a read-rate series (in memory, since start)",
)
def rfid_telemetry(scope: StoreDashboardReader, runtime: RuntimeDep) -> RfidTelemetryPublic:
    return RfidTelemetryPublic.model_validate(runtime.telemetry.store_view(scope.store_id))
