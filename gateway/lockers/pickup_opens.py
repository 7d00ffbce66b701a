"""Kiosk pickups whose door never confirmed opening: the code is given back, never burnt by a lost command.

The kiosk holds the code (`code_used_at`, so the edge's manifest drops it and no second open races
the first) the moment it sends the open command; the hold becomes final only when the locker
answers: an ack `done` or a door event of the compartment since (either moves the compartment's
`updated_at` past `code_used_at`, as for loads). Without an answer within `PICKUP_OPEN_TIMEOUT_S`
the order stays `ready` and its code works again (the kiosk's retry, or the sweeper, gives it back),
recorded as a transition note and an audit row. Stock is never touched here: only the edge's
PickupSignal takes it, once per order, so a late answer cannot take it twice.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from smartstore.gateway.db.lockers import CodeAttempt, CompartmentState, OrderTransition, PickupOrder
from smartstore.gateway.db.util import as_utc, begin_write
from smartstore.gateway.lockers import domain
from smartstore.gateway.lockers.lifecycle import Outcome
from smartstore.gateway.lockers.view_models import order_view
from smartstore.kernel.contract import payloads as p
from smartstore.kernel.storeconfig import StoreConfig

logger = logging.getLogger(__name__)

# How long a customer's open may stay unanswered before its code works again. Short: the customer
# stands at the kiosk; the controller acks within a second when it is there at all.
PICKUP_OPEN_TIMEOUT_S = 15.0
UNCONFIRMED = "open_unconfirmed"  # audit result, and the transition note's first words
OPENED_LATE = "opened_late"


def open_unconfirmed(order: PickupOrder, compartment: CompartmentState | None) -> bool:
    """A kiosk open is pending: code held, the order still ready, no answer of its compartment since."""
    if order.code_used_at is None or order.state != domain.OrderState.READY.value:
        return False
    if compartment is None or compartment.order_id != order.id:
        return False
    return as_utc(compartment.updated_at) <= as_utc(order.code_used_at)


def stale_open(session: Session, order: PickupOrder, at: datetime) -> bool:
    """A pending open older than `PICKUP_OPEN_TIMEOUT_S`: its code may be given back now."""
    used_at = order.code_used_at
    if used_at is None or as_utc(used_at) > at - timedelta(seconds=PICKUP_OPEN_TIMEOUT_S):
        return False
    return open_unconfirmed(order, compartment_of(session, order))


def compartment_of(session: Session, order: PickupOrder) -> CompartmentState | None:
    """The order's compartment row, locked (after the order: the lock order of every writer)."""
    if order.locker_id is None or order.compartment_id is None:
        return None
    key = (order.store_id, order.locker_id, order.compartment_id)
    return session.get(CompartmentState, key, with_for_update=True, populate_existing=True)


def give_back(session: Session, order: PickupOrder, *, by: str, at: datetime, why: str) -> Outcome:
    """Release the held code of a ready order (the caller checked `open_unconfirmed`, holds the lock)."""
    request = p.locker_request(p.LockerRequestPurpose.PICKUP, order.id, order.pickup_requests)
    note = f"{UNCONFIRMED}: {request} got no answer from the locker ({why}); the code works again"
    # Not a state change (ready stays ready), but a step in the order's story: recorded as one.
    order.transitions.append(
        OrderTransition(from_state=order.state, to_state=order.state, at=at, by=by[:100], note=note)
    )
    order.code_used_at = None
    order.updated_at = at
    _audit(session, order, UNCONFIRMED, at, by)
    session.flush()
    logger.warning("order %s: %s not confirmed (%s); its code works again", order.id, request, why)
    outcome = Outcome(order, [("orders", order.store_id, order_view(order))])
    assert order.locker_id is not None  # a ready order sits in a compartment
    outcome.lockers.add((order.store_id, order.locker_id))  # back into the edge's manifest
    return outcome


def give_back_if_unconfirmed(
    session: Session, store: StoreConfig, order_id: str, request: str, *, by: str, at: datetime, why: str
) -> Outcome | None:
    """The kiosk waited for `request` in vain: give the code back, if that open is still the pending one."""
    begin_write(session)
    order = session.get(PickupOrder, order_id, with_for_update=True, populate_existing=True)
    if order is None or order.store_id != store.store.id:
        return None
    current = p.locker_request(p.LockerRequestPurpose.PICKUP, order.id, order.pickup_requests)
    if request != current or not open_unconfirmed(order, compartment_of(session, order)):
        return None  # answered meanwhile, or a newer try holds the code
    return give_back(session, order, by=by, at=at, why=why)


def release_unconfirmed(
    session: Session,
    stores: Mapping[str, StoreConfig],
    at: datetime,
    timeout_s: float = PICKUP_OPEN_TIMEOUT_S,
    limit: int = 100,
) -> list[Outcome]:
    """The sweep: every kiosk open unanswered for `timeout_s` gives its code back (a kiosk that died
    while waiting, a gateway restart). Call it on a session with nothing pending."""
    held = (
        PickupOrder.state == domain.OrderState.READY.value,
        PickupOrder.code_used_at.is_not(None),
        PickupOrder.code_used_at <= at - timedelta(seconds=timeout_s),
        PickupOrder.store_id.in_(list(stores)),
    )
    candidates = list(session.scalars(select(PickupOrder.id).where(*held).order_by(PickupOrder.id)))
    if not candidates:
        return []
    session.rollback()
    begin_write(session)
    outcomes = []
    for order_id in candidates[:limit]:
        order = session.get(PickupOrder, order_id, with_for_update=True, populate_existing=True)
        if order is None or order.code_used_at is None or as_utc(order.code_used_at) > at:
            continue
        if open_unconfirmed(order, compartment_of(session, order)):
            why = f"none within {timeout_s:g} s"
            outcomes.append(give_back(session, order, by="gateway", at=at, why=why))
    session.flush()
    return outcomes


def confirm_late(session: Session, order: PickupOrder, request: p.LockerRequest, at: datetime) -> bool:
    """The locker says a pickup door opened after its code was given back: the code is used after all
    (someone may be taking the goods; the edge reports the pickup, which takes the stock once).
    Nothing is opened or taken here. True when the order changed (the caller publishes it)."""
    if (
        request.purpose is not p.LockerRequestPurpose.PICKUP
        or order.state != domain.OrderState.READY.value
        or order.code_used_at is not None
        or not 0 < request.attempt <= order.pickup_requests
    ):
        return False
    order.code_used_at = at
    order.updated_at = at
    _audit(session, order, OPENED_LATE, at, f"locker:{order.locker_id}")
    session.flush()
    logger.warning("order %s: the door opened late (%s); its code is used", order.id, request)
    return True


def _audit(session: Session, order: PickupOrder, result: str, at: datetime, by: str) -> None:
    """One audit row of what became of an order's open."""
    session.add(
        CodeAttempt(
            store_id=order.store_id,
            locker_id=order.locker_id,
            order_id=order.id,
            result=result,
            at=at,
            by=by[:100],
        )
    )
