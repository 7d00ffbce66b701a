"""Properties of the gateway's pure cores: inventory figures, the locker order lifecycle and wrong-code
throttling, restock availability."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartstore.gateway.inventory.domain import (
    available_to_promise,
    count_after_movement,
    reserved_after_pickup,
    stock_figures,
    take_units,
)
from smartstore.gateway.lockers import domain as lockers
from smartstore.gateway.restock.domain import availability
from smartstore.kernel.storeconfig import Area

FAST = settings(max_examples=200, deadline=500)
counts = st.integers(min_value=0, max_value=10**9)
zones = st.sampled_from(["backroom", "aisle-1", "aisle-2", "exit", "lockers", "unknown"])
AREAS = {
    "backroom": Area.BACKROOM,
    "aisle-1": Area.SALESFLOOR,
    "aisle-2": Area.SALESFLOOR,
    "exit": Area.EXIT,
    "lockers": Area.LOCKER,
}
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@FAST
@given(counts, counts, counts)
def test_available_to_promise_is_never_negative_nor_above_what_is_free(
    on_hand: int, reserved: int, safety: int
) -> None:
    atp = available_to_promise(on_hand, reserved, safety)
    assert 0 <= atp <= on_hand
    assert atp == 0 or atp == on_hand - reserved - safety


@FAST
@given(st.dictionaries(zones, counts))
def test_on_hand_is_the_sum_of_the_stocked_areas_only(zone_counts: dict[str, int]) -> None:
    figures = stock_figures(zone_counts, AREAS)
    stocked = sum(
        n for zone, n in zone_counts.items() if zone in ("backroom", "aisle-1", "aisle-2", "lockers")
    )
    assert figures.on_hand == stocked
    assert min(figures.salesfloor, figures.backroom, figures.locker) >= 0


@FAST
@given(
    counts,
    st.lists(
        st.tuples(st.sampled_from(["sale", "receipt", "adjustment", "count"]), st.integers(-1000, 1000)),
        max_size=30,
    ),
)
def test_movements_never_make_a_count_negative(start: int, movements: list[tuple[str, int]]) -> None:
    current = start
    for movement, quantity in movements:
        if quantity < 0 and movement != "adjustment":
            with pytest.raises(ValueError, match="negative"):
                count_after_movement(movement, current, quantity)  # type: ignore[arg-type]
            continue
        after = count_after_movement(movement, current, quantity)  # type: ignore[arg-type]
        assert after >= 0
        if movement == "receipt":
            assert after == current + quantity
        current = after


@FAST
@given(st.dictionaries(zones, st.integers(0, 50)), st.permutations(list(AREAS)), st.integers(0, 300))
def test_taking_units_takes_what_exists_in_order_and_never_more(
    zone_counts: dict[str, int], order: list[str], quantity: int
) -> None:
    changed = take_units(zone_counts, order, quantity)
    taken = sum(zone_counts.get(zone, 0) - after for zone, after in changed.items())
    assert all(0 <= after < zone_counts[zone] for zone, after in changed.items())
    assert taken == min(quantity, sum(zone_counts.get(zone, 0) for zone in order))
    # A later zone is touched only once every earlier one is emptied.
    touched = [zone for zone in order if zone in changed]
    for zone in order[: order.index(touched[-1])] if touched else []:
        assert zone_counts.get(zone, 0) == 0 or changed.get(zone) == 0


@FAST
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 20)), max_size=40))
def test_reservations_never_go_negative_nor_exceed_what_was_reserved(steps: list[tuple[bool, int]]) -> None:
    reserved = promised = 0
    for reserve, quantity in steps:
        if reserve:
            reserved += quantity
            promised += quantity
        else:
            reserved = reserved_after_pickup(reserved, quantity)
        assert 0 <= reserved <= promised


@FAST
@given(st.lists(st.sampled_from(list(lockers.OrderState)), max_size=20))
def test_an_order_only_moves_along_the_table_and_final_states_stay_final(
    targets: list[lockers.OrderState],
) -> None:
    state = lockers.OrderState.CREATED
    for target in targets:
        if lockers.can_transition(state, target):
            lockers.check_transition(state, target)
            if state is lockers.OrderState.PICKED_UP:
                pytest.fail("picked_up is the end")
            state = target
        else:
            with pytest.raises(lockers.TransitionError):
                lockers.check_transition(state, target)
        effect = lockers.pickup_effect(state)
        # Units leave the stock only if they could have been in a compartment; never released twice.
        assert not (effect.release and not effect.take)
        assert not (effect.release and state not in lockers.IN_COMPARTMENT)


@FAST
@given(
    st.integers(1, 10),
    st.integers(1, 3600),
    st.lists(st.tuples(st.sampled_from(["fail", "refuse"]), st.integers(0, 600)), max_size=40),
)
def test_wrong_codes_lock_after_max_failures_and_never_longer_than_the_lockout(
    max_failures: int, lockout_s: int, steps: list[tuple[str, int]]
) -> None:
    rule = lockers.ThrottleRule(max_failures, timedelta(seconds=lockout_s))
    state, now = lockers.Lockout(), T0
    for action, wait in steps:
        now += timedelta(seconds=wait)
        left = lockers.tries_left(state, rule, now)
        assert 0 <= left <= max_failures
        locked = lockers.retry_after(state, now)
        assert locked is None or 0 < locked <= lockout_s
        if action == "fail":
            before = state
            state = lockers.after_failure(state, rule, now)
            if state.locked_until != before.locked_until and state.locked_until is not None:
                assert state.locked_until == now + rule.lockout  # a lock starts at the failure that earned it
        else:
            after = lockers.after_refusal(state, rule, now)
            assert after.locked_until == lockers._current(state, rule, now).locked_until  # never lengthens
            state = after
    # max_failures wrong codes in a row, at once, always lock.
    fresh = lockers.Lockout()
    for _ in range(max_failures):
        fresh = lockers.after_failure(fresh, rule, now)
    assert lockers.retry_after(fresh, now) == lockout_s


@FAST
@given(
    st.lists(st.text(min_size=1, max_size=4), unique=True, max_size=30),
    st.dictionaries(st.text(min_size=1, max_size=4), st.sampled_from(["ok", "low", "empty", "unknown", "x"])),
)
def test_availability_counts_every_planned_slot_once_and_osa_is_a_share(
    planned: list[str], states: dict[str, str]
) -> None:
    figures = availability(planned, states)
    assert figures.ok + figures.low + figures.empty + figures.unknown == figures.planned == len(planned)
    assert figures.osa is None or 0.0 <= figures.osa <= 1.0
    if figures.ok + figures.low + figures.empty == 0:
        assert figures.osa is None  # nothing seen yet is unknown, not 0 %
