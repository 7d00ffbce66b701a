"""Placing a customer order: gather candidate locations, source, book the slot, reserve, record.

One transaction: the customer order, its fulfilment orders (one per store it is sourced from), their
reservations, the slot places and the domain events commit together or not at all. Inventory rows
are locked store by store in (store, GTIN) order, so concurrent orders (and the ingest, which locks
order rows before inventory rows) never wait on each other in a cycle.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from smartstore.gateway.db import domain_events as order_events
from smartstore.gateway.db.lockers import PickupOrder
from smartstore.gateway.db.models import Inventory
from smartstore.gateway.db.orders import CustomerOrder, SlotBooking
from smartstore.gateway.db.util import is_sqlite
from smartstore.gateway.inventory.allocation import Channel, channel_figures, holdback_for
from smartstore.gateway.lockers.domain import new_order_id
from smartstore.gateway.lockers.lifecycle import Event, OrderError
from smartstore.gateway.lockers.order_store import FulfilmentDetails, create_order
from smartstore.gateway.lockers.states import FulfilmentType
from smartstore.gateway.orders import slots
from smartstore.gateway.orders.nearest import chain_index
from smartstore.gateway.orders.sourcing import (
    COULD_INSTEAD,
    Allocation,
    Candidate,
    Decision,
    choose,
    distance_km,
)
from smartstore.kernel.storeconfig import LocationKind, StoreConfig

logger = logging.getLogger(__name__)

NEAREST = 20  # candidates looked at in a chain: the nearest eligible locations
F = FulfilmentType


@dataclass(frozen=True, slots=True)
class OrderRequest:
    channel: Channel
    fulfilment: FulfilmentType
    lines: Sequence[tuple[str, int]]
    store: str | None = None
    destination: tuple[float, float] | None = None
    slot_start: datetime | None = None
    allow_split: bool = False
    customer_ref: str | None = None
    external_ref: str | None = None


@dataclass
class Placement:
    order: CustomerOrder
    fulfilments: list[PickupOrder]
    decision: Decision
    events: list[Event] = field(default_factory=list)


def new_customer_order_id() -> str:
    """`CO-` and 8 random base32 characters, as fulfilment orders' `ORD-` ids."""
    return "CO-" + new_order_id().removeprefix("ORD-")


def _eligibility(store: StoreConfig, request: OrderRequest) -> str:
    """Why this location cannot fulfil the request ('' when it can)."""
    info = store.store
    if request.fulfilment is F.SHIP:
        return "" if store.ships else "does not ship"
    if info.kind is LocationKind.DISTRIBUTION_CENTRE:
        return "a distribution centre only ships"
    if request.fulfilment is F.LOCKER_PICKUP and not store.devices.lockers:
        return "has no pickup lockers"
    if request.fulfilment is F.COUNTER_PICKUP and info.fulfilment.counter_slot_capacity == 0:
        return "has no pickup counter"
    if request.fulfilment is F.DELIVERY:
        delivery = info.fulfilment.delivery
        if delivery is None:
            return "does not deliver"
        if info.location is None or request.destination is None:
            return "delivery needs the store's and the destination's coordinates"
        reach = distance_km((info.location.lat, info.location.lon), request.destination)
        if reach > delivery.radius_km:
            return f"destination {reach:.1f} km away, outside its {delivery.radius_km:g} km delivery area"
    return ""


def _origin(stores: Mapping[str, StoreConfig], request: OrderRequest) -> tuple[float, float] | None:
    if request.destination is not None:
        return request.destination
    chosen = stores.get(request.store or "")
    if chosen is not None and chosen.store.location is not None:
        return (chosen.store.location.lat, chosen.store.location.lon)
    return None


def _nearest(
    stores: Mapping[str, StoreConfig], request: OrderRequest
) -> list[tuple[StoreConfig, float | None, str]]:
    """(store, distance, why not) of the locations worth asking: the requested one and the nearest."""
    index = chain_index(stores)
    origin = _origin(stores, request)
    kept = index.ranked(request.fulfilment, origin, request.destination is not None, NEAREST)
    if request.store and request.store in index.position and index.position[request.store] not in kept:
        kept.append(index.position[request.store])
    rows = []
    for i in kept:
        store = index.configs[i]
        location = store.store.location
        distance = (
            None if origin is None or location is None else distance_km(origin, (location.lat, location.lon))
        )
        rows.append((store, distance, _eligibility(store, request)))
    return rows


# Read as plain columns: no ORM objects in the identity map, no selectin load of their Product.
_FIGURES = (
    Inventory.store_id,
    Inventory.gtin,
    Inventory.available_to_promise,
    Inventory.on_hand,
    Inventory.backroom,
    Inventory.shelf_state,
)


