"""Locker alerts held at the source while their cause flaps; door cycles and pickups never held."""

from __future__ import annotations

import time
from pathlib import Path

from edge_helpers import (
    Broker,
    Collector,
    FakeClock,
    decoded,
    fast_edge_settings,
    locker_event,
    publish,
    wait_for,
)
from edge_locker_helpers import LOCKER, MILK, door_message, keypad_message, manifest_message, order

from smartstore.edge.agent import EdgeAgent
from smartstore.edge.lockers.settings import LockerSettings
from smartstore.edge.processors.locker_pickups import LockerPickups, door_alert_cause, lockout_cause
from smartstore.kernel.contract import topics
from smartstore.kernel.contract.payloads import AlertSignal, LockerEventType, PickupSignal, Signal
from smartstore.kernel.contract.validation import Decoded, decode
from smartstore.kernel.storeconfig import StoreConfig

E = LockerEventType
DAY = 86400.0
DOOR = door_alert_cause(LOCKER, "c09")
STORE = "store-berlin-01"


def at(lockers: LockerPickups, now: float, message: tuple[str, bytes]) -> list[Signal]:
    return lockers.handle(decoded(*message), now) + lockers.tick(now)


def flap(lockers: LockerPickups, start: float, cycles: int, compartment: str = "c09") -> list[Signal]:
    """A door bouncing once a second: opened, reported left open, closed, then still ticking."""
    signals: list[Signal] = []
    for i in range(cycles):
        t = start + i
        signals += at(lockers, t, door_message(compartment, E.DOOR_OPENED, False))
        signals += at(lockers, t + 0.3, door_message(compartment, E.DOOR_LEFT_OPEN, False))
        signals += at(lockers, t + 0.6, door_message(compartment, E.DOOR_CLOSED, False))
    return signals


def alerts(signals: list[Signal], action: str | None = None) -> list[tuple[str, str]]:
    return [
        (s.action, s.cause)
        for s in signals
        if isinstance(s, AlertSignal) and (action is None or s.action == action)
    ]


def test_a_flapping_door_sends_one_raise_and_one_clear(example_store: StoreConfig, clock: FakeClock) -> None:
    lockers = LockerPickups(example_store, LockerSettings(alert_reraise_s=60.0), now=clock.now)
    signals = flap(lockers, clock.now, cycles=30)
    assert alerts(signals) == [("raise", DOOR), ("clear", DOOR)]
    assert lockers.counters["alerts_held"] == 29  # one per bounce after the first
    # Quiet, closed: nothing comes later either.
    assert lockers.tick(clock.now + 120) == []


def test_without_a_hold_every_bounce_alerts(example_store: StoreConfig, clock: FakeClock) -> None:
    lockers = LockerPickups(example_store, LockerSettings(alert_reraise_s=0.0), now=clock.now)
    assert len(alerts(flap(lockers, clock.now, cycles=30), "raise")) == 30


def test_a_steady_open_door_raises_at_once(example_store: StoreConfig, clock: FakeClock) -> None:
    lockers = LockerPickups(example_store, now=clock.now)
    assert LockerSettings().alert_reraise_s == 300.0
    at(lockers, clock.now, door_message("c09", E.DOOR_OPENED, False))
    assert alerts(at(lockers, clock.now + 120, door_message("c09", E.DOOR_LEFT_OPEN, False))) == [
        ("raise", DOOR)
    ]


def test_a_door_left_open_after_flapping_is_raised_once_its_interval_passed(
    example_store: StoreConfig, clock: FakeClock
) -> None:
    lockers = LockerPickups(example_store, LockerSettings(alert_reraise_s=60.0), now=clock.now)
    start = clock.now
    flap(lockers, start, cycles=30)
    at(lockers, start + 30, door_message("c09", E.DOOR_OPENED, False))
    assert at(lockers, start + 31, door_message("c09", E.DOOR_LEFT_OPEN, False)) == []  # held
    assert lockers.tick(start + 60) == []  # cleared at start + 29.6: still within the interval
    [late] = lockers.tick(start + 90)
    assert isinstance(late, AlertSignal)
    assert (late.action, late.cause, late.message) == (
        "raise",
        DOOR,
        "locker locker-1 compartment c09: door left open",
    )
    assert lockers.tick(start + 91) == []  # raised once
    assert alerts(at(lockers, start + 95, door_message("c09", E.DOOR_CLOSED, False))) == [("clear", DOOR)]
    assert lockers.counters["alerts_raised_late"] == 1


