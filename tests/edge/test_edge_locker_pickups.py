"""LockerPickups: keypad codes against the manifest, door cycles -> one PickupSignal per order, alerts."""

from __future__ import annotations

from pathlib import Path

import pytest
from edge_helpers import FakeClock, decoded
from edge_locker_helpers import (
    LOCKER,
    MILK,
    ack_message,
    door_message,
    keypad_message,
    manifest_message,
    order,
)

from smartstore.edge.lockers.settings import LockerSettings
from smartstore.edge.processors.base import Rejection
from smartstore.edge.processors.locker_pickups import (
    LockerPickups,
    door_alert_cause,
    empty_cause,
    item_left_cause,
    lockout_cause,
    unexpected_item_cause,
)
from smartstore.kernel.contract.payloads import (
    AlertSignal,
    LockerCommand,
    LockerEventType,
    PickupLine,
    PickupSignal,
    Severity,
    Signal,
    parse_locker_request,
)
from smartstore.kernel.contract.validation import RejectReason
from smartstore.kernel.storeconfig import StoreConfig

E = LockerEventType
DAY = 86400.0


@pytest.fixture
def lockers(example_store: StoreConfig, clock: FakeClock) -> LockerPickups:
    return LockerPickups(example_store, now=clock.now)


def feed(lockers: LockerPickups, clock: FakeClock, message: tuple[str, bytes]) -> list[Signal]:
    clock.advance(1)
    return lockers.handle(decoded(*message), clock.now)


def door(
    lockers: LockerPickups,
    clock: FakeClock,
    compartment: str,
    event: LockerEventType,
    occupied: bool | None,
    request: str | None = None,
) -> list[Signal]:
    return feed(lockers, clock, door_message(compartment, event, occupied, request))


def alerts(signals: list[Signal]) -> list[tuple[str, str]]:
    return [(s.action, s.cause) for s in signals if isinstance(s, AlertSignal)]


def pickups(signals: list[Signal]) -> list[PickupSignal]:
    return [s for s in signals if isinstance(s, PickupSignal)]


def opened_by(lockers: LockerPickups) -> list[LockerCommand]:
    commands = [c.payload for c in lockers.take_commands()]
    assert all(isinstance(c, LockerCommand) for c in commands)
    return commands  # type: ignore[return-value]


def customer_takes(lockers: LockerPickups, clock: FakeClock, compartment: str, request: str) -> list[Signal]:
    signals = door(lockers, clock, compartment, E.DOOR_OPENED, True, request)
    signals += door(lockers, clock, compartment, E.OCCUPANCY_CHANGED, False, request)
    return signals + door(lockers, clock, compartment, E.DOOR_CLOSED, False, request)


def with_manifest(lockers: LockerPickups, clock: FakeClock) -> None:
    orders = [
        order("ORD-A1", "c03", "482913", clock.now + DAY, [(MILK, 2)]),
        order("ORD-B2", "c05", "11223344", clock.now + DAY),
        order("ORD-OLD", "c06", "999999", clock.now - 60),
    ]
    assert feed(lockers, clock, manifest_message(orders, seq=1, now=clock.now)) == []


# --- keypad (the offline path) ---------------------------------------------------------------------


def test_keypad_code_opens_its_door_and_the_cycle_reports_one_offline_pickup(
    lockers: LockerPickups, clock: FakeClock
) -> None:
    with_manifest(lockers, clock)
    assert feed(lockers, clock, keypad_message("482913")) == []
    [command] = opened_by(lockers)
    assert (command.action, command.compartment) == ("open", "c03")
    request = parse_locker_request(command.request)
    assert request is not None
    assert (request.purpose.value, request.order) == ("pickup", "ORD-A1")

    [pickup] = pickups(customer_takes(lockers, clock, "c03", command.request))
    assert (pickup.locker, pickup.compartment, pickup.order, pickup.offline) == (
        LOCKER,
        "c03",
        "ORD-A1",
        True,
    )
    assert pickup.lines == [PickupLine(gtin=MILK, quantity=2)]
    # The same code again: refused (no door), and the door's late events report nothing more.
    assert feed(lockers, clock, keypad_message("482913")) == []
    assert opened_by(lockers) == []
    assert door(lockers, clock, "c03", E.OCCUPANCY_CHANGED, False, command.request) == []
    assert lockers.counters["pickups_offline"] == 1