def candidates(
    session: Session, stores: Mapping[str, StoreConfig], request: OrderRequest, at: datetime
) -> list[Candidate]:
    """Every location worth asking, with its online ATP and shelf state of the order's GTINs (no locks).

    A pickup at the customer's store asks that store alone first: `choose` places a pickup nowhere
    else, and the nearest others are only needed to name alternatives in a refusal."""
    if slots.point_for(request.fulfilment) is not None and request.store in stores:
        store = stores[request.store or ""]
        alone = _asked(session, [(store, None, _eligibility(store, request))], request, at)
        wanted: dict[str, int] = {}
        for gtin, quantity in request.lines:
            wanted[gtin] = wanted.get(gtin, 0) + quantity
        if alone[0].eligible and all(alone[0].online_atp.get(g, 0) >= q for g, q in wanted.items()):
            return alone
    return _asked(session, _nearest(stores, request), request, at)


def _asked(
    session: Session,
    nearest: list[tuple[StoreConfig, float | None, str]],
    request: OrderRequest,
    at: datetime,
) -> list[Candidate]:
    gtins = sorted({gtin for gtin, _ in request.lines})
    asked = [store.store.id for store, _, why in nearest if not why]
    rows: dict[tuple[str, str], Any] = {}
    if asked:
        keys = [(s, g) for s in asked for g in gtins]
        query = select(*_FIGURES).where(tuple_(Inventory.store_id, Inventory.gtin).in_(keys))
        rows = {(row.store_id, row.gtin): row for row in session.execute(query)}
    point = slots.point_for(request.fulfilment)
    taken: dict[str, int] = {}
    if asked and point is not None and request.slot_start is not None:
        query_taken = select(SlotBooking.store_id, SlotBooking.taken).where(
            SlotBooking.store_id.in_(asked),
            SlotBooking.point == point,
            SlotBooking.starts_at == request.slot_start,
        )
        taken = {store_id: count for store_id, count in session.execute(query_taken)}
    offered: dict[tuple[object, ...], bool] = {}  # slot rules (zone, hours, length, lead) -> offers it
    found = []
    for store, distance, why in nearest:
        store_id = store.store.id
        if not why and point is not None and request.slot_start is not None:
            f = store.store.fulfilment
            rule = (
                store.store.timezone,
                f.opens,
                f.closes,
                f.slot_minutes,
                f.pick_minutes,
                f.slot_days_ahead,
            )
            if rule not in offered:
                try:
                    slots.check_slot(store, request.slot_start, at)
                    offered[rule] = True
                except slots.SlotError:
                    offered[rule] = False
            if not offered[rule]:
                why = "does not offer that slot"
            elif taken.get(store_id, 0) >= slots.capacity(store, point):
                why = "that slot is full"
        online: dict[str, int] = {}
        shelf: dict[str, str] = {}
        for gtin in gtins:
            row = rows.get((store_id, gtin))
            if row is None or gtin not in store.products:
                online[gtin], shelf[gtin] = 0, "unknown"
                continue
            figures = channel_figures(
                available_to_promise=row.available_to_promise,
                on_hand=row.on_hand,
                backroom=row.backroom,
                shelf_state=row.shelf_state,
                holdback=holdback_for(store.store, store.products[gtin]),
            )
            online[gtin], shelf[gtin] = figures.online, row.shelf_state
        found.append(Candidate(store_id, distance, online, shelf, eligible=not why, why_not=why))
    return found


def _book_slot(session: Session, store: StoreConfig, point: str, start: datetime) -> None:
    """Take one place of the slot, atomically; OrderError 409 when it is full."""
    dialect = sqlite if is_sqlite(session) else postgresql
    row = {
        "store_id": store.store.id,
        "point": point,
        "starts_at": start,
        "capacity": slots.capacity(store, point),
    }
    session.execute(dialect.insert(SlotBooking).values(taken=0, **row).on_conflict_do_nothing())
    taken = session.execute(
        update(SlotBooking)
        .where(
            SlotBooking.store_id == store.store.id,
            SlotBooking.point == point,
            SlotBooking.starts_at == start,
            SlotBooking.taken < SlotBooking.capacity,
        )
        .values(taken=SlotBooking.taken + 1)
        .returning(SlotBooking.taken)
        .execution_options(synchronize_session=False)
    ).scalar()
    if taken is None:
        raise OrderError(
            409, "slot_full", f"the {point} slot at {start.isoformat()} in {store.store.id} is full"
        )


