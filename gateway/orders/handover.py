"""Store-side fulfilment steps: stage with a handover code, hand over at the counter, ship, delivered.

A counter pickup (the customer's code) and a delivery handed to a courier at the counter (the
courier's code) are checked by a code issued when the order is staged; only its scrypt hash is kept,
and wrong codes are throttled per order like a locker's (`order:counter:{id}`). When the goods leave
(picked_up, handed_to_courier, shipped) the stock is taken exactly once, by the rule of a locker
pickup: the reservation is released (unless an expiry released it already) and units of untagged
products are taken from the locker-area zones, then the salesfloor; RFID counts tagged units out at
the exit. Every step goes through lockers.lifecycle.transition (history and domain event).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from smartstore.gateway.db.lockers import CodeLockout, PickupOrder
from smartstore.gateway.db.models import Inventory, ZoneCount
from smartstore.gateway.db.util import as_utc, begin_write, is_sqlite
from smartstore.gateway.inventory import domain as inventory_domain
from smartstore.gateway.inventory.store import apply_movement, inventory_view
from smartstore.gateway.lockers import domain
from smartstore.gateway.lockers.code_entry import throttle_rules
from smartstore.gateway.lockers.lifecycle import (
    Event,
    OrderError,
    Outcome,
    fulfilment_of,
    get_order,
    release_reservation,
    transition,
)
from smartstore.gateway.lockers.states import FulfilmentType
from smartstore.gateway.lockers.view_models import order_view
from smartstore.kernel import pickup_codes
from smartstore.kernel.storeconfig import Area, StoreConfig

logger = logging.getLogger(__name__)

S = domain.OrderState
F = FulfilmentType
CodeHolder = Literal["customer", "courier"]
# Who shows the code of a staged order (None: shipping needs no code; a locker pickup is not staged).
CODE_FOR: dict[FulfilmentType, CodeHolder | None] = {
    F.COUNTER_PICKUP: "customer",
    F.DELIVERY: "courier",
    F.SHIP: None,
}
# The state a right code at the counter moves an order to.
HANDED_OVER_AS = {F.COUNTER_PICKUP: S.PICKED_UP, F.DELIVERY: S.HANDED_TO_COURIER}


def _step(order: PickupOrder, target: domain.OrderState, *, by: str, at: datetime, note: str) -> None:
    try:
        transition(order, target, by=by, at=at, note=note)
    except domain.TransitionError as error:
        raise OrderError(409, "invalid_transition", str(error)) from None


def _published(order: PickupOrder, events: list[Event] | None = None) -> Outcome:
    return Outcome(order, [*(events or []), ("orders", order.store_id, order_view(order))])


# --- staging -----------------------------------------------------------------------------------


@dataclass
class Staging:
    """A staged order, and its handover code: in this answer only, never stored in clear."""

    outcome: Outcome
    code: str | None = None
    code_for: CodeHolder | None = None


def stage_order(session: Session, store: StoreConfig, order_id: str, *, by: str, at: datetime) -> Staging:
    """picking (or reserved: picked implicitly) -> staged, with a new handover code where one is needed.

    Staging a staged order again issues a new code: the old one stops working. A counter pickup
    without a booked slot gets the store's pickup time from now; with one it keeps the slot's deadline.
    """
    order = get_order(session, store.store.id, order_id, lock=True)
    kind = fulfilment_of(order)
    if kind not in CODE_FOR:
        raise OrderError(409, "not_staged", f"a {kind.value} order is loaded into a locker, not staged")
    code_for = CODE_FOR[kind]
    if order.state == S.STAGED.value:
        if code_for is None:
            return Staging(_published(order))  # nothing to re-issue: staging a parcel twice is a no-op
        note = f"staged again: new {code_for} code issued, the old one no longer works"
        if domain.can_transition(S.STAGED, S.STAGED, kind):
            transition(order, S.STAGED, by=by, at=at, note=note)
        else:
            order.updated_at = at
            logger.info("order %s: %s (%s)", order.id, note, by)
    else:
        if order.state == S.RESERVED.value:
            _step(order, S.PICKING, by=by, at=at, note="picked for staging")
        what = f"{code_for} code issued" if code_for else "for the carrier"
        _step(order, S.STAGED, by=by, at=at, note=f"staged, {what}")
        if kind is F.COUNTER_PICKUP and order.slot_start is None and order.expires_at is not None:
            order.expires_at = domain.expiry(at, store.store.pickup_expiry_hours)
    code = None
    if code_for is not None:
        code = pickup_codes.new_code(store.store.pickup_code_digits)
        order.code_hash = pickup_codes.hash_code(code)
        order.code_used_at = None
    session.flush()
    logger.info("order %s staged in %s by %s", order.id, store.store.id, by)
    return Staging(_published(order), code, code_for)


# --- the goods leave: stock taken once ---------------------------------------------------------


def take_from_zones(session: Session, store: StoreConfig, order: PickupOrder, at: datetime) -> list[Event]:
    """Take the order's units of untagged products from the locker-area zones, then the salesfloor.

    Tagged products are left to RFID: the exit reader counts them out. The inventory row is locked
    before its zone counts are read (it is the lock of its zones for every writer).
    """
    store_id = store.store.id
    zones = [zone.id for zone in (*store.zones_in(Area.LOCKER), *store.zones_in(Area.SALESFLOOR))]
    wanted: dict[str, int] = {}
    for line in order.lines:
        wanted[line.gtin] = wanted.get(line.gtin, 0) + line.quantity
    events: list[Event] = []
    for gtin, quantity in sorted(wanted.items()):
        product = store.products.get(gtin)
        if product is None or product.rfid_tagged:
            continue
        begin_write(session)
        session.get(Inventory, (store_id, gtin), with_for_update=True, populate_existing=True)
        query = select(ZoneCount).where(ZoneCount.store_id == store_id, ZoneCount.gtin == gtin)
        fresh = session.scalars(query.execution_options(populate_existing=True))
        counts = {zone_count.zone_id: zone_count.count for zone_count in fresh}
        taken = inventory_domain.take_units(counts, zones, quantity)
        missing = quantity - sum(counts[zone] - count for zone, count in taken.items())
        if missing:
            # The book said it was here; counts never go below 0 (the next count corrects the book).
            logger.warning("order %s: %d of %s not found in %s to take", order.id, missing, gtin, zones)
        row = None
        for zone, count in sorted(taken.items()):
            row = apply_movement(
                session,
                store,
                gtin=gtin,
                type="count",
                quantity=count,
                zone=zone,
                source=inventory_domain.SOURCE_PICKUP,
                at=at,
            )
        if row is not None:
            events.append(("inventory", store_id, inventory_view(row)))
    return events


def goods_leave(
    session: Session,
    store: StoreConfig,
    order: PickupOrder,
    target: domain.OrderState,
    *,
    by: str,
    at: datetime,
    note: str,
) -> Outcome:
    """The order leaves the store (the caller holds its lock): one transition, the stock taken once."""
    held = domain.OrderState(order.state) in domain.HOLDS_RESERVATION
    _step(order, target, by=by, at=at, note=note)
    events = release_reservation(session, store, order, at) if held else []
    events += take_from_zones(session, store, order, at)
    latest = {data["gtin"]: (type_, where, data) for type_, where, data in events}  # one view per GTIN
    session.flush()
    return _published(order, list(latest.values()))


# --- handover at the counter -------------------------------------------------------------------


class HandoverResult(StrEnum):
    HANDED_OVER = "handed_over"
    WRONG = "wrong"  # the code is not the order's
    LOCKED = "locked"  # too many wrong codes for this order: refused unchecked for a while


@dataclass
class Handover:
    result: HandoverResult
    outcome: Outcome = field(default_factory=Outcome)
    tries_left: int | None = None
    retry_after_s: float | None = None


def throttle_scope(order_id: str) -> str:
    return f"order:counter:{order_id}"[:100]


def _lockout(row: CodeLockout | None) -> domain.Lockout:
    if row is None:
        return domain.Lockout()
    return domain.Lockout(
        row.failures,
        as_utc(row.last_failure_at) if row.last_failure_at else None,
        as_utc(row.locked_until) if row.locked_until else None,
    )


def _save(row: CodeLockout, state: domain.Lockout) -> None:
    row.failures, row.last_failure_at, row.locked_until = (
        state.failures,
        state.last_failure_at,
        state.locked_until,
    )


def _counter(session: Session, store_id: str, scope: str) -> CodeLockout:
    """The scope's counter, created with its first wrong code (ON CONFLICT: two at once), locked."""
    dialect = sqlite if is_sqlite(session) else postgresql
    insert = dialect.insert(CodeLockout).values(store_id=store_id, scope=scope, failures=0)
    session.execute(insert.on_conflict_do_nothing(index_elements=["store_id", "scope"]))
    row = session.get(CodeLockout, (store_id, scope), with_for_update=True, populate_existing=True)
    assert row is not None
    return row


