"""Pickup orders in the database: create with an all-or-none reservation, cancel, expire, views."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from smartstore.gateway.db.lockers import CompartmentState, OrderTransition, PickupOrder, PickupOrderLine
from smartstore.gateway.db.models import Inventory
from smartstore.gateway.db.util import as_utc, begin_write, iso
from smartstore.gateway.inventory import domain as inventory_domain
from smartstore.gateway.inventory.store import apply_reservation, inventory_view
from smartstore.gateway.lockers import domain
from smartstore.gateway.monitoring.alerts import alert_view, raise_alert
from smartstore.kernel.storeconfig import StoreConfig

logger = logging.getLogger(__name__)

Event = tuple[str, str | None, dict[str, Any]]  # bus (type, store, data), published after the commit
SOURCE_ORDER = "order"
MAX_LINES = 200


class OrderError(Exception):
    """A request the order rules refuse; the API turns it into its JSON error with `status`."""

    def __init__(
        self, status: int, code: str, message: str, details: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


@dataclass
class Outcome:
    """An order after a change, and what to publish once the transaction is committed."""

    order: PickupOrder | None = None
    events: list[Event] = field(default_factory=list)
    lockers: set[tuple[str, str]] = field(default_factory=set)  # (store, locker) manifests to refresh


# --- reading -----------------------------------------------------------------------------------


def get_order(session: Session, store_id: str, order_id: str, *, lock: bool = False) -> PickupOrder:
    """The order, locked FOR UPDATE when asked (PostgreSQL; SQLite callers hold the write lock)."""
    if lock:
        begin_write(session)
    order = session.get(PickupOrder, order_id, with_for_update=lock, populate_existing=lock)
    if order is None or order.store_id != store_id:
        raise OrderError(404, "unknown_order", f"no pickup order {order_id!r} in store {store_id!r}")
    return order


def list_orders(
    session: Session, store_id: str, states: Sequence[str] = (), limit: int = 200
) -> list[PickupOrder]:
    query = select(PickupOrder).where(PickupOrder.store_id == store_id)
    if states:
        query = query.where(PickupOrder.state.in_(states))
    query = query.order_by(PickupOrder.created_at.desc(), PickupOrder.id).limit(limit)
    return list(session.scalars(query))


def order_view(order: PickupOrder, *, history: bool = True) -> dict[str, Any]:
    """The JSON shape of an order for the API and the bus: never its code, hash or lookup key."""
    view: dict[str, Any] = {
        "id": order.id,
        "store": order.store_id,
        "state": order.state,
        "external_ref": order.external_ref,
        "size": order.size,
        "locker": order.locker_id,
        "compartment": order.compartment_id,
        "door_number": domain.door_number(order.compartment_id) if order.compartment_id else None,
        "code_issued": order.code_hash is not None,
        "code_used_at": iso(order.code_used_at),
        "expires_at": iso(order.expires_at),
        "lines": [{"gtin": line.gtin, "quantity": line.quantity} for line in order.lines],
        "created_at": iso(order.created_at),
        "created_by": order.created_by,
        "updated_at": iso(order.updated_at),
    }
    if history:
        view["transitions"] = [
            {"from": t.from_state, "to": t.to_state, "at": iso(t.at), "by": t.by, "note": t.note}
            for t in order.transitions
        ]
    return view


# --- changing ----------------------------------------------------------------------------------


def transition(
    order: PickupOrder, target: domain.OrderState, *, by: str, at: datetime, note: str = ""
) -> None:
    """Move the order one step (TransitionError if the table forbids it) and record who and when."""
    current = domain.OrderState(order.state)
    domain.check_transition(current, target)
    order.transitions.append(
        OrderTransition(from_state=current.value, to_state=target.value, at=at, by=by[:100], note=note)
    )
    order.state = target.value
    order.updated_at = at
    if target in domain.FINAL:
        order.code_lookup = None  # the code dies with the order, and its value is free again


def create_order(
    session: Session,
    store: StoreConfig,
    lines: Sequence[tuple[str, int]],
    *,
    by: str,
    at: datetime,
    external_ref: str | None = None,
) -> Outcome:
    """Create an order and reserve every line against available_to_promise, all lines or none.

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
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    }
    for number, (gtin, _quantity) in enumerate(lines, start=1):
        row = rows.get(gtin)
        available = (
            inventory_domain.available_to_promise(row.on_hand, row.reserved, row.safety_stock) if row else 0
        )
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
        expires_at=domain.expiry(at, store.store.pickup_expiry_hours),
        load_requests=0,
        pickup_requests=0,
        created_by=by[:100],
        created_at=at,
        updated_at=at,
    )
    order.lines = [
        PickupOrderLine(line=number, gtin=gtin, quantity=quantity)
        for number, (gtin, quantity) in enumerate(lines, start=1)
    ]
    order.transitions = [OrderTransition(from_state=None, to_state="created", at=at, by=by[:100], note="")]
    session.add(order)
    outcome = Outcome(order)
    for gtin, quantity in sorted(wanted.items()):
        row = apply_reservation(session, store, gtin=gtin, delta=quantity, source=SOURCE_ORDER, at=at)
        outcome.events.append(("inventory", store_id, inventory_view(row)))
    transition(order, domain.OrderState.RESERVED, by=by, at=at, note=f"{sum(wanted.values())} units")
    session.flush()
    outcome.events.append(("orders", store_id, order_view(order)))
    logger.info("order %s for %s: %d lines reserved", order.id, store_id, len(lines))
    return outcome


