"""Orders in SQLite and PostgreSQL: all-or-none reservations, lifecycle, expiry, codes, throttling."""

from __future__ import annotations

from datetime import timedelta

import pytest
from locker_helpers import (
    LOCKER,
    MILK,
    RICE,
    SECRET,
    STORE,
    create,
    door_event,
    figures,
    load,
    now,
    ready,
    stock,
)
from pickup_helpers import attempt
from sqlalchemy import select, text

from smartstore.gateway.db.lockers import CodeAttempt, CompartmentState, PickupOrder
from smartstore.gateway.db.models import Alert
from smartstore.gateway.lockers.code_entry import PickupResult
from smartstore.gateway.lockers.lifecycle import OrderError, cancel_order, expire_due, get_order
from smartstore.gateway.lockers.order_store import create_order
from smartstore.gateway.lockers.views import ready_manifests
from smartstore.gateway.runtime import GatewayRuntime
from smartstore.kernel import pickup_codes
from smartstore.kernel.contract import payloads as p


def state_of(runtime: GatewayRuntime, order: str) -> str:
    with runtime.sessions() as session:
        return get_order(session, STORE, order).state


def test_all_lines_or_none_and_the_failing_line_is_named(runtime: GatewayRuntime) -> None:
    stock(runtime, MILK, 10)  # ATP 10 - 2 safety = 8
    stock(runtime, RICE, 2)
    with runtime.sessions() as session, pytest.raises(OrderError) as refused:
        create_order(session, runtime.stores[STORE], [(MILK, 3), (RICE, 5)], by="t", at=now())
    assert refused.value.status == 409
    assert refused.value.code == "insufficient_stock"
    assert refused.value.details == [
        {"line": 2, "gtin": RICE, "requested": 5, "available_to_promise": 2, "reason": "insufficient_stock"}
    ]
    assert "line 2" in refused.value.message
    assert figures(runtime, MILK) == {"on_hand": 10, "reserved": 0, "atp": 8}
    order = create(runtime, [(MILK, 3), (RICE, 2)])
    assert figures(runtime, MILK) == {"on_hand": 10, "reserved": 3, "atp": 5}
    assert figures(runtime, RICE) == {"on_hand": 2, "reserved": 2, "atp": 0}
    with runtime.sessions() as session:
        found = get_order(session, STORE, order)
        assert found.state == "reserved"
        assert [(t.from_state, t.to_state, t.by) for t in found.transitions] == [
            (None, "created", "test"),
            ("created", "reserved", "test"),
        ]
        assert [(line.gtin, line.quantity) for line in found.lines] == [(MILK, 3), (RICE, 2)]


def test_repeated_gtin_lines_are_reserved_together(runtime: GatewayRuntime) -> None:
    stock(runtime, RICE, 3)
    with runtime.sessions() as session, pytest.raises(OrderError, match="4 requested, 3 available"):
        create_order(session, runtime.stores[STORE], [(RICE, 2), (RICE, 2)], by="t", at=now())


def test_unknown_gtin_is_refused(runtime: GatewayRuntime) -> None:
    with runtime.sessions() as session, pytest.raises(OrderError) as refused:
        create_order(session, runtime.stores[STORE], [("96385074000013", 1)], by="t", at=now())
    assert (refused.value.status, refused.value.code) == (422, "unknown_gtin")


def test_cancel_releases_and_flags_a_loaded_compartment(runtime: GatewayRuntime) -> None:
    stock(runtime, RICE, 5)
    order = create(runtime, [(RICE, 2)])
    loading = load(runtime, order)
    assert figures(runtime, RICE)["reserved"] == 2
    with runtime.sessions() as session:
        cancel_order(session, runtime.stores[STORE], order, by="erp", at=now())
        session.commit()
    assert figures(runtime, RICE) == {"on_hand": 5, "reserved": 0, "atp": 5}
    with runtime.sessions() as session:
        row = session.get(CompartmentState, (STORE, LOCKER, loading.compartment))
        assert row is not None
        assert row.order_id == order
        assert row.needs_attention == f"cancelled: take out {order}"
        found = get_order(session, STORE, order)
        assert found.code_lookup is None
        with pytest.raises(OrderError) as again:
            cancel_order(session, runtime.stores[STORE], order, by="erp", at=now())
        assert again.value.status == 409


def test_load_picks_best_fit_and_ready_needs_the_goods_inside(runtime: GatewayRuntime) -> None:
    stock(runtime, RICE, 5)
    first, second = create(runtime, [(RICE, 1)]), create(runtime, [(RICE, 1)])
    a, b = load(runtime, first), load(runtime, second)
    assert (a.compartment, b.compartment) == ("c01", "c02")
    assert a.request == f"load:{first}:1"
    door_event(runtime, "c01", p.LockerEventType.DOOR_CLOSED, occupied=False)
    assert state_of(runtime, first) == "loaded"  # closed empty: the associate did not put it in
    door_event(runtime, "c01", p.LockerEventType.DOOR_CLOSED, occupied=True)
    assert state_of(runtime, first) == "ready"
    with runtime.sessions() as session:
        found = get_order(session, STORE, first)
        assert [t.to_state for t in found.transitions][-3:] == ["picking", "loaded", "ready"]
        assert found.expires_at is not None
        manifests = ready_manifests(session, runtime.stores, now())
    assert [m.order for m in manifests[(STORE, LOCKER)]] == [first]
    assert pickup_codes.verify_code(a.code, manifests[(STORE, LOCKER)][0].code_hash)


