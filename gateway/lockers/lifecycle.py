"""The one door of order state changes: the pure lifecycle of domain.py applied to order rows.

Every change of `PickupOrder.state` goes through `transition` here, whoever asks: the API (pick,
load, cancel), the locker link (a door closing with the goods inside, the expiry sweep) and the
ingest (the edge's pickup signals). Each step is recorded with who, when and why, and comes back
with the bus events to publish once the caller has committed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from smartstore.gateway.db import domain_events as order_events
from smartstore.gateway.db.lockers import CompartmentState, OrderTransition, PickupOrder
from smartstore.gateway.db.util import as_utc, begin_write, iso
from smartstore.gateway.inventory.store import apply_reservation, inventory_view
from smartstore.gateway.lockers import domain
from smartstore.gateway.lockers.states import LEAVES_LOCKER_AS, FulfilmentType
from smartstore.gateway.lockers.view_models import compartment_view, order_view
from smartstore.gateway.monitoring.alerts import alert_view, raise_alert
from smartstore.kernel.storeconfig import StoreConfig

logger = logging.getLogger(__name__)

Event = tuple[str, str | None, Mapping[str, Any]]  # bus (type, store, data), published after the commit
SOURCE_ORDER = "order"


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


def get_order(session: Session, store_id: str, order_id: str, *, lock: bool = False) -> PickupOrder:
    """The order, locked FOR UPDATE when asked (PostgreSQL; SQLite callers hold the write lock)."""
    if lock:
        begin_write(session)
    order = session.get(PickupOrder, order_id, with_for_update=lock, populate_existing=lock)
    if order is None or order.store_id != store_id:
        raise OrderError(404, "unknown_order", f"no pickup order {order_id!r} in store {store_id!r}")
    return order


def fulfilment_of(order: PickupOrder) -> FulfilmentType:
    """Rows made before omnichannel orders have no fulfilment: they are locker pickups."""
    return FulfilmentType(order.fulfilment or FulfilmentType.LOCKER_PICKUP.value)


def transition(
    order: PickupOrder, target: domain.OrderState, *, by: str, at: datetime, note: str = ""
) -> None:
    """Move the order one step (TransitionError if the table forbids it) and record who and when."""
    current = domain.OrderState(order.state)
    domain.check_transition(current, target, fulfilment_of(order))
    order.transitions.append(
        OrderTransition(from_state=current.value, to_state=target.value, at=at, by=by[:100], note=note)
    )
    order.state = target.value
    order.updated_at = at
    session = object_session(order)
    if session is None:
        raise RuntimeError(f"order {order.id} must be in a session to change state")
    order_events.record(
        session,
        order_events.ORDER_STATE_CHANGED,
        store=order.store_id,
        subject=order.id,
        data={
            "order": order.id,
            "customer_order": order.customer_order_id,
            "store": order.store_id,
            "fulfilment": fulfilment_of(order).value,
            "from": current.value,
            "to": target.value,
            "by": by[:100],
            "at": iso(at),
            "note": note,
        },
        at=at,
    )
    if target in domain.FINAL and target is not domain.OrderState.PICKED_UP:
        order.code_lookup = None  # the code dies with the order, and its value is free again
    # A collected order keeps its lookup key: its code answers `code_already_used` (burning no try)
    # for as long as the order exists, and no new order of the bank is given that code.


def _step(order: PickupOrder, target: domain.OrderState, *, by: str, at: datetime, note: str = "") -> None:
    """A step someone asked for: a refused one is a 409 for them."""
    try:
        transition(order, target, by=by, at=at, note=note)
    except domain.TransitionError as error:
        raise OrderError(409, "invalid_transition", str(error)) from None


# --- asked for by people (the API) -------------------------------------------------------------


def start_picking(session: Session, store: StoreConfig, order_id: str, *, by: str, at: datetime) -> Outcome:
    order = get_order(session, store.store.id, order_id, lock=True)
    _step(order, domain.OrderState.PICKING, by=by, at=at)
    return Outcome(order, [("orders", store.store.id, order_view(order))])


def mark_loaded(order: PickupOrder, *, where: str, by: str, at: datetime) -> None:
    """Into its compartment with a new code: picked implicitly by the first load."""
    if order.state == domain.OrderState.RESERVED.value:
        transition(order, domain.OrderState.PICKING, by=by, at=at, note="picked for loading")
    transition(order, domain.OrderState.LOADED, by=by, at=at, note=f"{where}, code issued")


def cancel_order(session: Session, store: StoreConfig, order_id: str, *, by: str, at: datetime) -> Outcome:
    order = get_order(session, store.store.id, order_id, lock=True)
    return _end(session, store, order, domain.OrderState.CANCELLED, by=by, at=at, note="cancelled")


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


# --- the clock (the locker link's sweeper) -----------------------------------------------------


def expire_due(
    session: Session, stores: Mapping[str, StoreConfig], at: datetime, limit: int = 100
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
        staged = order.state == domain.OrderState.STAGED.value
        outcome = _end(
            session, store, order, domain.OrderState.EXPIRED, by="gateway", at=at, note=f"due {deadline}"
        )
        where = f" in {order.locker_id}/{order.compartment_id}" if order.compartment_id else ""
        if where:
            message = f"pickup order {order.id} was not collected by {deadline}; take it out{where}"
        elif staged:
            message = (
                f"counter pickup {order.id} was not collected by {deadline} (no-show); "
                "put its staged goods back, its stock is released"
            )
        elif fulfilment_of(order) is FulfilmentType.COUNTER_PICKUP:
            message = f"counter pickup {order.id} was not staged by {deadline}; its stock is released"
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


def flag_unconfirmed_opens(
    session: Session, stores: Mapping[str, StoreConfig], at: datetime, timeout_s: float, limit: int = 100
) -> list[Outcome]:
    """Loaded orders whose open command the locker never confirmed: flag the compartment, alert.

    Confirmed means an ack or a door event of that compartment since the load (either moves the
    compartment's `updated_at` past the order's). Without one the door most likely never opened
    (locker offline, command lost): nothing may stay `loaded` silently. A flagged compartment is
    skipped by later sweeps, and loading the order again moves it to another compartment.
    """
    loaded = PickupOrder.state == domain.OrderState.LOADED.value
    cutoff = at - timedelta(seconds=timeout_s)
    old = loaded, PickupOrder.updated_at <= cutoff, PickupOrder.store_id.in_(list(stores))
    if session.scalar(select(PickupOrder.id).where(*old).limit(1)) is None:
        return []
    session.rollback()
    begin_write(session)
    due = session.scalars(
        select(PickupOrder).where(*old).order_by(PickupOrder.id).limit(limit).with_for_update()
    ).all()
    outcomes = []
    for order in due:
        if order.locker_id is None or order.compartment_id is None:
            continue
        key = (order.store_id, order.locker_id, order.compartment_id)
        row = session.get(CompartmentState, key, with_for_update=True, populate_existing=True)
        if row is None or row.order_id != order.id or row.needs_attention is not None:
            continue
        if as_utc(row.updated_at) > as_utc(order.updated_at):
            continue  # the locker answered: the door opened (or failed and was flagged)
        where = f"{order.locker_id}/{order.compartment_id}"
        row.needs_attention = "load open not confirmed: no answer from the locker"
        row.updated_at = at
        alert = raise_alert(
            session,
            store_id=order.store_id,
            cause=f"locker.open_unconfirmed:{order.id}",
            severity="warning",
            message=f"locker {order.locker_id} did not confirm opening {order.compartment_id} for order "
            f"{order.id} within {timeout_s:g} s; check the door, then load the order again",
            device_id=order.locker_id,
            at=at,
        )
        outcome = Outcome(order, [("lockers", order.store_id, compartment_view(row))])
        outcome.events.append(("alert", order.store_id, alert_view(alert)))
        outcome.events.append(("orders", order.store_id, order_view(order)))
        outcomes.append(outcome)
        logger.warning("order %s: open of %s not confirmed in %g s; flagged", order.id, where, timeout_s)
    session.flush()
    return outcomes


# --- reported by the locker (the link) and by the edge (the ingest) ----------------------------


def mark_ready(order: PickupOrder, store: StoreConfig, locker: str, at: datetime) -> None:
    """The door closed with the goods inside: the code becomes valid and the pickup clock restarts."""
    order.expires_at = domain.expiry(at, store.store.pickup_expiry_hours)
    note = f"door closed with the goods inside; customer notified; collect by {iso(order.expires_at)}"
    transition(order, domain.OrderState.READY, by=f"locker:{locker}", at=at, note=note)


def mark_picked_up(session: Session, order: PickupOrder, *, by: str, at: datetime, note: str) -> list[Event]:
    """The edge reported the pickup: the goods left (the customer, or a courier, took them) and the
    compartment is free for the next order."""
    target = LEAVES_LOCKER_AS.get(fulfilment_of(order), domain.OrderState.PICKED_UP)
    transition(order, target, by=by, at=at, note=note)
    events = _free_compartment(session, order, at)
    events.append(("orders", order.store_id, order_view(order)))
    return events


def _free_compartment(session: Session, order: PickupOrder, at: datetime) -> list[Event]:
    if order.locker_id is None or order.compartment_id is None:
        return []
    key = (order.store_id, order.locker_id, order.compartment_id)
    row = session.get(CompartmentState, key, with_for_update=True, populate_existing=True)
    if row is None or row.order_id != order.id:
        return []
    row.order_id = None
    if row.needs_attention and order.id in row.needs_attention:
        row.needs_attention = None  # "take out ORD-…": the customer did
    row.updated_at = at
    return [("lockers", order.store_id, compartment_view(row))]