def release_reservation(
    session: Session, store: StoreConfig, order: PickupOrder, at: datetime
) -> list[Event]:
    """Give the order's units back to available_to_promise (the caller holds the order's lock)."""
    wanted: dict[str, int] = {}
    for line in order.lines:
        wanted[line.gtin] = wanted.get(line.gtin, 0) + line.quantity
    events: list[Event] = []
    for gtin, quantity in sorted(wanted.items()):
        if gtin not in store.products:
            continue  # left the catalog since; nothing to give back
        row = apply_reservation(session, store, gtin=gtin, delta=-quantity, source=SOURCE_ORDER, at=at)
        events.append(("inventory", store.store.id, inventory_view(row)))
    return events


def start_picking(session: Session, store: StoreConfig, order_id: str, *, by: str, at: datetime) -> Outcome:
    order = get_order(session, store.store.id, order_id, lock=True)
    _step(order, domain.OrderState.PICKING, by=by, at=at)
    return Outcome(order, [("orders", store.store.id, order_view(order))])


def _step(order: PickupOrder, target: domain.OrderState, *, by: str, at: datetime, note: str = "") -> None:
    try:
        transition(order, target, by=by, at=at, note=note)
    except domain.TransitionError as error:
        raise OrderError(409, "invalid_transition", str(error)) from None


def _end(
    session: Session,
    store: StoreConfig,
    order: PickupOrder,
    target: domain.OrderState,
    *,
    by: str,
    at: datetime,
    note: str,
) -> Outcome:
    """Cancel or expire: release the reservation; a compartment holding it is flagged to be emptied."""
    store_id = store.store.id
    held = domain.OrderState(order.state) in domain.HOLDS_RESERVATION
    _step(order, target, by=by, at=at, note=note)
    outcome = Outcome(order)
    if held:
        outcome.events.extend(release_reservation(session, store, order, at))
    if order.locker_id and order.compartment_id:
        compartment = session.get(
            CompartmentState, (store_id, order.locker_id, order.compartment_id), with_for_update=True
        )
        if compartment is not None and compartment.order_id == order.id:
            # It stays assigned until an associate has taken the goods out and cleared the flag.
            compartment.needs_attention = f"{target.value}: take out {order.id}"
            compartment.updated_at = at
            outcome.events.append(("lockers", store_id, compartment_view(compartment)))
            outcome.lockers.add((store_id, order.locker_id))
    session.flush()
    outcome.events.append(("orders", store_id, order_view(order)))
    return outcome


def cancel_order(session: Session, store: StoreConfig, order_id: str, *, by: str, at: datetime) -> Outcome:
    order = get_order(session, store.store.id, order_id, lock=True)
    return _end(session, store, order, domain.OrderState.CANCELLED, by=by, at=at, note="cancelled")


def expire_due(
    session: Session, stores: dict[str, StoreConfig], at: datetime, limit: int = 100
) -> list[Outcome]:
    """Expire orders whose time is up: release, flag the compartment, raise an alert for an associate.

    Call it on a session with nothing pending: it ends the read transaction before taking the lock.
    """
    holding = [state.value for state in domain.HOLDS_RESERVATION]
    overdue = PickupOrder.state.in_(holding), PickupOrder.expires_at <= at
    # A lock-free look first: on SQLite the write lock would stall the ingest every sweep for nothing.
    if session.scalar(select(PickupOrder.id).where(*overdue).limit(1)) is None:
        return []
    session.rollback()
    begin_write(session)
    due = session.scalars(
        select(PickupOrder)
        .where(*overdue)
        .order_by(PickupOrder.id)
        .limit(limit)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    outcomes = []
    for order in due:
        store = stores.get(order.store_id)
        if store is None:
            continue  # a store this gateway no longer serves: leave its orders alone
        deadline = iso(order.expires_at)
        outcome = _end(
            session, store, order, domain.OrderState.EXPIRED, by="gateway", at=at, note=f"due {deadline}"
        )
        where = f" in {order.locker_id}/{order.compartment_id}" if order.compartment_id else ""
        if where:
            message = f"pickup order {order.id} was not collected by {deadline}; take it out{where}"
        else:
            message = f"pickup order {order.id} was not loaded by {deadline}; its stock is released"
        alert = raise_alert(
            session,
            store_id=order.store_id,
            cause=f"locker.order_expired:{order.id}",
            severity="warning",
            message=message,
            device_id=order.locker_id,
            at=at,
        )
        outcome.events.append(("alert", order.store_id, alert_view(alert)))
        outcomes.append(outcome)
        logger.info("order %s expired (due %s)%s", order.id, deadline, where)
    return outcomes


def compartment_view(row: CompartmentState) -> dict[str, Any]:
    return {
        "store": row.store_id,
        "locker": row.locker_id,
        "compartment": row.compartment_id,
        "door_number": domain.door_number(row.compartment_id),
        "size": row.size,
        "in_service": row.in_service,
        "occupied": row.occupied,
        "door_open": row.door_open,
        "order": row.order_id,
        "needs_attention": row.needs_attention,
        "updated_at": iso(as_utc(row.updated_at)),
    }
