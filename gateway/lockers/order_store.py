"""Pickup orders in the database: create with an all-or-none reservation, and list them."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, lazyload

from smartstore.gateway.db import domain_events as order_events
from smartstore.gateway.db.lockers import OrderTransition, PickupOrder, PickupOrderLine
from smartstore.gateway.db.models import Inventory
from smartstore.gateway.db.util import begin_write
from smartstore.gateway.inventory import domain as inventory_domain
from smartstore.gateway.inventory.allocation import Channel, channel_figures, holdback_for
from smartstore.gateway.inventory.store import inventory_view, reserve_locked
from smartstore.gateway.lockers import domain
from smartstore.gateway.lockers.lifecycle import SOURCE_ORDER, OrderError, Outcome, transition
from smartstore.gateway.lockers.states import FulfilmentType
from smartstore.gateway.lockers.view_models import order_view
from smartstore.kernel.storeconfig import StoreConfig

logger = logging.getLogger(__name__)

MAX_LINES = 200


@dataclass(frozen=True, slots=True)
class FulfilmentDetails:
    """How a fulfilment order is fulfilled; the defaults are a locker pickup placed for no channel."""

    fulfilment: FulfilmentType = FulfilmentType.LOCKER_PICKUP
    channel: Channel | None = None
    customer_order_id: str | None = None
    slot_start: datetime | None = None
    promised_by: datetime | None = None
    expires: datetime | None = None  # default: the store's pickup expiry from now
    never_expires: bool = False  # delivery and shipping: late is an SLA alert, not an expiry

    def expires_at(self, at: datetime, pickup_expiry_hours: float) -> datetime | None:
        if self.never_expires:
            return None
        return self.expires or domain.expiry(at, pickup_expiry_hours)


# --- reading -----------------------------------------------------------------------------------


def list_orders(
    session: Session, store_id: str, states: Sequence[str] = (), limit: int = 200
) -> list[PickupOrder]:
    query = select(PickupOrder).where(PickupOrder.store_id == store_id)
    if states:
        query = query.where(PickupOrder.state.in_(states))
    query = query.order_by(PickupOrder.created_at.desc(), PickupOrder.id).limit(limit)
    return list(session.scalars(query))


# --- changing ----------------------------------------------------------------------------------


def create_order(
    session: Session,
    store: StoreConfig,
    lines: Sequence[tuple[str, int]],
    *,
    by: str,
    at: datetime,
    external_ref: str | None = None,
    how: FulfilmentDetails | None = None,
) -> Outcome:
    """Create an order and reserve every line against available_to_promise, all lines or none.

    `how` (from a customer order) set how it is fulfilled and for which channel; an online
    channel may promise only the online figure (gateway/inventory/allocation.py).

    The inventory rows are locked (FOR UPDATE on PostgreSQL, the write lock on SQLite) in GTIN
    order before they are read, so concurrent orders queue up on them and none can oversell.
    Raises OrderError 422 (bad line) or 409 (a line cannot be reserved; `details` names it).
    """
    store_id = store.store.id
    if not 1 <= len(lines) <= MAX_LINES:
        raise OrderError(422, "invalid_order", f"an order has 1-{MAX_LINES} lines")
    wanted: dict[str, int] = {}
    for number, (gtin, quantity) in enumerate(lines, start=1):
        if gtin not in store.products:
            details = [{"line": number, "gtin": gtin, "reason": "unknown_gtin"}]
            raise OrderError(422, "unknown_gtin", f"line {number}: GTIN {gtin} is not sold here", details)
        wanted[gtin] = wanted.get(gtin, 0) + quantity
    begin_write(session)
    rows = {
        row.gtin: row
        for row in session.scalars(
            select(Inventory)
            .where(Inventory.store_id == store_id, Inventory.gtin.in_(sorted(wanted)))
            .order_by(Inventory.gtin)
            .options(lazyload(Inventory.product))  # names come from the store file (inventory_view)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    }
    how = how or FulfilmentDetails()
    for number, (gtin, _quantity) in enumerate(lines, start=1):
        row = rows.get(gtin)
        available = (
            inventory_domain.available_to_promise(row.on_hand, row.reserved, row.safety_stock) if row else 0
        )
        if row is not None and how.channel is not None:
            available = channel_figures(
                available_to_promise=available,
                on_hand=row.on_hand,
                backroom=row.backroom,
                shelf_state=row.shelf_state,
                holdback=holdback_for(store.store, store.products.get(gtin)),
            ).online
        if wanted[gtin] > available:
            details = [
                {
                    "line": number,
                    "gtin": gtin,
                    "requested": wanted[gtin],
                    "available_to_promise": available,
                    "reason": "insufficient_stock",
                }
            ]
            message = (
                f"line {number} (GTIN {gtin}): {wanted[gtin]} requested, {available} available to promise"
            )
            raise OrderError(409, "insufficient_stock", message, details)
    size = domain.order_size(store.products[gtin].locker_size for gtin in wanted)
    order = PickupOrder(
        id=domain.new_order_id(),
        store_id=store_id,
        state=domain.OrderState.CREATED.value,
        external_ref=external_ref,
        size=size.value,
        expires_at=how.expires_at(at, store.store.pickup_expiry_hours),
        load_requests=0,
        pickup_requests=0,
        created_by=by[:100],
        created_at=at,
        updated_at=at,
        customer_order_id=how.customer_order_id,
        fulfilment=how.fulfilment.value,
        channel=how.channel.value if how.channel else None,
        slot_start=how.slot_start,
        promised_by=how.promised_by,
    )
    order.lines = [
        PickupOrderLine(line=number, gtin=gtin, quantity=quantity)
        for number, (gtin, quantity) in enumerate(lines, start=1)
    ]
    order.transitions = [OrderTransition(from_state=None, to_state="created", at=at, by=by[:100], note="")]
    session.add(order)
    order_events.record(
        session,
        order_events.ORDER_STATE_CHANGED,
        store=store_id,
        subject=order.id,
        data={
            "order": order.id,
            "customer_order": order.customer_order_id,
            "store": store_id,
            "fulfilment": how.fulfilment.value,
            "from": None,
            "to": "created",
            "by": by[:100],
            "at": at.isoformat(),
            "note": "",
        },
        at=at,
    )
    outcome = Outcome(order)
    for gtin, quantity in sorted(wanted.items()):
        # Every row reserved here was locked and checked above (a missing one was refused).
        row = reserve_locked(session, rows[gtin], store, delta=quantity, source=SOURCE_ORDER, at=at)
        outcome.events.append(("inventory", store_id, inventory_view(row, store)))
    transition(order, domain.OrderState.RESERVED, by=by, at=at, note=f"{sum(wanted.values())} units")
    session.flush()
    outcome.events.append(("orders", store_id, order_view(order)))
    logger.info("order %s for %s: %d lines reserved", order.id, store_id, len(lines))
    return outcome