def _check_handover(order: PickupOrder) -> None:
    """409 unless the order is staged (or expired with its goods still staged) for a counter handover."""
    kind = fulfilment_of(order)
    state = domain.OrderState(order.state)
    if kind not in HANDED_OVER_AS:
        how = "shipped (…/ship)" if kind is F.SHIP else "collected at its locker"
        raise OrderError(409, "not_handed_over_here", f"a {kind.value} order is {how}, not handed over")
    if state in domain.GOODS_LEFT:
        raise OrderError(409, "already_handed_over", f"order {order.id} is {state.value} already")
    staged = state is S.STAGED or (state is S.EXPIRED and order.code_hash is not None)
    if not staged or order.code_hash is None:
        raise OrderError(409, "not_staged", f"order {order.id} is {state.value}: nothing staged to hand over")


def hand_over(
    session: Session, store: StoreConfig, order_id: str, code: str, *, by: str, at: datetime
) -> Handover:
    """Check the code shown at the counter; a right one hands the goods over (the caller commits either
    way: a wrong code's count must be kept). The slow scrypt check runs before the write lock is taken
    and is reused under it only if the order's hash did not change meanwhile."""
    store_id = store.store.id
    rule = throttle_rules(store)[0]
    scope = throttle_scope(order_id)
    seen = get_order(session, store_id, order_id)
    _check_handover(seen)
    verified: tuple[str, bool] | None = None
    early = session.get(CodeLockout, (store_id, scope))
    if domain.retry_after(_lockout(early), at) is None and seen.code_hash:
        verified = (seen.code_hash, pickup_codes.verify_code(code, seen.code_hash))
    session.rollback()  # end the read snapshot: the decision is taken under the locks below
    order = get_order(session, store_id, order_id, lock=True)
    _check_handover(order)
    assert order.code_hash is not None
    counter = session.get(CodeLockout, (store_id, scope), with_for_update=True, populate_existing=True)
    wait = domain.retry_after(_lockout(counter), at)
    if counter is not None and wait is not None:
        _save(counter, domain.after_refusal(_lockout(counter), rule, at))
        return Handover(HandoverResult.LOCKED, Outcome(order), tries_left=0, retry_after_s=wait)
    if verified is not None and verified[0] == order.code_hash:
        matches = verified[1]
    else:
        matches = pickup_codes.verify_code(code, order.code_hash)
    if not matches:
        counter = counter or _counter(session, store_id, scope)
        after = domain.after_failure(_lockout(counter), rule, at)
        _save(counter, after)
        left = domain.tries_left(after, rule, at)
        logger.info("wrong handover code for order %s at %s (%d tries left)", order.id, store_id, left)
        if after.locked_until is not None:
            logger.warning("handover codes of order %s locked until %s", order.id, after.locked_until)
        return Handover(HandoverResult.WRONG, Outcome(order), left, domain.retry_after(after, at))
    kind = fulfilment_of(order)
    target = HANDED_OVER_AS[kind]
    whom = "the customer" if kind is F.COUNTER_PICKUP else "a courier"
    late = " after the order had expired" if order.state == S.EXPIRED.value else ""
    note = f"handed to {whom} at the counter by {by}{late}; code checked"
    outcome = goods_leave(session, store, order, target, by=by, at=at, note=note)
    order.code_used_at = at
    session.flush()
    logger.info("order %s handed over at the counter of %s (%s)", order.id, store_id, target.value)
    return Handover(HandoverResult.HANDED_OVER, outcome)


