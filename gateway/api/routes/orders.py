"""Customer orders from every channel: place (sourced, reserved, all or nothing), read, cancel; slots."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from smartstore.gateway.api.deps import RuntimeDep, SessionDep, StoreScope, require, require_store
from smartstore.gateway.api.errors import ApiError, ErrorResponse
from smartstore.gateway.api.idempotency import IdempotencyDep
from smartstore.gateway.api.locker_schemas import FulfilmentName, OrderList, OrderStateName
from smartstore.gateway.api.order_schemas import (
    ChannelName,
    CustomerOrderPublic,
    OrderCreate,
    PickupSlotList,
)
from smartstore.gateway.api.routes.pickup_orders import order_error
from smartstore.gateway.db.lockers import PickupOrder
from smartstore.gateway.db.orders import CustomerOrder, SlotBooking
from smartstore.gateway.db.util import as_utc, iso, utc_now
from smartstore.gateway.inventory.allocation import Channel
from smartstore.gateway.lockers.lifecycle import Event, OrderError, cancel_order
from smartstore.gateway.lockers.states import FulfilmentType
from smartstore.gateway.lockers.view_models import order_view
from smartstore.gateway.orders import slots
from smartstore.gateway.orders.placement import OrderRequest, place_order
from smartstore.gateway.orders.views import customer_order_view, fulfilments_of
from smartstore.gateway.runtime import GatewayRuntime
from smartstore.gateway.security import Permission, Principal

logger = logging.getLogger(__name__)

router = APIRouter(tags=["orders"])
CREATED = 201
_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"model": ErrorResponse},
    404: {"model": ErrorResponse},
    409: {
        "model": ErrorResponse,
        "description": "No location can fill it, a slot is full, or a state forbids it.",
    },
}
Creator = Annotated[Principal, Depends(require(Permission.CREATE_ORDERS))]
Reader = Annotated[Principal, Depends(require(Permission.READ_ORDERS))]
Canceller = Annotated[Principal, Depends(require(Permission.CANCEL_ORDERS))]
StoreOrderReader = Annotated[StoreScope, Depends(require_store(Permission.READ_ORDERS))]


def _who(principal: Principal) -> str:
    return f"{principal.name} ({principal.prefix})"[:100]


def _publish(runtime: GatewayRuntime, events: list[Event]) -> None:
    for type_, store, data in events:
        runtime.bus.publish(type_, store, data)


def _visible(principal: Principal, runtime: GatewayRuntime) -> dict[str, Any]:
    return {store_id: config for store_id, config in runtime.stores.items() if principal.can_access(store_id)}


def _load(
    session: Session, principal: Principal, order_id: str, *, lock: bool = False
) -> tuple[CustomerOrder, list[PickupOrder]]:
    order = session.get(CustomerOrder, order_id)
    fulfilments = fulfilments_of(session, order_id, lock=lock) if order is not None else []
    # A store-bound key sees only orders fulfilled in its store; others are "not found", not "forbidden".
    if order is None or not all(principal.can_access(f.store_id) for f in fulfilments):
        raise ApiError(404, "unknown_order", f"no order {order_id!r}")
    return order, fulfilments


@router.post(
    "/orders",
    status_code=CREATED,
    response_model=CustomerOrderPublic,
    responses={
        **_ERRORS,
        400: {"model": ErrorResponse, "description": "No Idempotency-Key header."},
        422: {
            "model": ErrorResponse,
            "description": "Invalid body, unknown GTIN, slot not offered, key reused.",
        },
    },
    summary="Place an order from any channel: sourced to the best store(s), every line reserved or none",
)
def create_order(
    principal: Creator,
    runtime: RuntimeDep,
    session: SessionDep,
    body: OrderCreate,
    idempotency: IdempotencyDep,
) -> JSONResponse:
    if idempotency.key is None:
        raise ApiError(400, "idempotency_key_required", "send an Idempotency-Key header with each new order")
    now = utc_now()
    replay = idempotency.replay_or_claim(f"orders:{principal.prefix}", body, now)
    if replay is not None:
        return replay
    request = OrderRequest(
        channel=Channel(body.channel),
        fulfilment=FulfilmentType(body.fulfilment),
        lines=[(line.gtin, line.quantity) for line in body.lines],
        store=body.store,
        destination=(body.destination.lat, body.destination.lon) if body.destination else None,
        slot_start=as_utc(body.slot) if body.slot else None,
        allow_split=body.allow_split,
        customer_ref=body.customer_ref,
        external_ref=body.external_ref,
    )
    try:
        placement = place_order(session, _visible(principal, runtime), request, by=_who(principal), at=now)
    except OrderError as error:
        session.rollback()  # nothing kept, the key's claim included: a retry is judged again
        raise order_error(error) from None
    content = CustomerOrderPublic.model_validate(
        customer_order_view(placement.order, placement.fulfilments)
    ).model_dump(mode="json", by_alias=True)
    idempotency.remember(CREATED, content)
    session.commit()
    _publish(runtime, placement.events)
    return JSONResponse(content, status_code=CREATED)


@router.get(
    "/orders/{order}",
    response_model=CustomerOrderPublic,
    responses=_ERRORS,
    summary="One customer order with its sourcing decision and fulfilments",
)
def read_order(principal: Reader, session: SessionDep, order: str) -> dict[str, Any]:
    found, fulfilments = _load(session, principal, order)
    return customer_order_view(found, fulfilments)


@router.post(
    "/orders/{order}/cancel",
    response_model=CustomerOrderPublic,
    responses=_ERRORS,
    summary="Cancel every fulfilment of an order (all or none): reservations and slots are released",
)
def cancel(principal: Canceller, runtime: RuntimeDep, session: SessionDep, order: str) -> dict[str, Any]:
    found, fulfilments = _load(session, principal, order, lock=True)
    now = utc_now()
    events: list[Event] = []
    try:
        for fulfilment in fulfilments:
            if fulfilment.state in ("cancelled", "expired"):
                continue
            outcome = cancel_order(
                session, runtime.stores[fulfilment.store_id], fulfilment.id, by=_who(principal), at=now
            )
            release_slot(session, fulfilment, now)
            events.extend(outcome.events)
    except OrderError as error:
        session.rollback()
        raise order_error(error) from None
    view = customer_order_view(found, fulfilments)
    session.commit()
    _publish(runtime, events)
    return view


def release_slot(session: Session, fulfilment: PickupOrder, now: Any) -> None:
    """Give back the slot place of an order stopped before its slot began."""
    if fulfilment.slot_start is None or as_utc(fulfilment.slot_start) <= now:
        return
    point = slots.point_for(FulfilmentType(fulfilment.fulfilment or "locker_pickup"))
    if point is None:
        return
    booking = session.get(
        SlotBooking, (fulfilment.store_id, point, fulfilment.slot_start), with_for_update=True
    )
    if booking is not None and booking.taken > 0:
        booking.taken -= 1


@router.get(
    "/stores/{store}/orders",
    response_model=OrderList,
    responses=_ERRORS,
    summary="A store's fulfilment orders across channels and ways of fulfilling, newest first",
)
def list_store_orders(
    scope: StoreOrderReader,
    session: SessionDep,
    state: Annotated[
        list[OrderStateName] | None, Query(description="Only these states (repeatable).")
    ] = None,
    fulfilment: Annotated[list[FulfilmentName] | None, Query(description="Only these (repeatable).")] = None,
    channel: Annotated[list[ChannelName] | None, Query(description="Only these (repeatable).")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> dict[str, Any]:
    query = select(PickupOrder).where(PickupOrder.store_id == scope.store_id)
    if state:
        query = query.where(PickupOrder.state.in_(list(state)))
    if fulfilment:
        kinds = list(fulfilment)
        legacy = PickupOrder.fulfilment.is_(None) if "locker_pickup" in kinds else None
        condition = PickupOrder.fulfilment.in_(kinds)
        query = query.where(condition | legacy if legacy is not None else condition)
    if channel:
        query = query.where(PickupOrder.channel.in_(list(channel)))
    rows = list(session.scalars(query.order_by(PickupOrder.created_at.desc(), PickupOrder.id).limit(limit)))
    return {"items": [order_view(row) for row in rows], "total": len(rows)}


@router.get(
    "/stores/{store}/pickup-slots",
    response_model=PickupSlotList,
    responses=_ERRORS,
    summary="Bookable pickup slots of a store's counter or lockers, with places left",
)
def pickup_slots(
    scope: StoreOrderReader,
    session: SessionDep,
    fulfilment: Annotated[Literal["counter_pickup", "locker_pickup"], Query()] = "counter_pickup",
    days: Annotated[int, Query(ge=1, le=60)] = 2,
) -> dict[str, Any]:
    store = scope.store
    point = slots.point_for(FulfilmentType(fulfilment))
    assert point is not None
    now = utc_now()
    horizon = now + timedelta(days=days)
    offered = [(s, e) for s, e in slots.bookable(store, now) if s < horizon]
    taken = {
        as_utc(row.starts_at): row.taken
        for row in session.scalars(
            select(SlotBooking).where(
                SlotBooking.store_id == scope.store_id,
                SlotBooking.point == point,
                SlotBooking.starts_at >= now,
            )
        )
    }
    capacity = slots.capacity(store, point)
    items = [
        {
            "start": iso(s),
            "end": iso(e),
            "capacity": capacity,
            "taken": taken.get(s, 0),
            "available": max(0, capacity - taken.get(s, 0)),
        }
        for s, e in offered
    ]
    return {
        "store": scope.store_id,
        "point": point,
        "slot_minutes": store.store.fulfilment.slot_minutes,
        "items": items,
    }
