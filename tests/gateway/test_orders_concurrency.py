"""No oversell across channels: online orders, POS sales and RFID departures at once (SQLite and PostgreSQL).

One store, one product with 40 units online ATP. Threads released together by a barrier place orders
through `place_order` (every channel, every fulfilment type, 1-3 units), post POS sales through
`apply_movement` and feed RFID stock signals with falling backroom counts through the ingest's real
writer path (`BatchCommitter` + `BatchWriter`, as the consumer runs them, without MQTT).

What is proved afterwards, exactly:
- the `inventory.channel_atp_changed` events of the row, in commit order, form one unbroken chain from
  the starting figures to the final row: every writer saw the figures the previous one left (no lost
  update, no write on a stale read);
- every accepted order has its event in that chain, written at its own `at`, with online ATP before
  >= its quantity and after = before - quantity: no order was accepted that its moment could not back;
- online ATP never rises (nothing is released or received here), so every refused order asked for
  more than was left at the end;
- reserved = the sum of the accepted orders' quantities = the sum of the open fulfilment lines;
- on hand = the last RFID backroom count + the salesfloor less the sales: no sale or count was lost;
- nothing failed but with a 409, and every thread finished (no deadlock, no lock timeout).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from gateway_helpers import MILK, STORE, Signals, signal_topic
from sqlalchemy import func, select

from smartstore.gateway.db.domain_events import CHANNEL_ATP_CHANGED
from smartstore.gateway.db.lockers import PickupOrder, PickupOrderLine
from smartstore.gateway.db.models import Inventory
from smartstore.gateway.db.orders import DomainEvent
from smartstore.gateway.db.util import as_utc, utc_now
from smartstore.gateway.ingest.commit import BatchCommitter
from smartstore.gateway.ingest.decode import Inbound
from smartstore.gateway.ingest.writer import BatchWriter
from smartstore.gateway.inventory.allocation import Channel
from smartstore.gateway.inventory.store import apply_movement
from smartstore.gateway.lockers.lifecycle import OrderError
from smartstore.gateway.lockers.states import FulfilmentType
from smartstore.gateway.orders import slots
from smartstore.gateway.orders.placement import OrderRequest, place_order
from smartstore.gateway.runtime import GatewayRuntime
from smartstore.kernel.contract import payloads as p

F = FulfilmentType
BACKROOM, FLOOR = 20, 22  # MILK: safety stock 2, no holdback -> 40 units online ATP
ONLINE_ATP = BACKROOM + FLOOR - 2
NEAR_STORE = (52.5300, 13.4100)  # inside the store's 4 km delivery area
KINDS = (F.DELIVERY, F.COUNTER_PICKUP, F.LOCKER_PICKUP, F.SHIP)
ORDER_THREADS, ORDERS_EACH = 6, 8  # 48 orders, 96 units asked for: more than there is
SALES, DEPARTURES = 8, 10  # one unit each, from the salesfloor / the backroom
OPEN = ("created", "reserved", "picking", "loaded", "ready", "staged")


@dataclass
class Outcomes:
    accepted: dict[datetime, int] = field(default_factory=dict)  # order `at` -> units
    refused: list[int] = field(default_factory=list)  # units of each refused order
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _stock(runtime: GatewayRuntime, at: datetime) -> int:
    """Count MILK into two zones; returns the sequence number of the last domain event so far."""
    with runtime.sessions() as session:
        for zone, units in (("backroom", BACKROOM), ("aisle-1", FLOOR)):
            apply_movement(
                session,
                runtime.stores[STORE],
                gtin=MILK,
                type="count",
                quantity=units,
                zone=zone,
                source="manual",
                at=at,
            )
        session.commit()
        return int(session.scalar(select(func.max(DomainEvent.seq))) or 0)


def _request(thread: int, k: int, slot_starts: list[datetime]) -> OrderRequest:
    kind = KINDS[(thread + k) % len(KINDS)]
    lines = [(MILK, 1 + (thread * 7 + k) % 3)]
    channel = list(Channel)[(thread + 2 * k) % len(Channel)]
    slot = slot_starts[(thread + k) % len(slot_starts)]
    if kind is F.DELIVERY:
        return OrderRequest(channel, kind, lines, destination=NEAR_STORE)
    if kind is F.SHIP:
        return OrderRequest(channel, kind, lines, destination=NEAR_STORE, allow_split=True)
    return OrderRequest(channel, kind, lines, store=STORE, slot_start=slot)


def _order_thread(
    runtime: GatewayRuntime, thread: int, t0: datetime, slot_starts: list[datetime], out: Outcomes
) -> Callable[[], None]:
    def run() -> None:
        with runtime.sessions() as session:
            for k in range(ORDERS_EACH):
                request = _request(thread, k, slot_starts)
                at = t0 + timedelta(milliseconds=thread * 1000 + k)  # unique: finds its ATP event
                units = sum(q for _, q in request.lines)
                try:
                    place_order(session, runtime.stores, request, by=f"t{thread}", at=at)
                    session.commit()
                except OrderError as error:
                    session.rollback()
                    with out.lock:
                        if error.status == 409 and error.code in ("no_source", "insufficient_stock"):
                            out.refused.append(units)
                        else:
                            out.failures.append(f"order {thread}/{k}: {error.code} {error}")
                    continue
                with out.lock:
                    out.accepted[as_utc(at)] = units

    return run


def _sales_thread(runtime: GatewayRuntime, t0: datetime) -> Callable[[], None]:
    def run() -> None:
        with runtime.sessions() as session:
            for n in range(SALES):
                at = t0 + timedelta(seconds=200, milliseconds=n)
                apply_movement(
                    session,
                    runtime.stores[STORE],
                    gtin=MILK,
                    type="sale",
                    quantity=1,
                    zone="aisle-1",
                    source="pos",
                    at=at,
                )
                session.commit()

    return run


def _rfid_thread(runtime: GatewayRuntime, failures: list[str]) -> Callable[[], None]:
    def run() -> None:
        signals = Signals()
        committer = BatchCommitter(
            runtime.engine, runtime.bus, BatchWriter(runtime.stores), threading.Event()
        )
        try:
            for n in range(1, DEPARTURES + 1):
                signal = signals.stock([("backroom", MILK, BACKROOM - n)])
                result = committer.commit([Inbound(signal_topic(signal), p.encode(signal), n, 1, 1)])
                if result is None or result.applied != 1:
                    failures.append(f"RFID signal {n} not applied: {result}")
        finally:
            committer.close()

    return run


def _run_together(runtime: GatewayRuntime, *, sales: bool) -> tuple[Outcomes, int]:
    t0 = utc_now() - timedelta(hours=3)  # before any signal's time: events keep the `at` they were given
    since = _stock(runtime, t0 - timedelta(seconds=1))
    store = runtime.stores[STORE]
    slot_starts = [start for start, _ in slots.bookable(store, t0 + timedelta(hours=1))][:4]
    out = Outcomes()
    targets = [_order_thread(runtime, t, t0, slot_starts, out) for t in range(ORDER_THREADS)]
    if sales:
        targets += [_sales_thread(runtime, t0), _rfid_thread(runtime, out.failures)]
    assert {_request(t, k, slot_starts).fulfilment for t in range(4) for k in range(4)} == set(F)
    barrier = threading.Barrier(len(targets))
    errors: list[str] = []

    def started(target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            barrier.wait()
            try:
                target()
            except Exception as error:  # a deadlock or lock timeout would land here
                errors.append(f"{type(error).__name__}: {error}")

        return run

    threads = [threading.Thread(target=started(target)) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads), "a thread is stuck (deadlock?)"
    assert errors == []
    assert out.failures == []
    return out, since


def _check_history(runtime: GatewayRuntime, out: Outcomes, since: int) -> Inventory:
    """The ATP event chain and the reservations; returns the final row."""
    with runtime.sessions() as session:
        row = session.get(Inventory, (STORE, MILK))
        assert row is not None
        chain = list(
            session.scalars(
                select(DomainEvent)
                .where(DomainEvent.type == CHANNEL_ATP_CHANGED, DomainEvent.subject == MILK)
                .where(DomainEvent.seq > since)
                .order_by(DomainEvent.seq)
            )
        )
        open_lines = session.scalar(
            select(func.coalesce(func.sum(PickupOrderLine.quantity), 0))
            .join(PickupOrder, PickupOrder.id == PickupOrderLine.order_id)
            .where(PickupOrder.state.in_(OPEN), PickupOrderLine.gtin == MILK)
        )
    figures = (ONLINE_ATP, ONLINE_ATP)
    by_at: dict[datetime, list[dict[str, Any]]] = {}
    for event in chain:
        before = event.data["previous"]
        assert (before["available_to_promise"], before["online_available_to_promise"]) == figures, event.data
        after = (event.data["available_to_promise"], event.data["online_available_to_promise"])
        assert after[1] <= figures[1], f"online ATP rose: {figures} -> {after}"
        figures = after
        by_at.setdefault(as_utc(event.at), []).append(event.data)
    assert figures == (row.available_to_promise, row.online_available_to_promise)
    for at, units in out.accepted.items():
        [data] = by_at[at]  # one reservation, one event, at the order's own time
        before = data["previous"]["online_available_to_promise"]
        assert before >= units, f"order at {at} took {units} of {before}"
        assert data["online_available_to_promise"] == before - units
    accepted = sum(out.accepted.values())
    print(
        f"\n{len(out.accepted)} orders accepted ({accepted} units), {len(out.refused)} refused, "
        f"{len(chain)} ATP events"
    )
    assert row.reserved == accepted == open_lines
    left = row.online_available_to_promise
    assert left is not None
    assert all(units > left for units in out.refused)
    assert out.refused, "demand exceeded supply: some orders must have been refused"
    return row


def test_concurrent_orders_across_channels_promise_exactly_the_online_atp(runtime: GatewayRuntime) -> None:
    out, since = _run_together(runtime, sales=False)
    row = _check_history(runtime, out, since)
    accepted = sum(out.accepted.values())
    # Exact: nothing promised beyond the online ATP, and nothing refused that the rest could have filled.
    assert accepted <= ONLINE_ATP
    assert ONLINE_ATP - accepted < min(out.refused)
    assert row.online_available_to_promise == ONLINE_ATP - accepted


def test_orders_pos_sales_and_rfid_departures_at_once_never_oversell(runtime: GatewayRuntime) -> None:
    out, since = _run_together(runtime, sales=True)
    row = _check_history(runtime, out, since)
    # Every sale and every RFID count landed: the backroom ends at the last count, the floor less the sales.
    assert (row.backroom, row.salesfloor) == (BACKROOM - DEPARTURES, FLOOR - SALES)
    assert row.on_hand == BACKROOM - DEPARTURES + FLOOR - SALES
    # Stock may vanish after a promise (a short pick), but never before one: what was promised fit the
    # online ATP left after everything that had committed before it (checked event by event above).
    assert sum(out.accepted.values()) <= ONLINE_ATP
