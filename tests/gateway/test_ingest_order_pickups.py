"""A pickup signal naming an order ends it picked_up and takes stock exactly once, however often it comes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from gateway_helpers import AGENT, Publisher, RuntimeConsumer, send
from locker_helpers import LOCKER, RICE, SECRET, STORE, create, figures, now, ready, stock
from polling import wait_until
from sqlalchemy import select

from smartstore.gateway.db.lockers import CompartmentState, PickupOrder
from smartstore.gateway.ingest.consumer import SignalConsumer
from smartstore.gateway.lockers.code_entry import PickupResult, pickup_with_code
from smartstore.gateway.lockers.lifecycle import expire_due, get_order
from smartstore.gateway.runtime import GatewayRuntime
from smartstore.kernel.contract import payloads as p

ConsumerFactory = Callable[..., RuntimeConsumer]


def pickup_signal(
    order: str, compartment: str, lines: list[tuple[str, int]], **extra: object
) -> p.PickupSignal:
    return p.PickupSignal(
        **p.envelope(1),
        locker=LOCKER,
        compartment=compartment,
        order=order,
        lines=[p.PickupLine(gtin=g, quantity=q) for g, q in lines],
        **extra,  # type: ignore[arg-type]
    )


def order_row(runtime: GatewayRuntime, order: str) -> PickupOrder:
    with runtime.sessions() as session:
        return get_order(session, STORE, order)


def settle(consumer: SignalConsumer, total: int) -> None:
    wait_until(lambda: consumer.stats.applied + consumer.stats.duplicates == total, what=f"{total} signals")


def test_redelivered_and_repeated_pickups_apply_once(
    consumer_factory: ConsumerFactory, publisher: Publisher
) -> None:
    consumer = consumer_factory()
    runtime = consumer.runtime
    stock(runtime, RICE, 5)
    order = create(runtime, [(RICE, 2)])
    loading = ready(runtime, order)
    with runtime.sessions() as session:
        opened = pickup_with_code(
            session, runtime.stores[STORE], LOCKER, loading.code, by="kiosk", at=now(), secret=SECRET
        )
        session.commit()
    assert opened.result is PickupResult.OPENED
    assert figures(runtime, RICE) == {"on_hand": 5, "reserved": 2, "atp": 3}
    # The edge's signal carries no lines here: the order's own lines are what left.
    signal = pickup_signal(order, loading.compartment, [])
    send(publisher, signal)
    send(publisher, signal)  # redelivered: same event id
    settle(consumer, 2)
    # The same pickup reported again under a new id (e.g. queued offline, then seen online).
    send(publisher, pickup_signal(order, loading.compartment, [(RICE, 2)], offline=True))
    settle(consumer, 3)
    assert (consumer.stats.applied, consumer.stats.duplicates) == (2, 1)
    assert figures(runtime, RICE) == {"on_hand": 3, "reserved": 0, "atp": 3}
    found = order_row(runtime, order)
    assert found.state == "picked_up"
    assert [t.to_state for t in found.transitions].count("picked_up") == 1
    assert found.transitions[-1].by == f"edge:{AGENT}"
    assert found.code_lookup is not None  # kept: the code answers "already used" while the order exists
    with runtime.sessions() as session:
        row = session.get(CompartmentState, (STORE, LOCKER, loading.compartment))
        assert row is not None
        assert row.order_id is None
        # And the code is refused from now on, as used (not as unknown: that would burn a try).
        again = pickup_with_code(
            session, runtime.stores[STORE], LOCKER, loading.code, by="kiosk", at=now(), secret=SECRET
        )
        assert again.result is PickupResult.USED


def test_a_pickup_after_expiry_takes_the_stock_but_releases_nothing_twice(
    consumer_factory: ConsumerFactory, publisher: Publisher
) -> None:
    consumer = consumer_factory()
    runtime = consumer.runtime
    stock(runtime, RICE, 6)
    order = create(runtime, [(RICE, 2)])
    other = create(runtime, [(RICE, 1)])
    loading = ready(runtime, order)
    with runtime.sessions() as session:
        session.execute(
            PickupOrder.__table__.update()  # type: ignore[attr-defined]
            .where(PickupOrder.id == order)
            .values(expires_at=now() - timedelta(minutes=1))
        )
        session.commit()
    with runtime.sessions() as session:
        expired = expire_due(session, runtime.stores, now())
        session.commit()
    assert [o.order.id for o in expired if o.order] == [order]
    assert figures(runtime, RICE)["reserved"] == 1  # only `other` still holds units
    # The customer had typed the code on the keypad while the edge still had the order.
    send(publisher, pickup_signal(order, loading.compartment, [(RICE, 2)], offline=True))
    settle(consumer, 1)
    assert figures(runtime, RICE) == {"on_hand": 4, "reserved": 1, "atp": 3}
    found = order_row(runtime, order)
    assert found.state == "picked_up"
    assert "after the order was expired" in found.transitions[-1].note
    assert order_row(runtime, other).state == "reserved"


def test_a_pickup_of_an_order_never_loaded_changes_nothing(
    consumer_factory: ConsumerFactory, publisher: Publisher
) -> None:
    consumer = consumer_factory()
    runtime = consumer.runtime
    stock(runtime, RICE, 5)
    order = create(runtime, [(RICE, 2)])
    send(publisher, pickup_signal(order, "c01", [(RICE, 2)]))
    settle(consumer, 1)
    assert figures(runtime, RICE) == {"on_hand": 5, "reserved": 2, "atp": 3}
    assert order_row(runtime, order).state == "reserved"
    with runtime.sessions() as session:
        assert session.scalar(select(PickupOrder.state).where(PickupOrder.id == order)) == "reserved"
