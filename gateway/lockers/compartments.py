"""Compartments in the database: loading, door events and acks, service, the overview, the manifests."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from smartstore.gateway.db.lockers import CompartmentState, PickupOrder
from smartstore.gateway.db.models import Device
from smartstore.gateway.db.util import begin_write
from smartstore.gateway.lockers import domain, pickup_opens
from smartstore.gateway.lockers.lifecycle import (
    OrderError,
    Outcome,
    fulfilment_of,
    get_order,
    mark_loaded,
    mark_ready,
)
from smartstore.gateway.lockers.states import LEAVES_LOCKER_AS
from smartstore.gateway.lockers.view_models import CompartmentView, compartment_view, order_view
from smartstore.kernel import pickup_codes
from smartstore.kernel.contract import payloads as p
from smartstore.kernel.contract.topics import Kind
from smartstore.kernel.storeconfig import CompartmentSize, Locker, StoreConfig

logger = logging.getLogger(__name__)

_CODE_TRIES = 20


def bank_id(store_id: str, locker: str) -> str:
    """The locker bank a code belongs to, as mixed into its lookup key."""
    return f"{store_id}/{locker}"


def locker_of(store: StoreConfig, locker: str) -> Locker:
    for candidate in store.devices.lockers:
        if candidate.id == locker:
            return candidate
    raise OrderError(404, "unknown_locker", f"no locker {locker!r} in store {store.store.id!r}")


def ensure_compartments(session: Session, store: StoreConfig, at: datetime) -> None:
    """Create the rows of compartments the store file has and the table lacks (new lockers)."""
    store_id = store.store.id
    query = select(CompartmentState.locker_id, CompartmentState.compartment_id).where(
        CompartmentState.store_id == store_id
    )
    known = {(locker, compartment) for locker, compartment in session.execute(query)}
    for locker in store.devices.lockers:
        for compartment in locker.compartments:
            if (locker.id, compartment.id) not in known:
                session.add(
                    CompartmentState(
                        store_id=store_id,
                        locker_id=locker.id,
                        compartment_id=compartment.id,
                        size=compartment.size.value,
                        in_service=True,
                        occupied=None,
                        door_open=False,
                        updated_at=at,
                    )
                )
    session.flush()


def compartment_rows(session: Session, store: StoreConfig, *, lock: bool = False) -> list[CompartmentState]:
    """The store's compartment rows in store-file order (the allocation tie-break)."""
    query = select(CompartmentState).where(CompartmentState.store_id == store.store.id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    rows = {(row.locker_id, row.compartment_id): row for row in session.scalars(query)}
    ordered = [(lk.id, c.id) for lk in store.devices.lockers for c in lk.compartments]
    return [rows[key] for key in ordered if key in rows]


def as_domain(row: CompartmentState) -> domain.Compartment:
    return domain.Compartment(
        locker=row.locker_id,
        compartment=row.compartment_id,
        size=CompartmentSize(row.size),
        in_service=row.in_service,
        occupied=row.occupied,
        door_open=row.door_open,
        order=row.order_id,
        needs_attention=row.needs_attention,
    )


def offline_lockers(session: Session, store_id: str) -> set[str]:
    """The store's locker banks whose last status (retained, or their Last Will) says offline."""
    query = select(Device.device_id).where(
        Device.store_id == store_id,
        Device.kind == Kind.LOCKER.value,
        Device.state == p.DeviceState.OFFLINE.value,
    )
    return set(session.scalars(query))


def _offline(locker: str) -> OrderError:
    return OrderError(
        503, "locker_offline", f"locker {locker} is offline: its doors cannot be opened; try another locker"
    )


# --- loading -----------------------------------------------------------------------------------


@dataclass
class Loading:
    """An order put into a compartment: the door to open and the code, shown to the associate once."""

    outcome: Outcome
    locker: str
    compartment: str
    request: str
    code: str


def _issue_code(session: Session, store: StoreConfig, order: PickupOrder, secret: bytes) -> str:
    """A fresh code, unique among the live codes of the order's locker bank; only its hashes are kept."""
    assert order.locker_id is not None
    bank = bank_id(store.store.id, order.locker_id)
    for _ in range(_CODE_TRIES):
        code = pickup_codes.new_code(store.store.pickup_code_digits)
        lookup = pickup_codes.lookup_key(secret, bank, code)
        holder = session.scalar(
            select(PickupOrder.id).where(
                PickupOrder.store_id == store.store.id,
                PickupOrder.locker_id == order.locker_id,
                PickupOrder.code_lookup == lookup,
            )
        )
        if holder is None or holder == order.id:
            order.code_lookup = lookup
            order.code_hash = pickup_codes.hash_code(code)
            order.code_used_at = None
            return code
    raise OrderError(409, "no_free_code", "no unused pickup code found for this locker bank; try again")


def load_order(
    session: Session,
    store: StoreConfig,
    order_id: str,
    *,
    by: str,
    at: datetime,
    secret: bytes,
    locker: str | None = None,
) -> Loading:
    """Allocate the best-fit free compartment (or reuse the order's), issue the code, mark it loaded.

    The caller commits and then opens the door with `request`; the code becomes valid when the door
    closes with the goods inside (the order turns ready).
    """
    store_id = store.store.id
    if locker is not None:
        locker_of(store, locker)
    offline = offline_lockers(session, store_id)
    if locker is not None and locker in offline:
        raise _offline(locker)
    order = get_order(session, store_id, order_id, lock=True)
    if fulfilment_of(order) not in LEAVES_LOCKER_AS:
        kind = fulfilment_of(order).value
        raise OrderError(409, "not_a_locker_order", f"a {kind} order is not handed over from a locker")
    state = domain.OrderState(order.state)
    if state not in (domain.OrderState.RESERVED, domain.OrderState.PICKING, domain.OrderState.LOADED):
        raise OrderError(409, "invalid_transition", f"an order that is {state.value} cannot be loaded")
    outcome = Outcome(order)
    ensure_compartments(session, store, at)
    rows = compartment_rows(session, store, lock=True)
    current = next((row for row in rows if row.order_id == order.id), None)
    if current is not None and (current.needs_attention or not current.in_service):
        current.order_id = None  # stays flagged for an associate; the order moves on
        current.updated_at = at
        outcome.events.append(("lockers", store_id, compartment_view(current)))
        current = None
    if current is not None and current.locker_id in offline:
        raise _offline(current.locker_id)
    if current is None:
        needed = CompartmentSize(order.size)
        online = [as_domain(row) for row in rows if row.locker_id not in offline]
        choice = domain.best_fit(online, needed, locker)
        if choice is None and domain.best_fit(map(as_domain, rows), needed, locker) is not None:
            raise _offline(", ".join(sorted(offline)))  # room only behind doors that cannot open
        if choice is None:
            where = f"locker {locker}" if locker else "any locker"
            details = [{"size": needed.value, "locker": locker}]
            raise OrderError(
                409,
                "no_free_compartment",
                f"no free {needed.value} or larger compartment in {where}",
                details,
            )
        current = next(
            r for r in rows if (r.locker_id, r.compartment_id) == (choice.locker, choice.compartment)
        )
        current.order_id = order.id
        current.updated_at = at
    order.locker_id, order.compartment_id = current.locker_id, current.compartment_id
    session.flush()  # the compartment claim first: a unique clash surfaces here, not at commit
    code = _issue_code(session, store, order, secret)
    order.load_requests += 1
    request = p.locker_request(p.LockerRequestPurpose.LOAD, order.id, order.load_requests)
    where = f"{current.locker_id}/{current.compartment_id}"
    mark_loaded(order, where=where, by=by, at=at)
    session.flush()
    outcome.events.append(("lockers", store_id, compartment_view(current)))
    outcome.events.append(("orders", store_id, order_view(order)))
    outcome.lockers.add((store_id, current.locker_id))
    logger.info("order %s loading into %s/%s", order.id, store_id, where)
    return Loading(outcome, current.locker_id, current.compartment_id, request, code)


# --- what the lockers report -------------------------------------------------------------------


def mirror_door(row: CompartmentState, event: p.LockerEvent) -> None:
    """Copy the door and occupancy the locker reported: the only writer of those two columns.

    The gateway does not own these facts (docs/lockers.md, "Who owns what"): it mirrors the last
    report, for the overview and so that a compartment reported open or occupied is not allocated.
    """
    if event.event in (p.LockerEventType.DOOR_OPENED, p.LockerEventType.DOOR_LEFT_OPEN):
        row.door_open = True
    elif event.event is p.LockerEventType.DOOR_CLOSED:
        row.door_open = False
    if event.occupied is not None:
        row.occupied = event.occupied


def apply_locker_event(
    session: Session, store: StoreConfig, locker: str, event: p.LockerEvent, at: datetime
) -> Outcome | None:
    """Track door and occupancy; a loaded order's door closing with the goods inside makes it ready."""
    store_id = store.store.id
    known = any(
        lk.id == locker and any(c.id == event.compartment for c in lk.compartments)
        for lk in store.devices.lockers
    )
    if not known:
        logger.info("event for unknown compartment %s/%s/%s ignored", store_id, locker, event.compartment)
        return None
    begin_write(session)
    key = (store_id, locker, event.compartment)
    row = session.get(CompartmentState, key)
    if row is None:
        ensure_compartments(session, store, at)
    order = None
    if row is not None and row.order_id is not None:
        # Order before compartment: the lock order every writer of these tables follows.
        order = session.get(PickupOrder, row.order_id, with_for_update=True, populate_existing=True)
    row = session.get(CompartmentState, key, with_for_update=True, populate_existing=True)
    assert row is not None
    kind = event.event
    mirror_door(row, event)
    if kind is p.LockerEventType.DOOR_JAMMED:
        row.needs_attention = row.needs_attention or "door jammed"
    row.updated_at = at
    outcome = Outcome(order, [("lockers", store_id, compartment_view(row))])
    request = p.parse_locker_request(event.request)
    if (
        order is not None
        and kind is p.LockerEventType.DOOR_OPENED
        and request is not None
        and request.order == order.id
        and pickup_opens.confirm_late(session, order, request, at)
    ):
        outcome.events.append(("orders", store_id, order_view(order)))
        outcome.lockers.add((store_id, locker))
    if (
        order is not None
        and order.state == domain.OrderState.LOADED.value
        and kind is p.LockerEventType.DOOR_CLOSED
        and event.occupied is True
    ):
        mark_ready(order, store, locker, at)
        outcome.events.append(("orders", store_id, order_view(order)))
        outcome.lockers.add((store_id, locker))
        logger.info("order %s ready in %s/%s", order.id, locker, event.compartment)
    session.flush()
    return outcome


def apply_locker_ack(
    session: Session, store: StoreConfig, locker: str, ack: p.LockerAck, at: datetime
) -> Outcome | None:
    """A door that did not open: the pickup code works again, the compartment is flagged."""
    request = p.parse_locker_request(ack.request)
    if request is None:
        return None
    store_id = store.store.id
    begin_write(session)
    order = session.get(PickupOrder, request.order, with_for_update=True, populate_existing=True)
    if (
        order is None
        or order.store_id != store_id
        or order.locker_id != locker
        or order.compartment_id is None
    ):
        return None
    if ack.result == "done":
        _confirm_open(session, order, at)
        return _late(store_id, order, pickup_opens.confirm_late(session, order, request, at))
    outcome = Outcome(order)
    reason = (ack.reason or "no reason given")[:150]
    if request.purpose is p.LockerRequestPurpose.PICKUP and order.state == domain.OrderState.READY.value:
        order.code_used_at = None
        order.updated_at = at
        outcome.lockers.add((store_id, locker))
    row = session.get(
        CompartmentState,
        (store_id, locker, order.compartment_id),
        with_for_update=True,
        populate_existing=True,
    )
    if row is not None:
        row.needs_attention = f"{request.purpose.value} open failed: {reason}"
        row.updated_at = at
        outcome.events.append(("lockers", store_id, compartment_view(row)))
    session.flush()
    outcome.events.append(("orders", store_id, order_view(order)))
    logger.warning(
        "locker %s/%s failed to open for %s: %s", locker, order.compartment_id, ack.request, reason
    )
    return outcome


def _late(store_id: str, order: PickupOrder, changed: bool) -> Outcome | None:
    """What to publish when a late answer made a given-back code used after all."""
    if not changed:
        return None
    assert order.locker_id is not None
    return Outcome(order, [("orders", store_id, order_view(order))], {(store_id, order.locker_id)})


def _confirm_open(session: Session, order: PickupOrder, at: datetime) -> None:
    """The locker confirmed an open: the compartment's `updated_at` passes the load's (see
    lifecycle.flag_unconfirmed_opens), even if its door event is still on its way."""
    assert order.locker_id is not None
    assert order.compartment_id is not None
    key = (order.store_id, order.locker_id, order.compartment_id)
    row = session.get(CompartmentState, key, with_for_update=True, populate_existing=True)
    if row is not None and row.order_id == order.id:
        row.updated_at = at
        session.flush()


# --- associates --------------------------------------------------------------------------------


def set_service(
    session: Session,
    store: StoreConfig,
    locker: str,
    compartment: str,
    *,
    in_service: bool | None,
    clear_attention: bool,
    at: datetime,
) -> CompartmentView:
    """Take a compartment in or out of service, or clear its flag once an associate has dealt with it."""
    spec = locker_of(store, locker)
    if not any(c.id == compartment for c in spec.compartments):
        raise OrderError(404, "unknown_compartment", f"no compartment {compartment!r} in locker {locker!r}")
    begin_write(session)
    ensure_compartments(session, store, at)
    key = (store.store.id, locker, compartment)
    row = session.get(CompartmentState, key, with_for_update=True, populate_existing=True)
    assert row is not None
    if in_service is not None:
        row.in_service = in_service
    if clear_attention:
        row.needs_attention = None
        if row.order_id is not None:
            held = session.get(PickupOrder, row.order_id)
            if held is None or domain.OrderState(held.state) in domain.FINAL:
                row.order_id = None  # the goods of an ended order were taken out
    row.updated_at = at
    session.flush()
    return compartment_view(row)
