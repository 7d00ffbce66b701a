"""`POST /stores/{store}/movements`: sales, receipts, adjustments, counts; Idempotency-Key retries replay."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from smartstore.gateway.api.deps import RuntimeDep, SessionDep, StoreMovementPoster, StoreScope
from smartstore.gateway.api.errors import ApiError, ErrorResponse
from smartstore.gateway.api.idempotency import IdempotencyDep
from smartstore.gateway.api.routes.inventory import to_inventory_public
from smartstore.gateway.api.schemas import MovementCreate, MovementPublic, MovementResult
from smartstore.gateway.db.models import Movement
from smartstore.gateway.inventory import domain
from smartstore.gateway.inventory.store import InventoryView, apply_movement, inventory_view

logger = logging.getLogger(__name__)

router = APIRouter(tags=["movements"])

CREATED = 201
_RFID_NOTE = (
    "this product is RFID-tagged and {zone} is read by RFID: on hand there follows the RFID count, so the "
    "next RFID snapshot of {zone} replaces this figure with the tags it reads"
)


@router.post(
    "/stores/{store}/movements",
    status_code=CREATED,
    response_model=MovementResult,
    responses={
        403: {"model": ErrorResponse},
        404: {"model": ErrorResponse},
        409: {
            "model": ErrorResponse,
            "description": "The same Idempotency-Key is being processed right now.",
        },
        422: {
            "model": ErrorResponse,
            "description": "Invalid body, or Idempotency-Key reused with another body.",
        },
    },
    summary="Post a stock movement; a retry with the same Idempotency-Key is applied once",
)
def post_movement(
    scope: StoreMovementPoster,
    runtime: RuntimeDep,
    session: SessionDep,
    body: MovementCreate,
    idempotency: IdempotencyDep,
) -> JSONResponse:
    now = datetime.now(UTC)
    # Keys are per caller and store: two integrators may well both use "order-1".
    key_scope = f"movements:{scope.store_id}:{scope.principal.prefix}"
    replay = idempotency.replay_or_claim(key_scope, body, now)
    if replay is not None:
        return replay
    result, inventory = _apply(session, scope, body, now)
    content = result.model_dump(mode="json")
    idempotency.remember(CREATED, content)
    session.commit()
    runtime.bus.publish("inventory", scope.store_id, inventory)
    return JSONResponse(content, status_code=CREATED)


def _apply(
    session: Session, scope: StoreScope, body: MovementCreate, now: datetime
) -> tuple[MovementResult, InventoryView]:
    if body.gtin not in scope.store.products:
        session.rollback()
        raise ApiError(422, "unknown_gtin", f"GTIN {body.gtin} is not in the catalog of {scope.store_id!r}")
    if body.zone is not None and body.zone not in scope.store.zones_by_id:
        session.rollback()
        raise ApiError(422, "unknown_zone", f"no zone {body.zone!r} in store {scope.store_id!r}")
    created_by = f"{scope.principal.name} ({scope.principal.prefix})"[:100]
    movement = Movement(
        store_id=scope.store_id,
        gtin=body.gtin,
        type=body.type,
        zone_id=body.zone,
        quantity=body.quantity,
        created_at=now,
        created_by=created_by,
    )
    session.add(movement)
    try:
        row = apply_movement(
            session,
            scope.store,
            gtin=body.gtin,
            type=body.type,
            quantity=body.quantity,
            zone=body.zone,
            source="pos" if body.type == "sale" else "manual",
            at=now,
        )
    except ValueError as error:
        session.rollback()
        raise ApiError(422, "invalid_movement", str(error)) from None
    session.flush()
    zone = body.zone or domain.default_zone(scope.store, body.type)
    counted = domain.rfid_counted(scope.store, body.gtin, zone)
    result = MovementResult(
        movement=MovementPublic(
            id=movement.id,
            store=scope.store_id,
            type=body.type,
            gtin=body.gtin,
            quantity=body.quantity,
            zone=body.zone,
            created_at=now,
            created_by=created_by,
        ),
        inventory=to_inventory_public(row),
        rfid_counted=counted,
        note=_RFID_NOTE.format(zone=zone) if counted else None,
    )
    return result, inventory_view(row)
