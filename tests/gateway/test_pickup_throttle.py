"""Pickup-code throttling (SQLite, PostgreSQL): per source, per order, a bank ceiling; lifting; pruning."""

from __future__ import annotations

from datetime import timedelta

from locker_helpers import LOCKER, RICE, STORE, create, now, ready, stock
from pickup_helpers import attempt
from sqlalchemy import func, select

from smartstore.gateway.db.lockers import CodeAttempt, CodeLockout, PickupOrder
from smartstore.gateway.db.models import Alert
from smartstore.gateway.lockers import domain
from smartstore.gateway.lockers.code_entry import (
    PickupResult,
    active_lockouts,
    lift_lockouts,
    prune_counters,
)
from smartstore.gateway.lockers.lifecycle import mark_picked_up
from smartstore.gateway.runtime import GatewayRuntime

WRONG = "000000"


def with_bank_ceiling(runtime: GatewayRuntime, ceiling: int) -> None:
    store = runtime.stores[STORE]
    info = store.store.model_copy(update={"pickup_bank_max_failures": ceiling})
    runtime.stores[STORE] = store.model_copy(update={"store": info})


def counter(runtime: GatewayRuntime, scope: str) -> int | None:
    with runtime.sessions() as session:
        row = session.get(CodeLockout, (STORE, scope))
        return None if row is None else row.failures


def test_a_locked_source_hammering_on_does_not_push_the_bank(runtime: GatewayRuntime) -> None:
    stock(runtime, RICE, 5)
    order = create(runtime, [(RICE, 1)])
    code = ready(runtime, order).code
    results = [attempt(runtime, WRONG, "attacker").result for _ in range(60)]
    assert results == [PickupResult.WRONG] * 5 + [PickupResult.LOCKED] * 55
    assert counter(runtime, f"bank:{LOCKER}") == 5  # guesses only; refused tries were never checked
    assert counter(runtime, f"source:{LOCKER}:attacker") == 60  # refusals counted in its window
    assert attempt(runtime, code, "customer").result is PickupResult.OPENED
    with runtime.sessions() as session:
        audited = session.scalars(select(CodeAttempt.result).order_by(CodeAttempt.id)).all()
    assert audited == ["lockout", "opened"]  # 61 requests, 2 rows


def test_many_sources_reach_the_bank_ceiling_and_staff_lift_it(runtime: GatewayRuntime) -> None:
    with_bank_ceiling(runtime, 12)
    stock(runtime, RICE, 5)
    order = create(runtime, [(RICE, 1)])
    code = ready(runtime, order).code
    results = [attempt(runtime, WRONG, f"s{n // 5}").result for n in range(12)]
    assert results == [PickupResult.WRONG] * 12
    locked = attempt(runtime, code, "late-customer")
    assert locked.result is PickupResult.LOCKED
    assert locked.retry_after_s is not None
    assert 14 * 60 < locked.retry_after_s <= 15 * 60
    with runtime.sessions() as session:
        alert = session.scalars(select(Alert).where(Alert.cause == f"locker.code_lockout:{LOCKER}")).one()
        assert alert.state == "open"
        assert alert.message.startswith("12 wrong pickup codes at locker locker-1")
        scopes = sorted((lk["scope"], lk["what"]) for lk in active_lockouts(session, STORE, now())[LOCKER])
    assert scopes == [("bank", None), ("source", "s0"), ("source", "s1")]
    with runtime.sessions() as session:
        lifted = lift_lockouts(session, runtime.stores[STORE], LOCKER, by="manager (m1)", at=now())
        session.commit()
        assert lifted.lifted == 3
        assert [event[0] for event in lifted.events] == ["alert"]
        alert = session.scalars(select(Alert).where(Alert.cause == f"locker.code_lockout:{LOCKER}")).one()
        assert alert.state == "cleared"
        assert active_lockouts(session, STORE, now()) == {}
        last = session.scalars(select(CodeAttempt).order_by(CodeAttempt.id.desc()).limit(1)).one()
        assert (last.result, last.by) == ("lockout_lifted", "manager (m1)")
    assert attempt(runtime, code, "late-customer").result is PickupResult.OPENED


def test_the_order_scope_locks_that_order_for_every_source(runtime: GatewayRuntime) -> None:
    stock(runtime, RICE, 5)
    order = create(runtime, [(RICE, 1)])
    code = ready(runtime, order).code
    for n in range(5):
        assert attempt(runtime, WRONG, f"s{n}", order=order).result is PickupResult.WRONG
    assert attempt(runtime, code, "s9", order=order).result is PickupResult.LOCKED
    assert attempt(runtime, code, "s9").result is PickupResult.OPENED  # without the number: by code alone


def test_a_used_code_stays_used_after_the_pickup_and_burns_no_try(runtime: GatewayRuntime) -> None:
    stock(runtime, RICE, 5)
    order = create(runtime, [(RICE, 1)])
    code = ready(runtime, order).code
    assert attempt(runtime, code, "customer").result is PickupResult.OPENED
    with runtime.sessions() as session:
        found = session.get(PickupOrder, order)
        assert found is not None
        mark_picked_up(session, found, by="edge:edge-1", at=now(), note="collected")
        session.commit()
    later = now() + timedelta(hours=200)  # long after any window or expiry
    for n in range(10):
        assert attempt(runtime, code, f"visit-{n}", at=later).result is PickupResult.USED
    with runtime.sessions() as session:
        rows = session.scalar(select(func.count()).select_from(CodeLockout).where(CodeLockout.failures > 0))
    assert rows == 0  # no try burnt, and no counter row per new session either


def test_stale_counters_are_pruned_and_lockouts_kept(runtime: GatewayRuntime) -> None:
    start = now()
    for _ in range(5):
        attempt(runtime, WRONG, "locked-one", at=start)
    attempt(runtime, WRONG, "one-typo", at=start)
    with runtime.sessions() as session:
        assert prune_counters(session, runtime.stores, start + timedelta(minutes=1)) == 0
        session.commit()
        assert prune_counters(session, runtime.stores, start + timedelta(minutes=14)) == 0
        session.commit()
        # 16 min later: the typo's window has passed, the lockout (15 min) has run out.
        assert prune_counters(session, runtime.stores, start + timedelta(minutes=16)) == 3
        session.commit()
        assert session.scalar(select(func.count()).select_from(CodeLockout)) == 0


def test_a_refused_try_counts_in_its_window_but_never_extends_the_lock() -> None:
    rule = domain.ThrottleRule(max_failures=2, lockout=timedelta(minutes=10))
    start = now()
    state = domain.after_failure(domain.Lockout(), rule, start)
    state = domain.after_failure(state, rule, start)
    assert state.locked_until == start + timedelta(minutes=10)
    later = domain.after_refusal(state, rule, start + timedelta(minutes=5))
    assert (later.failures, later.locked_until) == (3, state.locked_until)
    assert domain.after_refusal(domain.Lockout(), rule, start) == domain.Lockout()  # not locked: no count
    assert domain.tries_left(later, rule, start + timedelta(minutes=11)) == 2  # the lock ran out
