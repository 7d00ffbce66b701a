"""Pure pickup-order rules, table-driven: lifecycle, compartment best fit, wrong-code throttling, pickups."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from smartstore.gateway.lockers import domain as o
from smartstore.gateway.lockers.domain import Compartment, Lockout, OrderState, ThrottleRule
from smartstore.kernel.storeconfig import CompartmentSize

S = OrderState
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)

ALLOWED = [
    (S.CREATED, S.RESERVED),
    (S.RESERVED, S.PICKING),
    (S.PICKING, S.LOADED),
    (S.LOADED, S.LOADED),
    (S.LOADED, S.READY),
    (S.READY, S.PICKED_UP),
    (S.LOADED, S.PICKED_UP),
    (S.RESERVED, S.CANCELLED),
    (S.READY, S.CANCELLED),
    (S.RESERVED, S.EXPIRED),
    (S.READY, S.EXPIRED),
    (S.EXPIRED, S.PICKED_UP),
    (S.CANCELLED, S.PICKED_UP),
]
FORBIDDEN = [
    (S.CREATED, S.READY),
    (S.RESERVED, S.READY),
    (S.RESERVED, S.LOADED),
    (S.RESERVED, S.PICKED_UP),
    (S.READY, S.LOADED),
    (S.PICKED_UP, S.CANCELLED),
    (S.PICKED_UP, S.PICKED_UP),
    (S.EXPIRED, S.READY),
    (S.CANCELLED, S.EXPIRED),
    (S.EXPIRED, S.CANCELLED),
]


@pytest.mark.parametrize(("current", "target"), ALLOWED)
def test_allowed_transitions(current: OrderState, target: OrderState) -> None:
    o.check_transition(current, target)


@pytest.mark.parametrize(("current", "target"), FORBIDDEN)
def test_forbidden_transitions_raise(current: OrderState, target: OrderState) -> None:
    with pytest.raises(o.TransitionError, match=f"{current.value} cannot become {target.value}"):
        o.check_transition(current, target)


def test_every_state_is_in_the_table_and_final_states_end() -> None:
    assert set(o.TRANSITIONS) == set(OrderState)
    assert o.TRANSITIONS[S.PICKED_UP] == frozenset()
    assert o.HOLDS_RESERVATION.isdisjoint(o.FINAL)


def test_order_ids_are_random_and_readable() -> None:
    ids = {o.new_order_id() for _ in range(500)}
    assert len(ids) == 500
    assert all(re.fullmatch(r"ORD-[0-9A-HJKMNP-TV-Z]{8}", i) for i in ids)


@pytest.mark.parametrize(("compartment", "number"), [("c12", 12), ("c07", 7), ("door-3", 3), ("top", None)])
def test_door_number(compartment: str, number: int | None) -> None:
    assert o.door_number(compartment) == number


@pytest.mark.parametrize(
    ("sizes", "needed"),
    [([], "S"), (["S", "S"], "S"), (["S", "M"], "M"), (["L", "S", "M"], "L")],
)
def test_the_largest_line_decides_the_size(sizes: list[str], needed: str) -> None:
    assert o.order_size(CompartmentSize(s) for s in sizes) is CompartmentSize(needed)


def c(name: str, size: str, locker: str = "locker-1", **state: object) -> Compartment:
    return Compartment(locker, name, CompartmentSize(size), **state)  # type: ignore[arg-type]


BANK = [
    c("c01", "S", order="ORD-1"),
    c("c02", "S", in_service=False),
    c("c03", "S", needs_attention="door jammed"),
    c("c04", "S", occupied=True),
    c("c05", "S", door_open=True),
    c("c06", "S"),
    c("c07", "M"),
    c("c08", "L"),
    c("d01", "S", locker="locker-2"),
]


@pytest.mark.parametrize(
    ("needed", "locker", "expected"),
    [
        ("S", None, "c06"),  # the first free S; taken, out of service, flagged, full, open ones skipped
        ("M", None, "c07"),
        ("L", None, "c08"),
        ("S", "locker-2", "d01"),
        ("M", "locker-2", None),
    ],
)
def test_best_fit_takes_the_smallest_free_compartment_in_service(
    needed: str, locker: str | None, expected: str | None
) -> None:
    choice = o.best_fit(BANK, CompartmentSize(needed), locker)
    assert (choice.compartment if choice else None) == expected


def test_best_fit_moves_up_a_size_when_the_small_ones_are_taken() -> None:
    bank = [c("c01", "S", order="ORD-1"), c("c09", "L"), c("c07", "M")]
    choice = o.best_fit(bank, CompartmentSize.S)
    assert choice is not None
    assert choice.compartment == "c07"
    assert o.best_fit([c("c01", "S")], CompartmentSize.M) is None


RULE = ThrottleRule(max_failures=5, lockout=timedelta(minutes=15))


def fail(times: int) -> Lockout:
    state = Lockout()
    for n in range(times):
        state = o.after_failure(state, RULE, T0 + n * timedelta(seconds=10))
    return state


@pytest.mark.parametrize(("failures", "left"), [(0, 5), (1, 4), (3, 2), (4, 1), (5, 0)])
def test_tries_left_count_down(failures: int, left: int) -> None:
    assert o.tries_left(fail(failures), RULE, T0 + timedelta(minutes=1)) == left


def test_the_fifth_wrong_code_locks_for_fifteen_minutes() -> None:
    state = fail(5)
    locked_at = T0 + timedelta(seconds=40)
    assert state.locked_until == locked_at + timedelta(minutes=15)
    assert o.retry_after(state, locked_at) == 15 * 60
    assert o.retry_after(state, locked_at + timedelta(minutes=14)) == 60
    # More wrong codes while locked do not extend it: they are refused before being checked.
    assert o.after_failure(state, RULE, locked_at + timedelta(minutes=5)) == state
    after = locked_at + timedelta(minutes=15)
    assert o.retry_after(state, after) is None
    assert o.tries_left(state, RULE, after) == 5


def test_old_failures_are_forgotten() -> None:
    state = fail(4)
    later = T0 + timedelta(minutes=30)
    assert o.tries_left(state, RULE, later) == 5
    assert o.after_failure(state, RULE, later).failures == 1


@pytest.mark.parametrize(
    ("state", "transition", "release", "take"),
    [
        (S.READY, True, True, True),
        (S.LOADED, True, True, True),
        (S.EXPIRED, True, False, True),
        (S.CANCELLED, True, False, True),
        (S.PICKED_UP, False, False, False),
        (S.RESERVED, False, False, False),
        (S.PICKING, False, False, False),
    ],
)
def test_pickup_effect_by_order_state(state: OrderState, transition: bool, release: bool, take: bool) -> None:
    effect = o.pickup_effect(state)
    assert (effect.transition, effect.release, effect.take) == (transition, release, take)
    if effect.transition:
        o.check_transition(state, S.PICKED_UP)