def test_a_pickup_during_flapping_is_reported(example_store: StoreConfig, clock: FakeClock) -> None:
    lockers = LockerPickups(example_store, LockerSettings(alert_reraise_s=60.0), now=clock.now)
    start = clock.now
    at(lockers, start, manifest_message([order("ORD-B2", "c05", "11223344", start + DAY)], seq=1, now=start))
    flap(lockers, start, cycles=10, compartment="c05")
    request = "pickup:ORD-B2:1"
    signals = at(lockers, start + 20, door_message("c05", E.DOOR_OPENED, True, request))
    signals += at(lockers, start + 21, door_message("c05", E.OCCUPANCY_CHANGED, False, request))
    signals += at(lockers, start + 22, door_message("c05", E.DOOR_LEFT_OPEN, False, request))  # held
    signals += at(lockers, start + 23, door_message("c05", E.DOOR_CLOSED, False, request))
    pickups = [s for s in signals if isinstance(s, PickupSignal)]
    assert [(p.order, p.lines[0].gtin) for p in pickups] == [("ORD-B2", MILK)]
    assert alerts(signals) == []


def test_a_held_raise_and_its_interval_survive_a_restart(
    example_store: StoreConfig, clock: FakeClock, tmp_path: Path
) -> None:
    path, settings = tmp_path / "lockers.json", LockerSettings(alert_reraise_s=60.0)
    first = LockerPickups(example_store, settings, state_path=path, now=clock.now)
    start = clock.now
    flap(first, start, cycles=5)
    at(first, start + 5, door_message("c09", E.DOOR_OPENED, False))
    assert at(first, start + 6, door_message("c09", E.DOOR_LEFT_OPEN, False)) == []  # held, then a restart
    second = LockerPickups(example_store, settings, state_path=path, now=start + 7)
    assert second.tick(start + 30) == []
    assert alerts(second.tick(start + 65)) == [("raise", DOOR)]
    third = LockerPickups(example_store, settings, state_path=path, now=start + 66)
    assert DOOR in third.state.compartments[(LOCKER, "c09")].alerts
    assert alerts(at(third, start + 70, door_message("c09", E.DOOR_CLOSED, False))) == [("clear", DOOR)]


def test_a_keypad_lockout_ending_while_held_sends_nothing(
    example_store: StoreConfig, clock: FakeClock
) -> None:
    settings = LockerSettings(max_wrong_codes=2, lockout_s=5.0, alert_reraise_s=60.0)
    lockers = LockerPickups(example_store, settings, now=clock.now)
    start = clock.now
    raised: list[Signal] = []
    for round_ in range(3):  # locked, lockout over, locked again within the minute
        t = start + round_ * 10
        raised += at(lockers, t, keypad_message("000000", seq=1))
        raised += at(lockers, t + 1, keypad_message("000000", seq=2))
        raised += lockers.tick(t + 7)
    assert alerts(raised) == [("raise", lockout_cause(LOCKER)), ("clear", lockout_cause(LOCKER))]


def test_through_the_agent_a_flapping_door_sends_one_raise_and_the_pickup_still_goes_out(
    mosquitto: Broker, example_store: StoreConfig, tmp_path: Path
) -> None:
    """The real agent and broker, the shipped default hold: 30 bounces of c09 while c05 is emptied."""
    settings = fast_edge_settings(tmp_path / "state", mosquitto.settings)
    agent = EdgeAgent(settings, example_store, processors=[LockerPickups(example_store)])
    agent.start()
    try:
        assert agent.wait_connected(5)
        collector = Collector(mosquitto.settings, topics.signals_filter(STORE), "edge-flap-collector")
        seq = iter(range(1, 1000))
        bounces = [
            locker_event(STORE, LOCKER, "c09", kind, False, seq=next(seq))
            for _ in range(30)
            for kind in (E.DOOR_OPENED, E.DOOR_LEFT_OPEN, E.DOOR_CLOSED)
        ]
        pickup = [
            locker_event(STORE, LOCKER, "c05", E.OCCUPANCY_CHANGED, True, seq=next(seq)),
            locker_event(STORE, LOCKER, "c05", E.DOOR_OPENED, None, seq=next(seq)),
            locker_event(STORE, LOCKER, "c05", E.DOOR_CLOSED, False, seq=next(seq)),
        ]
        publish(mosquitto.settings, bounces[:45] + pickup + bounces[45:])

        def received() -> list[Signal]:
            out = []
            for topic, payload in collector.snapshot():
                result = decode(topic, payload)
                assert isinstance(result, Decoded)
                out.append(result.payload)
            return out  # type: ignore[return-value]

        assert wait_for(lambda: len(received()) >= 3)
        time.sleep(0.5)  # nothing more may follow
        signals = received()
        assert alerts(signals) == [("raise", DOOR), ("clear", DOOR)]
        assert [(s.compartment, s.order) for s in signals if isinstance(s, PickupSignal)] == [("c05", None)]
        collector.close()
    finally:
        agent.stop(flush_timeout=0)
