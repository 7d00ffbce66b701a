"""LockerController on a lock board, and LockerService over a real broker with a fake board (GPIO edge)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from sim_helpers import BrokerLike, CollectorFactory, wait_for

from smartstore.devices.locker.cli import press
from smartstore.devices.locker.controller import (
    CommandReply,
    ControllerSettings,
    DoorEvent,
    LockerController,
    Sensors,
)
from smartstore.devices.locker.service import LockerService, LockerServiceSettings
from smartstore.kernel.contract import topics
from smartstore.kernel.contract.payloads import (
    KeypadEntry,
    LockerAck,
    LockerCommand,
    LockerEvent,
    LockerEventType,
    encode,
    envelope,
)
from smartstore.kernel.contract.validation import Decoded, decode
from smartstore.kernel.mqtt import MqttLink
from smartstore.kernel.storeconfig import StoreConfig

E = LockerEventType
STORE = "store-berlin-01"


class FakeBoard:
    """The only double: latches and sensors a test sets by hand, as a person at the locker would."""

    def __init__(self, compartments: list[str]) -> None:
        self.door = dict.fromkeys(compartments, False)
        self.occupied = dict.fromkeys(compartments, False)
        self.stuck: set[str] = set()
        self.unlocked: list[str] = []

    def unlock(self, compartment: str) -> bool:
        self.unlocked.append(compartment)
        return compartment not in self.stuck

    def read(self, compartment: str) -> Sensors:
        return Sensors(self.door[compartment], self.occupied[compartment])


@pytest.fixture
def board() -> FakeBoard:
    return FakeBoard(["c01", "c02", "c03"])


def controller(board: FakeBoard, **settings: object) -> LockerController:
    return LockerController(
        ["c01", "c02", "c03"], board, ControllerSettings.model_validate(settings), now=0.0
    )


def test_an_opening_belongs_to_the_command_that_unlocked_it(board: FakeBoard) -> None:
    core = controller(board, unlock_window_s=10)
    assert core.command("pickup:ORD-1:1", "c02", 0.0) == [CommandReply("pickup:ORD-1:1", "done")]
    board.occupied["c02"] = True
    board.door["c02"] = True  # the customer pulls the door within the window
    assert core.poll(3.0) == [
        DoorEvent("c02", E.DOOR_OPENED, False, "pickup:ORD-1:1"),
        DoorEvent("c02", E.OCCUPANCY_CHANGED, True, "pickup:ORD-1:1"),
    ]
    board.door["c02"] = False
    assert core.poll(5.0) == [DoorEvent("c02", E.DOOR_CLOSED, True, "pickup:ORD-1:1")]
    # An unlock nobody used runs out: a later opening (a key) is nobody's command.
    core.command("pickup:ORD-2:1", "c03", 10.0)
    assert core.poll(15.0) == []
    board.door["c03"] = True
    assert core.poll(30.0) == [DoorEvent("c03", E.DOOR_OPENED, False, None)]


def test_refusals_carry_a_reason_code(board: FakeBoard) -> None:
    board.stuck.add("c01")
    core = controller(board, out_of_service=["c03"])
    [reply, jam] = core.command("r1", "c01", 0.0)
    assert (reply.result, jam) == ("failed", DoorEvent("c01", E.DOOR_JAMMED, False, "r1"))
    assert isinstance(reply, CommandReply)
    assert reply.reason is not None
    assert reply.reason.startswith("jammed:")
    [unknown] = core.command("r2", "c99", 0.0)
    assert isinstance(unknown, CommandReply)
    assert (unknown.result, (unknown.reason or "").split(":")[0]) == ("failed", "unknown_compartment")
    [out] = core.command("r3", "c03", 0.0)
    assert isinstance(out, CommandReply)
    assert (out.reason or "").startswith("out_of_service:")
    assert board.unlocked == ["c01"]  # never pulsed an unknown or out-of-service latch
    core.set_in_service("c03", True)
    [done] = core.command("r4", "c03", 1.0)
    assert done == CommandReply("r4", "done")
    assert core.command("r4", "c03", 2.0) == [done]  # repeated: answered again, not pulsed again
    assert board.unlocked == ["c01", "c03"]


def test_door_left_open_is_reported_once(board: FakeBoard) -> None:
    core = controller(board, door_left_open_s=60)
    board.door["c01"] = True
    assert [e.event for e in core.poll(0.0) if isinstance(e, DoorEvent)] == [E.DOOR_OPENED]
    assert core.poll(59.0) == []
    assert core.poll(60.0) == [DoorEvent("c01", E.DOOR_LEFT_OPEN, False, None)]
    assert core.poll(200.0) == []
    board.door["c01"] = False
    assert core.poll(201.0) == [DoorEvent("c01", E.DOOR_CLOSED, False, None)]


def test_unknown_out_of_service_compartment_is_a_config_error(board: FakeBoard) -> None:
    with pytest.raises(ValueError, match="c42"):
        controller(board, out_of_service=["c42"])


def test_service_over_mqtt_acks_reports_doors_and_keypad(
    mosquitto: BrokerLike, collectors: CollectorFactory, example_store: StoreConfig
) -> None:
    locker = example_store.devices.lockers[0]
    fake = FakeBoard([c.id for c in locker.compartments])
    fake.stuck.add("c04")
    fake.occupied["c02"] = True  # ORD-5's parcel, loaded earlier
    settings = LockerServiceSettings(mqtt=mosquitto.settings, poll_interval_s=0.02)
    service = LockerService(STORE, locker, fake, settings)
    keypad_topic = topics.locker_keypad(STORE, locker.id)
    collector = collectors(mosquitto.settings, [*topics.device_data_filters(STORE), keypad_topic])
    service.start()
    assert service.wait_connected(5.0)
    commander = MqttLink(mosquitto.settings, f"test-cmd-{uuid.uuid4().hex[:6]}")
    commander.start()
    assert commander.wait_connected(5.0)
    cmd_topic = topics.locker_cmd(STORE, locker.id)
    ack_topic, event_topic = topics.locker_ack(STORE, locker.id), topics.locker_event(STORE, locker.id)

    def payloads(topic: str) -> list[object]:
        decoded = [decode(topic, raw) for raw in collector.on(topic)]
        return [d.payload for d in decoded if isinstance(d, Decoded)]

    try:
        assert wait_for(lambda: service.link.connected.is_set() and commander.connected.is_set())
        commander.publish(cmd_topic, b"garbage")
        for request, compartment in (("pickup:ORD-5:1", "c02"), ("load:ORD-6:1", "c04")):
            command = LockerCommand(**envelope(1), request=request, action="open", compartment=compartment)
            commander.publish(cmd_topic, encode(command))
        assert wait_for(lambda: len(payloads(ack_topic)) == 2, timeout=5.0)
        acks = {a.request: a for a in payloads(ack_topic) if isinstance(a, LockerAck)}
        assert acks["pickup:ORD-5:1"].result == "done"
        assert acks["load:ORD-6:1"].result == "failed"
        # The customer opens the unlocked door, takes the parcel, closes it.
        fake.door["c02"] = True
        assert wait_for(lambda: len(payloads(event_topic)) == 2, timeout=5.0)
        fake.occupied["c02"] = False
        assert wait_for(lambda: len(payloads(event_topic)) == 3, timeout=5.0)
        fake.door["c02"] = False
        service.keypad("482913")

        def door_events() -> list[tuple[str, str, bool | None, str | None]]:
            return [
                (e.compartment, e.event.value, e.occupied, e.request)
                for e in payloads(event_topic)
                if isinstance(e, LockerEvent)
            ]

        assert wait_for(lambda: len(door_events()) >= 4, timeout=5.0)
        request = "pickup:ORD-5:1"
        assert door_events() == [
            ("c04", "door_jammed", False, "load:ORD-6:1"),
            ("c02", "door_opened", True, request),
            ("c02", "occupancy_changed", False, request),
            ("c02", "door_closed", False, request),
        ]
        assert wait_for(lambda: bool(collector.on(keypad_topic)), timeout=5.0)
        [entry] = payloads(keypad_topic)
        assert isinstance(entry, KeypadEntry)
        assert entry.code == "482913"
        assert service.counters["invalid_json"] == 1
    finally:
        commander.stop()
        service.stop()


def test_keypad_cli_sends_the_code_and_reports_the_door(
    mosquitto: BrokerLike, collectors: CollectorFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    keypad_topic = topics.locker_keypad(STORE, "locker-1")
    event_topic = topics.locker_event(STORE, "locker-1")

    def answer(message: Any) -> None:  # a stand-in edge + controller: the door opens for the code
        opened = LockerEvent(
            **envelope(1), compartment="c07", event=E.DOOR_OPENED, occupied=True, request="pickup:ORD-7:1"
        )
        door.publish(event_topic, encode(opened))

    door = MqttLink(mosquitto.settings, "test-door")
    door.subscribe(keypad_topic, 1, answer)
    door.start()
    assert door.wait_connected(5.0)
    collector = collectors(mosquitto.settings, [keypad_topic])
    try:
        time.sleep(0.2)
        assert press(STORE, "locker-1", "482913", mosquitto.settings, wait_s=5.0) == 0
        assert "door c07 is open (order ORD-7)" in capsys.readouterr().out
        # The door's answer can overtake the broker's copy of the keypad entry to this other client.
        assert wait_for(lambda: bool(collector.on(keypad_topic)))
        [raw] = collector.on(keypad_topic)
        entry = decode(keypad_topic, raw)
        assert isinstance(entry, Decoded)
        assert isinstance(entry.payload, KeypadEntry)
        assert entry.payload.code == "482913"
    finally:
        door.stop()
    assert press(STORE, "locker-1", "482913", mosquitto.settings, wait_s=0.5) == 1
    assert "no door opened" in capsys.readouterr().out
