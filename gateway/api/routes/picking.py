"""Picking: pick lists by zone and shelf, the RFID pick check, and short picks that re-source."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from smartstore.gateway.api.deps import RuntimeDep, SessionDep, StoreScope, require_store
from smartstore.gateway.api.errors import ErrorResponse
from smartstore.gateway.api.picking_schemas import PickCheck, PickList, ShortPickCreate, ShortPickResult
from smartstore.gateway.api.routes.orders import release_slot
from smartstore.gateway.api.routes.pickup_orders import order_error
from smartstore.gateway.db.util import iso, utc_now
from smartstore.gateway.lockers.lifecycle import OrderError
from smartstore.gateway.lockers.view_models import order_view
from smartstore.gateway.orders.picking import ShortPick, pick_check, pick_list, short_pick
from smartstore.gateway.security import Permission

logger = logging.getLogger(__name__)

router = APIRouter(tags=["orders"])
Fulfiller = Annotated[StoreScope, Depends(require_store(Permission.FULFIL_ORDERS))]
_ERRORS: dict[int | str, dict[str, Any]] = {403: {"model": ErrorResponse}, 404: {"model": ErrorResponse}}


@router.get(
    "/stores/{store}/pick-list",
    response_model=PickList,
    responses=_ERRORS,
    summary="Orders still to pick, most urgent first, with shelves, counts and RFID checks; by zone",
)
def read_pick_list(scope: Fulfiller, session: SessionDep) -> dict[str, Any]:
    return pick_list(session, scope.store) | {"generated_at": iso(utc_now())}


@router.get(
    "/stores/{store}/orders/{order}/pick-check",
    response_model=PickCheck,
    responses=_ERRORS,
    summary="RFID pick check of one order: its lines counted in the locker/staging zones, wrong items",
)
def read_pick_check(scope: Fulfiller, session: SessionDep, order: str) -> dict[str, Any]:
    try:
        return pick_check(session, scope.store, order)
    except OrderError as error:
        raise order_error(error) from None


def _message(result: ShortPick) -> str:
    """What happened, in a sentence: a short pick is never silent."""
    head = f"{sum(result.missing.values())} missing units taken out of {result.order.id}"
    if result.cancelled:
        head += "; nothing was left, so it is cancelled"
    if result.outcome == "resourced":
        return head + "; re-sourced to " + ", ".join(f"{o.store_id} ({o.id})" for o in result.resourced)
    if result.outcome == "alternatives":
        stores = ", ".join(a["store"] for a in result.alternatives)
        return f"{head}; the customer may collect them at {stores} instead"
    why = ""
    if result.decision is not None and result.decision.rejected:
        why = " (" + "; ".join(f"{s}: {r}" for s, r in result.decision.rejected[:3]) + ")"
    return f"{head}; no other location can fill them{why}"


@router.post(
    "/stores/{store}/orders/{order}/short-pick",
    response_model=ShortPickResult,
    responses={
        **_ERRORS,
        409: {"model": ErrorResponse, "description": "The order is no longer reserved or picking."},
        422: {"model": ErrorResponse, "description": "A GTIN the order lacks, or more missing than ordered."},
    },
    summary="Report units not found: they leave the order and are re-sourced, or alternatives offered",
)
def post_short_pick(
    scope: Fulfiller, runtime: RuntimeDep, session: SessionDep, order: str, body: ShortPickCreate
) -> dict[str, Any]:
    principal = scope.principal
    now = utc_now()
    try:
        result = short_pick(
            session,
            runtime.stores,
            scope.store,
            order,
            [(line.gtin, line.missing) for line in body.lines],
            by=f"{principal.name} ({principal.prefix})",
            at=now,
        )
        if result.cancelled:
            release_slot(session, result.order, now)
    except OrderError as error:
        session.rollback()
        raise order_error(error) from None
    view = {
        "order": order_view(result.order),
        "missing": [{"gtin": g, "quantity": q} for g, q in result.missing.items()],
        "cancelled": result.cancelled,
        "outcome": result.outcome,
        "resourced": [order_view(o) for o in result.resourced],
        "alternatives": result.alternatives,
        "sourcing": result.decision.as_dict() if result.decision is not None else None,
        "message": _message(result),
    }
    session.commit()
    for type_, store, data in result.events:
        runtime.bus.publish(type_, store, data)
    logger.info("short pick of %s in %s: %s", order, scope.store_id, view["message"])
    return view
