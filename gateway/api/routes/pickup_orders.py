"""Pickup orders (the locker case of /api/v1/orders): create (all lines or none; Idempotency-Key), list,
read, cancel, load."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from smartstore.gateway.api.deps import RuntimeDep, SessionDep, StoreScope, require_store
from smartstore.gateway.api.errors import ApiError, ErrorResponse
from smartstore.gateway.api.idempotency import IdempotencyDep
from smartstore.gateway.api.locker_schemas import (
    LoadRequest,
    LoadResult,
    OrderList,
    OrderStateName,
    PickupOrderCreate,
    PickupOrderPublic,
)
from smartstore.gateway.db.lockers import CompartmentState, PickupOrder
from smartstore.gateway.db.util import utc_now
from smartstore.gateway.inventory.allocation import Channel
from smartstore.gateway.lockers import domain
from smartstore.gateway.lockers.compartments import load_order
from smartstore.gateway.lockers.lifecycle import OrderError, Outcome, cancel_order, get_order, start_picking
from smartstore.gateway.lockers.order_store import list_orders
from smartstore.gateway.lockers.states import FulfilmentType
from smartstore.gateway.lockers.view_models import OrderView, compartment_view, order_view
from smartstore.gateway.orders.placement import OrderRequest, place_order
from smartstore.gateway.runtime import GatewayRuntime
from smartstore.gateway.security import Permission
from smartstore.kernel import pickup_codes

logger = logging.getLogger(__name__)

router = APIRouter(tags=["pickup orders"])
CREATED = 201
NO_STORE = {"Cache-Control": "no-store"}
_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"model": ErrorResponse},
    404: {"model": ErrorResponse},
    409: {"model": ErrorResponse, "description": "Not allowed in the order's state, or no stock/room."},
}

OrderReader = Annotated[StoreScope, Depends(require_store(Permission.READ_ORDERS))]
OrderCreator = Annotated[StoreScope, Depends(require_store(Permission.CREATE_ORDERS))]
OrderCanceller = Annotated[StoreScope, Depends(require_store(Permission.CANCEL_ORDERS))]
LockerManager = Annotated[StoreScope, Depends(require_store(Permission.MANAGE_LOCKERS))]


def who(scope: StoreScope) -> str:
    return f"{scope.principal.name} ({scope.principal.prefix})"[:100]


def order_error(error: OrderError) -> ApiError:
    return ApiError(error.status, error.code, error.message, details=error.details)


def move_order(session: Session, runtime: GatewayRuntime, apply: Callable[[], Outcome]) -> OrderView:
    """Move one order on (cancel, pick, ship…), commit, then announce it; a refused move changes nothing."""
    try:
        outcome = apply()
    except OrderError as error:
        session.rollback()
        raise order_error(error) from None
    assert outcome.order is not None
    view = detail(session, outcome.order)
    session.commit()
    publish(runtime, outcome)
    return view


def publish(runtime: GatewayRuntime, outcome: Outcome) -> None:
    """After the commit: SSE events, and the manifests of the lockers the change touched."""
    if runtime.lockers is not None:
        runtime.lockers.publish(outcome)
        return
    for type_, store, data in outcome.events:
        runtime.bus.publish(type_, store, data)


def detail(session: Session, order: PickupOrder) -> OrderView:
    view = order_view(order)
    view["compartment_state"] = None
    if order.locker_id and order.compartment_id:
        row = session.get(CompartmentState, (order.store_id, order.locker_id, order.compartment_id))
        if row is not None and row.order_id == order.id:
            view["compartment_state"] = compartment_view(row)
    return view


@router.post(
    "/stores/{store}/pickup-orders",
    status_code=CREATED,
    response_model=PickupOrderPublic,
    responses={
        **_ERRORS,
        400: {"model": ErrorResponse, "description": "No Idempotency-Key header."},
        422: {"model": ErrorResponse, "description": "Invalid body or unknown GTIN, or key reused."},
    },
    summary="Create a pickup order, reserving every line or none; retries with the same key replay",
)
def create_pickup_order(
    scope: OrderCreator,
    runtime: RuntimeDep,
    session: SessionDep,
    body: PickupOrderCreate,
    idempotency: IdempotencyDep,
) -> JSONResponse:
    if idempotency.key is None:
        raise ApiError(400, "idempotency_key_required", "send an Idempotency-Key header with each new order")
    now = utc_now()
    key_scope = f"pickup-orders:{scope.store_id}:{scope.principal.prefix}"
    replay = idempotency.replay_or_claim(key_scope, body, now)
    if replay is not None:
        return replay
    # One system: this route places a web customer order for a locker pickup in this store, the
    # same as POST /api/v1/orders would, and answers with its one fulfilment order as it always did.
    request = OrderRequest(
        channel=Channel.WEB,
        fulfilment=FulfilmentType.LOCKER_PICKUP,
        lines=[(line.gtin, line.quantity) for line in body.lines],
        store=scope.store_id,
        external_ref=body.external_ref,
    )
    try:
        placement = place_order(session, {scope.store_id: scope.store}, request, by=who(scope), at=now)
    except OrderError as error:
        # Nothing is kept, the key's claim included: a retry after a restock is judged again.
        session.rollback()
        raise order_error(error) from None
    [order] = placement.fulfilments
    content = PickupOrderPublic.model_validate(detail(session, order)).model_dump(mode="json", by_alias=True)
    idempotency.remember(CREATED, content)
    session.commit()
    publish(runtime, Outcome(order, placement.events))
    return JSONResponse(content, status_code=CREATED)


@router.get(
    "/stores/{store}/pickup-orders",
    response_model=OrderList,
    responses=_ERRORS,
    summary="A store's pickup orders, newest first",
)
def list_pickup_orders(
    scope: OrderReader,
    session: SessionDep,
    state: Annotated[
        list[OrderStateName] | None, Query(description="Only these states (repeatable).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> dict[str, Any]:
    states = list(state or [])
    query = select(func.count()).select_from(PickupOrder).where(PickupOrder.store_id == scope.store_id)
    if states:
        query = query.where(PickupOrder.state.in_(states))
    total = session.scalar(query) or 0
    items = [order_view(order) for order in list_orders(session, scope.store_id, states, limit)]
    return {"items": items, "total": total}


@router.get(
    "/stores/{store}/pickup-orders/{order}",
    response_model=PickupOrderPublic,
    responses=_ERRORS,
    summary="One pickup order with its lines, history and compartment",
)
def read_pickup_order(scope: OrderReader, session: SessionDep, order: str) -> OrderView:
    try:
        found = get_order(session, scope.store_id, order)
    except OrderError as error:
        raise order_error(error) from None
    return detail(session, found)


@router.post(
    "/stores/{store}/pickup-orders/{order}/cancel",
    response_model=PickupOrderPublic,
    responses=_ERRORS,
    summary="Cancel an order: its reservation is released; a loaded compartment is flagged to be emptied",
)
def cancel_pickup_order(
    scope: OrderCanceller, runtime: RuntimeDep, session: SessionDep, order: str
) -> OrderView:
    return move_order(
        session, runtime, lambda: cancel_order(session, scope.store, order, by=who(scope), at=utc_now())
    )


@router.post(
    "/stores/{store}/pickup-orders/{order}/pick",
    response_model=PickupOrderPublic,
    responses=_ERRORS,
    summary="An associate starts picking the order (reserved -> picking)",
)
def pick_pickup_order(
    scope: LockerManager, runtime: RuntimeDep, session: SessionDep, order: str
) -> OrderView:
    return move_order(
        session, runtime, lambda: start_picking(session, scope.store, order, by=who(scope), at=utc_now())
    )


@router.post(
    "/stores/{store}/pickup-orders/{order}/load",
    response_model=LoadResult,
    responses={
        **_ERRORS,
        503: {"model": ErrorResponse, "description": "`locker_offline`: the bank or the link is down."},
    },
    summary="Put the order into the best-fit free compartment, open it, and issue the pickup code (once)",
)
def load_pickup_order(
    scope: LockerManager,
    runtime: RuntimeDep,
    session: SessionDep,
    order: str,
    body: LoadRequest | None = None,
) -> JSONResponse:
    link = runtime.lockers
    if link is None or not link.connected:
        raise ApiError(503, "locker_offline", "the gateway has no link to the lockers; try again shortly")
    try:
        loading = load_order(
            session,
            scope.store,
            order,
            by=who(scope),
            at=utc_now(),
            secret=link.secret,
            locker=body.locker if body else None,
        )
    except OrderError as error:
        session.rollback()
        raise order_error(error) from None
    assert loading.outcome.order is not None
    view = detail(session, loading.outcome.order)
    session.commit()
    sent = link.open_door(scope.store_id, loading.locker, loading.compartment, loading.request)
    publish(runtime, loading.outcome)
    result = LoadResult(
        order=PickupOrderPublic.model_validate(view),
        locker=loading.locker,
        compartment=loading.compartment,
        door_number=domain.door_number(loading.compartment),
        code=loading.code,
        qr=pickup_codes.qr_payload(loading.code),
        request=loading.request,
        command_sent=sent,
    )
    # The code is in this answer and nowhere else: no cache may keep it.
    return JSONResponse(result.model_dump(mode="json", by_alias=True), headers=NO_STORE)