def _details(store: StoreConfig, request: OrderRequest, order_id: str, at: datetime) -> FulfilmentDetails:
    fulfilment = store.store.fulfilment
    promised_by = None
    expires = None
    never = request.fulfilment in (F.DELIVERY, F.SHIP)
    if request.fulfilment is F.DELIVERY and fulfilment.delivery is not None:
        promised_by = at + timedelta(minutes=fulfilment.delivery.promise_minutes)
    if request.slot_start is not None and request.fulfilment is F.COUNTER_PICKUP:
        end = slots.check_slot(store, request.slot_start, at)
        expires = end + timedelta(minutes=fulfilment.no_show_grace_minutes)
    return FulfilmentDetails(
        fulfilment=request.fulfilment,
        channel=request.channel,
        customer_order_id=order_id,
        slot_start=request.slot_start,
        promised_by=promised_by,
        expires=expires,
        never_expires=never,
    )


def place_order(
    session: Session, stores: Mapping[str, StoreConfig], request: OrderRequest, *, by: str, at: datetime
) -> Placement:
    """Source and reserve a customer order; OrderError (nothing kept) when it cannot be placed."""
    if request.fulfilment is F.DELIVERY and request.destination is None:
        raise OrderError(422, "destination_required", "a delivery needs the destination's lat and lon")
    if request.store is not None and request.store not in stores:
        raise OrderError(404, "unknown_store", f"no store {request.store!r} here (or not for this key)")
    if request.slot_start is not None and slots.point_for(request.fulfilment) is None:
        raise OrderError(
            422, "slot_not_applicable", f"a {request.fulfilment.value} order takes no pickup slot"
        )
    if request.slot_start is not None and request.store is not None:
        try:
            slots.check_slot(stores[request.store], request.slot_start, at)
        except slots.SlotError as error:
            raise OrderError(422, "invalid_slot", str(error)) from None
    found = candidates(session, stores, request, at)
    decision = choose(
        request.lines,
        found,
        fulfilment=request.fulfilment,
        requested=request.store,
        allow_split=request.allow_split,
    )
    if not decision.placed:
        requested = next((c for c in found if c.store == request.store), None)
        if requested is None or not requested.eligible:
            raise OrderError(409, "no_source", _refusal(request, decision), [decision.as_dict()])
        # The chosen store can take the order but may lack stock: reserving there gives the exact
        # answer per line, under the lock; stores that could take it instead are named with it.
        decision = Decision(
            "requested_store",
            (
                Allocation(
                    requested.store,
                    tuple(request.lines),
                    requested.distance_km,
                    0.0,
                    ("chosen by the customer",),
                ),
            ),
            decision.considered,
            decision.rejected,
        )
    order_id = new_customer_order_id()
    order = CustomerOrder(
        id=order_id,
        channel=request.channel.value,
        customer_ref=request.customer_ref,
        external_ref=request.external_ref,
        fulfilment=request.fulfilment.value,
        requested_store=request.store,
        allow_split=request.allow_split,
        destination=None
        if request.destination is None
        else {"lat": request.destination[0], "lon": request.destination[1]},
        lines=[{"gtin": g, "quantity": q} for g, q in request.lines],
        sourcing=decision.as_dict(),
        created_by=by[:100],
        created_at=at,
    )
    session.add(order)
    placement = Placement(order, [], decision)
    point = slots.point_for(request.fulfilment)
    for allocation in sorted(decision.allocations, key=lambda a: a.store):
        store = stores[allocation.store]
        try:
            outcome = create_order(
                session,
                store,
                list(allocation.lines),
                by=by,
                at=at,
                external_ref=request.external_ref,
                how=_details(store, request, order_id, at),
            )
        except OrderError as error:
            instead = [{"store": s, "reason": r} for s, r in decision.rejected if r == COULD_INSTEAD]
            if instead and error.details is not None:
                error.details.append({"reason": "alternatives", "stores": instead})
            raise
        if point is not None and request.slot_start is not None:
            _book_slot(session, store, point, request.slot_start)
        assert outcome.order is not None
        placement.fulfilments.append(outcome.order)
        placement.events.extend(outcome.events)
    order_events.record(
        session,
        order_events.ORDER_CREATED,
        store=None,
        subject=order_id,
        data={
            "order": order_id,
            "channel": request.channel.value,
            "fulfilment": request.fulfilment.value,
            "fulfilments": [{"id": f.id, "store": f.store_id} for f in placement.fulfilments],
            "sourcing": decision.as_dict(),
        },
        at=at,
    )
    session.flush()
    logger.info(
        "order %s (%s, %s): %s", order_id, request.channel.value, request.fulfilment.value, decision.strategy
    )
    return placement


def _refusal(request: OrderRequest, decision: Decision) -> str:
    short = ", ".join(f"{g} x{q}" for g, q in decision.shortfall.items())
    where = f"store {request.store}" if request.store else f"{decision.considered} locations"
    return f"no {request.fulfilment.value} source for every line in {where} (short: {short or 'none'})"
