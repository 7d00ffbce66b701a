"""`/stores/{store}/planogram`: shelves, slots with their outlines and products, and each slot's state now."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from smartstore.gateway.api.dashboard_schemas import CameraPlan, Planogram, ShelfPlan, SlotPlan
from smartstore.gateway.api.deps import SessionDep, StoreDashboardReader
from smartstore.gateway.db.models import SlotState
from smartstore.gateway.db.util import as_utc
from smartstore.kernel.contract.payloads import ShelfState

router = APIRouter(tags=["planogram"])


@router.get(
    "/stores/{store}/planogram",
    response_model=Planogram,
    summary="A store's shelves and slots (camera pixels), with the state each slot is seen in",
)
def get_planogram(scope: StoreDashboardReader, session: SessionDep) -> Planogram:
    config = scope.store
    states = {
        row.slot_id: row
        for row in session.scalars(select(SlotState).where(SlotState.store_id == scope.store_id))
    }
    shelves = []
    for shelf in config.planogram:
        slots = []
        for slot in shelf.slots:
            seen = states.get(slot.id)
            product = config.products.get(slot.gtin)
            slots.append(
                SlotPlan(
                    id=slot.id,
                    gtin=slot.gtin,
                    name=product.name if product else None,
                    facings=slot.facings,
                    capacity=slot.capacity,
                    polygon=[list(point) for point in slot.polygon],
                    state=ShelfState(seen.state) if seen else ShelfState.UNKNOWN,
                    fill=seen.fill if seen else None,
                    stale=seen.stale if seen else False,
                    since=as_utc(seen.since) if seen else None,
                    updated_at=as_utc(seen.updated_at) if seen else None,
                )
            )
        shelves.append(ShelfPlan(id=shelf.id, zone=shelf.zone, camera=shelf.camera, slots=slots))
    cameras = [
        CameraPlan(
            id=camera.id,
            width=camera.width,
            height=camera.height,
            interval_s=camera.interval_s,
            shelves=[shelf.id for shelf in config.shelves_for_camera(camera.id)],
        )
        for camera in config.devices.cameras
    ]
    return Planogram(store=scope.store_id, cameras=cameras, shelves=shelves)