def test_the_code_is_stored_only_as_hashes(runtime: GatewayRuntime) -> None:
    stock(runtime, RICE, 5)
    order = create(runtime, [(RICE, 1)])
    loading = ready(runtime, order)
    with runtime.sessions() as session:
        found = get_order(session, STORE, order)
        assert found.code_hash is not None
        assert pickup_codes.verify_code(loading.code, found.code_hash)
        assert found.code_lookup == pickup_codes.lookup_key(SECRET, f"{STORE}/{LOCKER}", loading.code)
        dump = str(session.execute(text("SELECT * FROM pickup_orders")).all())
        dump += str(session.execute(text("SELECT * FROM pickup_code_attempts")).all())
    assert loading.code not in dump


def test_code_works_once_only_when_ready(runtime: GatewayRuntime) -> None:
    stock(runtime, RICE, 5)
    order = create(runtime, [(RICE, 1)])
    loading = load(runtime, order)
    assert attempt(runtime, loading.code).result is PickupResult.NOT_READY
    door_event(runtime, loading.compartment, p.LockerEventType.DOOR_CLOSED, occupied=True)
    assert attempt(runtime, loading.code).result is PickupResult.OPENED
    assert attempt(runtime, loading.code).result is PickupResult.USED
    with runtime.sessions() as session:
        assert (
            ready_manifests(session, runtime.stores, now())[(STORE, LOCKER)] == []
        )  # used: not offline either
        results = session.scalars(select(CodeAttempt.result).order_by(CodeAttempt.id)).all()
    assert results == ["opened"]  # refusals are counted, not written one row each


def test_five_wrong_codes_lock_their_source_and_the_right_code_of_another_still_opens(
    runtime: GatewayRuntime,
) -> None:
    stock(runtime, RICE, 5)
    order = create(runtime, [(RICE, 1)])
    loading = ready(runtime, order)
    wrong = f"{(int(loading.code) + 1) % 10**6:06d}"
    tries = []
    for _ in range(5):
        result = attempt(runtime, wrong, "s1")
        tries.append((result.result, result.tries_left))
    assert tries == [(PickupResult.WRONG, n) for n in (4, 3, 2, 1, 0)]
    locked = attempt(runtime, loading.code, "s1")
    assert locked.result is PickupResult.LOCKED
    assert locked.retry_after_s is not None
    assert 14 * 60 < locked.retry_after_s <= 15 * 60
    with runtime.sessions() as session:
        # A session locking itself is no news for staff: no alert, one audit row for the lockout.
        assert session.scalars(select(Alert.cause)).all() == []
        assert session.scalars(select(CodeAttempt.result)).all() == ["lockout"]
    assert state_of(runtime, order) == "ready"  # the right code waits out the lockout in that session
    other = attempt(runtime, loading.code, "s2")
    assert other.result is PickupResult.OPENED  # another customer is not locked out


def test_the_order_throttle_counts_codes_given_with_an_order_number(runtime: GatewayRuntime) -> None:
    stock(runtime, RICE, 5)
    order = create(runtime, [(RICE, 1)])
    loading = ready(runtime, order)
    other = create(runtime, [(RICE, 1)])
    # The right code with another order's number is wrong for that order.
    assert attempt(runtime, loading.code, order=other).result is PickupResult.WRONG
    assert attempt(runtime, "000000", "k", order=other).tries_left == 3
    assert attempt(runtime, loading.code, order=order).result is PickupResult.OPENED


def test_expiry_releases_flags_the_compartment_and_alerts(runtime: GatewayRuntime) -> None:
    stock(runtime, RICE, 5)
    order = create(runtime, [(RICE, 2)])
    loading = ready(runtime, order)
    unloaded = create(runtime, [(RICE, 1)])
    assert figures(runtime, RICE)["reserved"] == 3
    with runtime.sessions() as session:
        assert expire_due(session, runtime.stores, now()) == []
        later = now() + timedelta(hours=72, minutes=1)
        outcomes = expire_due(session, runtime.stores, later)
        session.commit()
    assert sorted(o.order.id for o in outcomes if o.order) == sorted([order, unloaded])
    assert figures(runtime, RICE) == {"on_hand": 5, "reserved": 0, "atp": 5}
    assert state_of(runtime, order) == "expired"
    with runtime.sessions() as session:
        row = session.get(CompartmentState, (STORE, LOCKER, loading.compartment))
        assert row is not None
        assert row.needs_attention == f"expired: take out {order}"
        causes = set(session.scalars(select(Alert.cause)))
        assert f"locker.order_expired:{order}" in causes
        assert ready_manifests(session, runtime.stores, later)[(STORE, LOCKER)] == []
        assert session.scalars(select(PickupOrder.code_lookup).where(PickupOrder.id == order)).one() is None