def test_expired_and_unknown_codes_open_nothing(lockers: LockerPickups, clock: FakeClock) -> None:
    with_manifest(lockers, clock)
    for code in ("999999", "000000"):  # ORD-OLD expired a minute ago; nobody has 000000
        feed(lockers, clock, keypad_message(code))
    assert opened_by(lockers) == []
    assert lockers.counters["keypad_wrong"] == 2


def test_five_wrong_codes_lock_the_keypad_then_it_opens_again(
    example_store: StoreConfig, clock: FakeClock
) -> None:
    lockers = LockerPickups(example_store, LockerSettings(max_wrong_codes=5, lockout_s=900), now=clock.now)
    with_manifest(lockers, clock)
    signals: list[Signal] = []
    for wrong in ("100001", "100002", "100003", "100004", "100005"):
        signals += feed(lockers, clock, keypad_message(wrong))
    assert alerts(signals) == [("raise", lockout_cause(LOCKER))]
    # Locked: even the right code opens nothing.
    feed(lockers, clock, keypad_message("11223344"))
    assert opened_by(lockers) == []
    assert lockers.counters["keypad_locked"] == 1
    clock.advance(900)
    assert alerts(lockers.tick(clock.now)) == [("clear", lockout_cause(LOCKER))]
    feed(lockers, clock, keypad_message("11223344"))
    [command] = opened_by(lockers)
    assert command.compartment == "c05"


def test_a_right_code_resets_the_wrong_count(example_store: StoreConfig, clock: FakeClock) -> None:
    lockers = LockerPickups(example_store, LockerSettings(max_wrong_codes=2), now=clock.now)
    with_manifest(lockers, clock)
    feed(lockers, clock, keypad_message("100001"))
    feed(lockers, clock, keypad_message("482913"))
    assert len(opened_by(lockers)) == 1
    assert alerts(feed(lockers, clock, keypad_message("100002"))) == []  # one wrong after a right one


def test_a_failed_open_of_our_own_gives_the_code_back(lockers: LockerPickups, clock: FakeClock) -> None:
    with_manifest(lockers, clock)
    feed(lockers, clock, keypad_message("482913"))
    [command] = opened_by(lockers)
    feed(lockers, clock, ack_message(command.request, "failed", "jammed: the latch of c03 did not release"))
    feed(lockers, clock, keypad_message("482913"))
    assert [c.compartment for c in opened_by(lockers)] == ["c03"]
    # A failure of someone else's command (the gateway's) does not free our order.
    feed(lockers, clock, ack_message("pickup:ORD-A1:1", "failed", "jammed: ..."))
    feed(lockers, clock, keypad_message("482913"))
    assert opened_by(lockers) == []


def test_stale_manifest_is_ignored_and_wrong_topic_rejected(lockers: LockerPickups, clock: FakeClock) -> None:
    with_manifest(lockers, clock)
    older = [order("ORD-Z9", "c09", "555555", clock.now + DAY)]
    feed(lockers, clock, manifest_message(older, seq=0, now=clock.now - 3600))
    feed(lockers, clock, keypad_message("555555"))
    assert opened_by(lockers) == []
    assert lockers.counters["manifests_stale"] == 1
    with pytest.raises(Rejection) as caught:
        feed(lockers, clock, manifest_message(older, seq=9, now=clock.now, locker="locker-2"))
    assert caught.value.reason == RejectReason.TOPIC_MISMATCH


# --- the gateway's doors (online path) ------------------------------------------------------------


def test_gateway_opened_pickup_reports_once_and_burns_the_code(
    lockers: LockerPickups, clock: FakeClock
) -> None:
    with_manifest(lockers, clock)
    [pickup] = pickups(customer_takes(lockers, clock, "c05", "pickup:ORD-B2:1"))
    assert (pickup.order, pickup.offline, pickup.lines) == (
        "ORD-B2",
        False,
        [PickupLine(gtin=MILK, quantity=1)],
    )
    # The gateway opens it again (a second attempt): still one pickup.
    assert pickups(customer_takes(lockers, clock, "c05", "pickup:ORD-B2:2")) == []
    feed(lockers, clock, keypad_message("11223344"))
    assert opened_by(lockers) == []


