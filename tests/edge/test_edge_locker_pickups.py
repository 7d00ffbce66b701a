"""LockerPickups: load then pickup -> PickupSignal; door alerts raised and cleared; unknown compartments."""

from __future__ import annotations

import pytest
from edge_helpers import FakeClock, decoded, locker_event

from edge.processors.base import Rejection
from edge.processors.locker_pickups import LockerPickups, door_alert_cause
from smartstore.contract.payloads import AlertSignal, LockerEventType, PickupSignal, Severity, Signal
from smartstore.contract.validation import RejectReason
from smartstore.storeconfig import StoreConfig

STORE = "store-berlin-01"
E = LockerEventType


@pytest.fixture
def lockers(example_store: StoreConfig) -> LockerPickups:
    return LockerPickups(example_store)


def feed(
    lockers: LockerPickups, clock: FakeClock, compartment: str, event: LockerEventType, occupied: bool | None
) -> list[Signal]:
    clock.advance(1)
    return lockers.handle(decoded(*locker_event(STORE, "locker-1", compartment, event, occupied)), clock.now)


def test_loading_is_no_pickup_and_emptying_an_occupied_compartment_is_one(
    lockers: LockerPickups, clock: FakeClock
) -> None:
    # Staff load the order: empty compartment opened, closed occupied.
    assert feed(lockers, clock, "c03", E.DOOR_OPENED, False) == []
    assert feed(lockers, clock, "c03", E.DOOR_CLOSED, True) == []
    # The customer opens it and takes the parcel.
    assert feed(lockers, clock, "c03", E.DOOR_OPENED, None) == []
    [pickup] = feed(lockers, clock, "c03", E.DOOR_CLOSED, False)
    assert isinstance(pickup, PickupSignal)
    assert (pickup.locker, pickup.compartment, pickup.order, pickup.lines) == ("locker-1", "c03", None, [])
    # A late occupancy report of the same fact is not a second pickup.
    assert feed(lockers, clock, "c03", E.OCCUPANCY_CHANGED, False) == []


def test_occupancy_dropping_without_a_door_opening_is_no_pickup(
    lockers: LockerPickups, clock: FakeClock
) -> None:
    feed(lockers, clock, "c04", E.OCCUPANCY_CHANGED, True)
    assert feed(lockers, clock, "c04", E.OCCUPANCY_CHANGED, False) == []  # sensor flicker, door shut


def test_door_left_open_raises_and_closing_clears_the_alert(lockers: LockerPickups, clock: FakeClock) -> None:
    feed(lockers, clock, "c09", E.DOOR_OPENED, False)
    [raised] = feed(lockers, clock, "c09", E.DOOR_LEFT_OPEN, None)
    assert isinstance(raised, AlertSignal)
    assert (raised.action, raised.cause, raised.device) == (
        "raise",
        door_alert_cause("locker-1", "c09"),
        "locker-1",
    )
    assert raised.cause == "locker.door:locker-1:c09"
    [cleared] = feed(lockers, clock, "c09", E.DOOR_CLOSED, False)
    assert isinstance(cleared, AlertSignal)
    assert (cleared.action, cleared.cause) == ("clear", raised.cause)
    assert feed(lockers, clock, "c09", E.DOOR_CLOSED, False) == []  # nothing left to clear


def test_jammed_door_is_critical(lockers: LockerPickups, clock: FakeClock) -> None:
    [raised] = feed(lockers, clock, "c10", E.DOOR_JAMMED, None)
    assert isinstance(raised, AlertSignal)
    assert raised.severity is Severity.CRITICAL


def test_unknown_compartment_is_rejected(lockers: LockerPickups, clock: FakeClock) -> None:
    with pytest.raises(Rejection) as caught:
        feed(lockers, clock, "c99", E.DOOR_OPENED, None)
    assert caught.value.reason == RejectReason.UNKNOWN_REFERENCE