# --- shipping and delivery ---------------------------------------------------------------------


def ship_order(
    session: Session,
    store: StoreConfig,
    order_id: str,
    *,
    carrier: str,
    tracking: str | None,
    by: str,
    at: datetime,
) -> Outcome:
    """staged -> shipped: the parcel left with the carrier; the stock is taken as at a handover."""
    order = get_order(session, store.store.id, order_id, lock=True)
    kind = fulfilment_of(order)
    if kind is not F.SHIP:
        raise OrderError(409, "not_a_ship_order", f"a {kind.value} order is not shipped")
    if order.state in (S.SHIPPED.value, S.DELIVERED.value):
        raise OrderError(409, "already_shipped", f"order {order.id} is {order.state} already")
    number = f", tracking {tracking}" if tracking else ""
    note = f"shipped with {carrier}{number} by {by}"
    return goods_leave(session, store, order, S.SHIPPED, by=by, at=at, note=note)


def mark_delivered(
    session: Session,
    customer_order_id: str,
    order_id: str,
    *,
    visible: Callable[[str], bool],
    by: str,
    at: datetime,
) -> tuple[Outcome, bool]:
    """handed_to_courier or shipped -> delivered, as the courier or carrier system reports it.

    Idempotent: an order delivered already stays as it is (False: nothing changed). `visible` says
    whether the caller may see a store's orders; others are 404, as if they did not exist.
    """
    begin_write(session)
    order = session.get(PickupOrder, order_id, with_for_update=True, populate_existing=True)
    if order is None or order.customer_order_id != customer_order_id or not visible(order.store_id):
        raise OrderError(404, "unknown_order", f"no fulfilment {order_id!r} of order {customer_order_id!r}")
    if order.state == S.DELIVERED.value:
        return Outcome(order), False
    if order.state not in (S.HANDED_TO_COURIER.value, S.SHIPPED.value):
        kind = fulfilment_of(order).value
        raise OrderError(
            409, "invalid_transition", f"a {kind} order that is {order.state} cannot be reported delivered"
        )
    _step(order, S.DELIVERED, by=by, at=at, note=f"delivery reported by {by}")
    session.flush()
    return _published(order), True