def test_parcel_taken_but_door_left_open_is_a_pickup_and_a_door_alert(
    lockers: LockerPickups, clock: FakeClock
) -> None:
    with_manifest(lockers, clock)
    request = "pickup:ORD-B2:1"
    door(lockers, clock, "c05", E.DOOR_OPENED, True, request)
    assert door(lockers, clock, "c05", E.OCCUPANCY_CHANGED, False, request) == []
    left_open = door(lockers, clock, "c05", E.DOOR_LEFT_OPEN, False, request)
    assert [p.order for p in pickups(left_open)] == ["ORD-B2"]
    assert alerts(left_open) == [("raise", door_alert_cause(LOCKER, "c05"))]
    closed = door(lockers, clock, "c05", E.DOOR_CLOSED, False, request)
    assert (pickups(closed), alerts(closed)) == ([], [("clear", door_alert_cause(LOCKER, "c05"))])


def test_item_not_removed_raises_until_the_compartment_is_emptied(
    lockers: LockerPickups, clock: FakeClock
) -> None:
    with_manifest(lockers, clock)
    door(lockers, clock, "c03", E.DOOR_OPENED, True, "pickup:ORD-A1:1")
    closed = door(lockers, clock, "c03", E.DOOR_CLOSED, True, "pickup:ORD-A1:1")
    assert pickups(closed) == []
    assert alerts(closed) == [("raise", item_left_cause(LOCKER, "c03"))]
    # An associate opens it with a key and takes the parcel out.
    door(lockers, clock, "c03", E.DOOR_OPENED, True)
    emptied = door(lockers, clock, "c03", E.OCCUPANCY_CHANGED, False)
    assert ("clear", item_left_cause(LOCKER, "c03")) in alerts(emptied)


def test_a_pickup_door_opened_on_an_empty_compartment_is_no_pickup(
    lockers: LockerPickups, clock: FakeClock
) -> None:
    with_manifest(lockers, clock)
    door(lockers, clock, "c03", E.DOOR_OPENED, False, "pickup:ORD-A1:1")
    closed = door(lockers, clock, "c03", E.DOOR_CLOSED, False, "pickup:ORD-A1:1")
    assert pickups(closed) == []
    assert alerts(closed) == [("raise", empty_cause(LOCKER, "c03"))]


def test_loading_an_occupied_compartment_raises(lockers: LockerPickups, clock: FakeClock) -> None:
    [raised] = door(lockers, clock, "c08", E.DOOR_OPENED, True, "load:ORD-C3:1")
    assert isinstance(raised, AlertSignal)
    assert raised.cause == unexpected_item_cause(LOCKER, "c08")
    assert door(lockers, clock, "c08", E.DOOR_CLOSED, True, "load:ORD-C3:1") == []


def test_a_loaded_order_closing_with_the_parcel_inside_raises_nothing(
    lockers: LockerPickups, clock: FakeClock
) -> None:
    signals = door(lockers, clock, "c02", E.DOOR_OPENED, False, "load:ORD-D4:1")
    signals += door(lockers, clock, "c02", E.OCCUPANCY_CHANGED, True, "load:ORD-D4:1")
    signals += door(lockers, clock, "c02", E.DOOR_CLOSED, True, "load:ORD-D4:1")
    assert signals == []


# --- persistence ------------------------------------------------------------------------------------


def test_used_codes_and_the_manifest_survive_a_restart(
    example_store: StoreConfig, clock: FakeClock, tmp_path: Path
) -> None:
    path = tmp_path / "lockers.json"
    first = LockerPickups(example_store, state_path=path, now=clock.now)
    with_manifest(first, clock)
    feed(first, clock, keypad_message("482913"))
    [command] = opened_by(first)
    door(first, clock, "c03", E.DOOR_OPENED, True, command.request)
    # The agent dies here, mid door cycle; nothing called save().
    second = LockerPickups(example_store, state_path=path, now=clock.now)
    feed(second, clock, keypad_message("482913"))
    assert opened_by(second) == []  # used before the restart
    door(second, clock, "c03", E.OCCUPANCY_CHANGED, False, command.request)
    [pickup] = pickups(door(second, clock, "c03", E.DOOR_CLOSED, False, command.request))
    assert (pickup.order, pickup.offline) == ("ORD-A1", True)
    feed(second, clock, keypad_message("11223344"))  # the manifest came back from disk
    assert [c.compartment for c in opened_by(second)] == ["c05"]
    third = LockerPickups(example_store, state_path=path, now=clock.now)
    assert pickups(customer_takes(third, clock, "c03", command.request)) == []


