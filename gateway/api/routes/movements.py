"""`POST /stores/{store}/movements`: sales, receipts, adjustments, counts; Idempotency-Key retries replay."""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from smartstore.gateway.api.deps import RuntimeDep, SessionDep, StoreMovementPoster, StoreScope
from smartstore.gateway.api.errors import ApiError, ErrorResponse
from smartstore.gateway.api.routes.inventory import to_inventory_public
from smartstore.gateway.api.schemas import MovementCreate, MovementPublic, MovementResult
from smartstore.gateway.db.models import IdempotencyRecord, Movement
from smartstore.gateway.inventory.store import apply_movement, inventory_view

logger = logging.getLogger(__name__)

router = APIRouter(tags=["movements"])

REPLAY_HEADER = "Idempotent-Replayed"
CREATED = 201


def request_fingerprint(body: MovementCreate) -> str:
    """Hash of the normalized body: a GTIN-13 and its GTIN-14 form are the same request."""
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _replay(session: Session, key: str, scope: str, fingerprint: str) -> JSONResponse | None:
    record = session.get(IdempotencyRecord, (key, scope), populate_existing=True)
    if record is None:
        return None
    if record.request_hash != fingerprint:
        raise ApiError(
            422,
            "idempotency_key_reused",
            "this Idempotency-Key was used with a different request body; use a new key",
        )
    return JSONResponse(record.response, status_code=record.status_code, headers={REPLAY_HEADER: "true"})


def _claim(session: Session, key: str, scope: str, fingerprint: str, now: datetime) -> JSONResponse | None:
    """Insert the key's record first, so a concurrent twin blocks on it and then replays our answer."""
    session.add(
        IdempotencyRecord(
            key=key, scope=scope, request_hash=fingerprint, status_code=0, response={}, created_at=now
        )
    )
    try:
        session.flush()
    except (IntegrityError, OperationalError) as error:
        session.rollback()
        replay = _replay(session, key, scope, fingerprint)
        if replay is not None:
            logger.debug("Idempotency-Key %s: a concurrent twin applied it first; replaying", key)
            return replay
        logger.info("Idempotency-Key %s: concurrent request still running (%s)", key, type(error).__name__)
        raise ApiError(
            409, "idempotency_key_in_use", "a request with this Idempotency-Key is in progress"
        ) from None
    return None


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
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=200,
            description="Any unique string per movement.",
        ),
    ] = None,
) -> JSONResponse:
    now = datetime.now(UTC)
    fingerprint = request_fingerprint(body)
    # Keys are per caller and store: two integrators may well both use "order-1".
    key_scope = f"movements:{scope.store_id}:{scope.principal.prefix}"
    if idempotency_key is not None:
        replay = _replay(session, idempotency_key, key_scope, fingerprint) or _claim(
            session, idempotency_key, key_scope, fingerprint, now
        )
        if replay is not None:
            return replay
    result, inventory = _apply(session, scope, body, now)
    content = result.model_dump(mode="json")
    if idempotency_key is not None:
        record = session.get(IdempotencyRecord, (idempotency_key, key_scope))
        assert record is not None  # claimed above, in this transaction
        record.status_code = CREATED
        record.response = content
    session.commit()
    runtime.bus.publish("inventory", scope.store_id, inventory)
    return JSONResponse(content, status_code=CREATED)


def _apply(
    session: Session, scope: StoreScope, body: MovementCreate, now: datetime
) -> tuple[MovementResult, dict[str, object]]:
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
    )
    return result, inventory_view(row)
