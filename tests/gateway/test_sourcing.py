"""Pure sourcing and slot rules: who fulfils an order and why, split only when allowed, local-time slots."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartstore.gateway.lockers.states import FulfilmentType
from smartstore.gateway.orders import slots
from smartstore.gateway.orders.sourcing import (
    UNCONFIRMED_SHELF_KM,
    Candidate,
    choose,
    distance_km,
)
from smartstore.kernel.storeconfig import EXAMPLE_STORE, load_store

F = FulfilmentType
A, B = "09506000100005", "09506000100012"


def store(name: str, km: float | None, atp: dict[str, int], shelf: str = "ok", **kw: object) -> Candidate:
    return Candidate(name, km, atp, {g: shelf for g in atp}, **kw)  # type: ignore[arg-type]


def test_haversine_matches_a_known_distance() -> None:
    berlin, hamburg = (52.5200, 13.4050), (53.5511, 9.9937)
    assert distance_km(berlin, hamburg) == pytest.approx(255.3, abs=1.0)
    assert distance_km(berlin, berlin) == 0


def test_nearest_store_that_fills_every_line_wins() -> None:
    decision = choose(
        [(A, 2), (B, 1)],
        [
            store("far", 9.0, {A: 5, B: 5}),
            store("near", 1.0, {A: 5, B: 5}),
            store("nearest", 0.5, {A: 1, B: 5}),
        ],
        fulfilment=F.DELIVERY,
    )
    assert decision.strategy == "best_store"
    assert [a.store for a in decision.allocations] == ["near"]
    assert decision.allocations[0].lines == ((A, 2), (B, 1))


def test_a_camera_confirmed_shelf_beats_a_slightly_nearer_store() -> None:
    lines = [(A, 1)]
    unseen = store("no-camera", 1.0, {A: 5}, shelf="unknown")
    seen = store("camera", 1.0 + UNCONFIRMED_SHELF_KM - 0.5, {A: 5})
    assert choose(lines, [unseen, seen], fulfilment=F.DELIVERY).allocations[0].store == "camera"
    further = store("camera", 1.0 + UNCONFIRMED_SHELF_KM + 0.5, {A: 5})
    assert choose(lines, [unseen, further], fulfilment=F.DELIVERY).allocations[0].store == "no-camera"


def test_a_chosen_pickup_store_is_never_swapped_and_alternatives_are_named() -> None:
    candidates = [store("chosen", 0.0, {A: 1}), store("other", 3.0, {A: 9})]
    decision = choose([(A, 2)], candidates, fulfilment=F.COUNTER_PICKUP, requested="chosen")
    assert not decision.placed
    assert ("other", "could take the order instead") in decision.rejected
    shipped = choose([(A, 2)], candidates, fulfilment=F.SHIP, requested="chosen")
    assert shipped.placed
    assert shipped.allocations[0].store == "other"


def test_ineligible_stores_are_skipped_with_their_reason() -> None:
    candidates = [
        store("closed", 0.1, {A: 9}, eligible=False, why_not="does not deliver"),
        store("open", 2, {A: 9}),
    ]
    decision = choose([(A, 1)], candidates, fulfilment=F.DELIVERY)
    assert decision.allocations[0].store == "open"
    refused = choose([(A, 99)], candidates, fulfilment=F.DELIVERY)
    assert ("closed", "does not deliver") in refused.rejected
    assert dict(refused.shortfall) == {A: 90}


def test_split_only_when_allowed() -> None:
    candidates = [store("x", 1.0, {A: 3, B: 0}), store("y", 2.0, {A: 0, B: 2})]
    assert not choose([(A, 3), (B, 2)], candidates, fulfilment=F.SHIP).placed
    decision = choose([(A, 3), (B, 2)], candidates, fulfilment=F.SHIP, allow_split=True)
    assert decision.strategy == "split"
    assert {a.store: a.lines for a in decision.allocations} == {"x": ((A, 3),), "y": ((B, 2),)}


quantities = st.integers(min_value=0, max_value=6)


@given(
    wanted=st.dictionaries(st.sampled_from([A, B]), st.integers(1, 6), min_size=1),
    stock=st.lists(st.tuples(quantities, quantities, st.floats(0, 50)), min_size=1, max_size=6),
    split=st.booleans(),
)
def test_a_placed_decision_takes_exactly_the_order_and_never_more_than_a_store_promises(
    wanted: dict[str, int], stock: list[tuple[int, int, float]], split: bool
) -> None:
    candidates = [store(f"s{i}", km, {A: a, B: b}) for i, (a, b, km) in enumerate(stock)]
    decision = choose(list(wanted.items()), candidates, fulfilment=F.SHIP, allow_split=split)
    if not decision.placed:
        assert decision.shortfall
        return
    taken: dict[str, int] = {}
    for allocation in decision.allocations:
        promised = next(c for c in candidates if c.store == allocation.store).online_atp
        for gtin, quantity in allocation.lines:
            assert 0 < quantity <= promised[gtin]
            taken[gtin] = taken.get(gtin, 0) + quantity
    assert taken == wanted
    assert len({a.store for a in decision.allocations}) == len(decision.allocations)
    assert split or len(decision.allocations) == 1


def test_slots_follow_the_store_clock_across_daylight_saving() -> None:
    berlin = load_store(EXAMPLE_STORE)  # 08:00-21:00 Europe/Berlin, 60-minute slots
    winter = list(slots.day_slots(berlin, date(2026, 12, 8)))
    summer = list(slots.day_slots(berlin, date(2026, 7, 8)))
    assert len(winter) == len(summer) == 13
    assert winter[0][0] == datetime(2026, 12, 8, 7, 0, tzinfo=UTC)  # UTC+1
    assert summer[0][0] == datetime(2026, 7, 8, 6, 0, tzinfo=UTC)  # UTC+2
    now = datetime(2026, 12, 8, 9, 50, tzinfo=UTC)  # 10:50 in Berlin; picking takes 30 min
    first = next(slots.bookable(berlin, now))
    assert first[0] == datetime(2026, 12, 8, 11, 0, tzinfo=UTC)  # 12:00 in Berlin, the first after 11:20
    assert slots.check_slot(berlin, first[0], now) == first[1]
    with pytest.raises(slots.SlotError, match="no bookable slot"):
        slots.check_slot(berlin, first[0] - timedelta(hours=1), now)