def test_a_corrupt_state_file_starts_empty(
    example_store: StoreConfig, clock: FakeClock, tmp_path: Path
) -> None:
    path = tmp_path / "lockers.json"
    path.write_text("{not json")
    lockers = LockerPickups(example_store, state_path=path, now=clock.now)
    assert lockers.book.manifests == {}


# --- doors without orders (keys, sensors) -----------------------------------------------------------


def test_emptying_an_occupied_compartment_without_an_order_is_an_orderless_pickup(
    lockers: LockerPickups, clock: FakeClock
) -> None:
    assert door(lockers, clock, "c03", E.DOOR_OPENED, False) == []
    assert door(lockers, clock, "c03", E.DOOR_CLOSED, True) == []
    assert door(lockers, clock, "c03", E.DOOR_OPENED, None) == []
    [pickup] = door(lockers, clock, "c03", E.DOOR_CLOSED, False)
    assert isinstance(pickup, PickupSignal)
    assert (pickup.locker, pickup.compartment, pickup.order, pickup.lines) == (LOCKER, "c03", None, [])
    assert door(lockers, clock, "c03", E.OCCUPANCY_CHANGED, False) == []


def test_an_item_appearing_behind_a_closed_door_raises_and_is_no_pickup_when_gone(
    lockers: LockerPickups, clock: FakeClock
) -> None:
    # Without the gateway's manifest the edge cannot tell what should be empty: it says nothing.
    assert alerts(door(lockers, clock, "c04", E.OCCUPANCY_CHANGED, True)) == []
    door(lockers, clock, "c04", E.OCCUPANCY_CHANGED, False)
    with_manifest(lockers, clock)
    assert door(lockers, clock, "c03", E.OCCUPANCY_CHANGED, True) == []  # ORD-A1 is in c03
    assert alerts(door(lockers, clock, "c04", E.OCCUPANCY_CHANGED, True)) == [
        ("raise", unexpected_item_cause(LOCKER, "c04"))
    ]
    gone = door(lockers, clock, "c04", E.OCCUPANCY_CHANGED, False)
    assert alerts(gone) == [("clear", unexpected_item_cause(LOCKER, "c04"))]
    assert pickups(gone) == []


def test_door_left_open_raises_and_closing_clears_the_alert(lockers: LockerPickups, clock: FakeClock) -> None:
    door(lockers, clock, "c09", E.DOOR_OPENED, False)
    [raised] = door(lockers, clock, "c09", E.DOOR_LEFT_OPEN, None)
    assert isinstance(raised, AlertSignal)
    assert (raised.action, raised.cause, raised.device) == ("raise", door_alert_cause(LOCKER, "c09"), LOCKER)
    assert raised.cause == "locker.door:locker-1:c09"
    [cleared] = door(lockers, clock, "c09", E.DOOR_CLOSED, False)
    assert isinstance(cleared, AlertSignal)
    assert (cleared.action, cleared.cause) == ("clear", raised.cause)
    assert door(lockers, clock, "c09", E.DOOR_CLOSED, False) == []  # nothing left to clear


def test_jammed_door_is_critical(lockers: LockerPickups, clock: FakeClock) -> None:
    [raised] = door(lockers, clock, "c10", E.DOOR_JAMMED, None)
    assert isinstance(raised, AlertSignal)
    assert raised.severity is Severity.CRITICAL


def test_unknown_compartment_is_rejected(lockers: LockerPickups, clock: FakeClock) -> None:
    with pytest.raises(Rejection) as caught:
        door(lockers, clock, "c99", E.DOOR_OPENED, None)
    assert caught.value.reason == RejectReason.UNKNOWN_REFERENCE
