"""Locker controller simulator: commands get acks and door events; associates and customers act alone."""

from __future__ import annotations

import random
import uuid

from sim_helpers import BrokerLike, CollectorFactory, SimFactory, wait_for

from smartstore.devices.sim.locker import CommandReply, DoorEvent, Fault, LockerBank
from smartstore.devices.sim.scheduler import EventQueue
from smartstore.devices.sim.settings import LockerSettings, WorldSettings
from smartstore.devices.sim.world import MoveKind, Reason, World
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


def make_bank(store: StoreConfig, **settings: object) -> tuple[LockerBank, World, EventQueue]:
    queue = EventQueue()
    world = World(store, WorldSettings(sales_per_hour=0, deliveries_per_day=0), random.Random(1), queue)
    locker_settings = LockerSettings.model_validate({"loads_per_hour": 0, **settings})
    bank = LockerBank(store.devices.lockers[0], world, queue, random.Random(2), locker_settings)
    bank.start()
    return bank, world, queue


def events(bank: LockerBank) -> list[DoorEvent]:
    return [output for output in bank.outbox if isinstance(output, DoorEvent)]


def test_open_empty_compartment_loads_it_then_open_again_empties_it(example_store: StoreConfig) -> None:
    bank, world, queue = make_bank(example_store)
    reply = bank.command("req-load", "c03")
    assert reply == CommandReply("req-load", "done")
    assert list(bank.outbox) == [reply, DoorEvent("c03", LockerEventType.DOOR_OPENED, False, "req-load")]
    queue.run_until(60)
    assert events(bank)[-2:] == [
        DoorEvent("c03", LockerEventType.OCCUPANCY_CHANGED, True, "req-load"),
        DoorEvent("c03", LockerEventType.DOOR_CLOSED, True, "req-load"),
    ]
    loaded = [m for m in world.drain_moves() if m.reason is Reason.LOCKER_LOAD]
    assert len(loaded) == 1
    assert loaded[0].dst == "locker-bay"
    assert loaded[0].place == "locker-1/c03"
    assert (
        sum(world.tagged_counts["locker-bay"].values()) + sum(world.untagged_counts["locker-bay"].values())
        == 1
    )

    bank.outbox.clear()
    bank.command("req-pickup", "c03")
    queue.run_until(120)
    assert events(bank) == [
        DoorEvent("c03", LockerEventType.DOOR_OPENED, True, "req-pickup"),
        DoorEvent("c03", LockerEventType.OCCUPANCY_CHANGED, False, "req-pickup"),
        DoorEvent("c03", LockerEventType.DOOR_CLOSED, False, "req-pickup"),
    ]
    moves = world.drain_moves()
    assert [(m.kind, m.reason, m.item) for m in moves] == [
        (MoveKind.MOVED, Reason.PICKUP, loaded[0].item),
        (MoveKind.DEPARTED, Reason.PICKUP, loaded[0].item),
    ]


def test_unknown_and_jammed_compartments_fail_with_a_reason(example_store: StoreConfig) -> None:
    bank, _, queue = make_bank(example_store, jammed=["locker-1/c07"])
    unknown = bank.command("r1", "c99")
    assert unknown.result == "failed"
    assert unknown.reason is not None
    assert "unknown" in unknown.reason
    jammed = bank.command("r2", "c07")
    assert jammed.result == "failed"
    assert jammed.reason is not None
    assert "jammed" in jammed.reason
    queue.run_until(120)
    assert events(bank) == [DoorEvent("c07", LockerEventType.DOOR_JAMMED, False, "r2")]
    bank.jam("c07", False)
    assert bank.command("r3", "c07").result == "done"


def test_a_repeated_request_is_acked_again_but_opens_once(example_store: StoreConfig) -> None:
    bank, _, queue = make_bank(example_store)
    first = bank.command("same", "c01")
    queue.run_until(60)
    again = bank.command("same", "c01")
    queue.run_until(120)
    assert first == again
    assert [o for o in bank.outbox if isinstance(o, CommandReply)] == [first, first]
    assert [e.event for e in events(bank)] == [
        LockerEventType.DOOR_OPENED,
        LockerEventType.OCCUPANCY_CHANGED,
        LockerEventType.DOOR_CLOSED,
    ]


def test_associates_load_and_customers_pick_up_on_their_own(example_store: StoreConfig) -> None:
    bank, world, queue = make_bank(example_store, loads_per_hour=6, pickup_delay_s=(600, 1800))
    queue.run_until(4 * 3600)
    seen = events(bank)
    assert all(e.request is None for e in seen)
    closed = [e for e in seen if e.event is LockerEventType.DOOR_CLOSED]
    assert any(e.occupied for e in closed)
    assert any(not e.occupied for e in closed)
    pickups = [m for m in world.drain_moves() if m.reason is Reason.PICKUP and m.kind is MoveKind.DEPARTED]
    assert len(pickups) >= 5
    assert world.initial_items + world.delivered == world.sold + world.on_hand


def test_commands_over_mqtt_get_acks_and_events(
    mosquitto: BrokerLike, make_sim: SimFactory, collectors: CollectorFactory
) -> None:
    sim = make_sim(
        mqtt=mosquitto.settings, speed=60, cameras=False, read_interval_s=5, locker={"loads_per_hour": 0}
    )
    store = sim.store_id
    collector = collectors(mosquitto.settings, topics.device_data_filters(store))
    sim.start()
    assert sim.wait_online(5.0)
    commander = MqttLink(mosquitto.settings, f"test-commander-{uuid.uuid4().hex[:6]}")
    commander.start()
    assert commander.wait_connected(5.0)
    cmd_topic = topics.locker_cmd(store, "locker-1")
    try:
        commander.publish(cmd_topic, b"{not json")
        for request, compartment in (("open-1", "c02"), ("open-2", "nope")):
            command = LockerCommand(**envelope(1), request=request, action="open", compartment=compartment)
            commander.publish(cmd_topic, encode(command))
        ack_topic = topics.locker_ack(store, "locker-1")
        event_topic = topics.locker_event(store, "locker-1")

        def ours() -> list[LockerEvent]:
            decoded = [decode(event_topic, raw) for raw in collector.on(event_topic)]
            found = [d.payload for d in decoded if isinstance(d, Decoded)]
            return [e for e in found if isinstance(e, LockerEvent) and e.request == "open-1"]

        assert wait_for(lambda: len(ours()) == 3 and len(collector.on(ack_topic)) == 2, timeout=8.0)
        acks = {}
        for raw in collector.on(ack_topic):
            decoded = decode(ack_topic, raw)
            assert isinstance(decoded, Decoded)
            assert isinstance(decoded.payload, LockerAck)
            acks[decoded.payload.request] = decoded.payload
        assert acks["open-1"].result == "done"
        assert acks["open-2"].result == "failed"
        assert acks["open-2"].reason
        opened, loaded, closed = ours()
        assert (opened.event, opened.compartment) == (LockerEventType.DOOR_OPENED, "c02")
        assert (loaded.event, loaded.occupied) == (LockerEventType.OCCUPANCY_CHANGED, True)
        assert (closed.event, closed.occupied) == (LockerEventType.DOOR_CLOSED, True)
        assert closed.seq > opened.seq
        assert sim.rejected["invalid_json"] == 1
    finally:
        commander.stop()


# --- orders: load and pickup requests, faults -------------------------------------------------------


def test_a_load_request_is_filled_and_waits_for_its_customer(example_store: StoreConfig) -> None:
    bank, _, queue = make_bank(example_store, pickup_delay_s=(60, 120))
    bank.command("load:ORD-1:1", "c02")
    queue.run_until(4 * 3600)  # long after any self-driven customer would have come
    assert [(e.event, e.occupied) for e in events(bank)] == [
        (LockerEventType.DOOR_OPENED, False),
        (LockerEventType.OCCUPANCY_CHANGED, True),
        (LockerEventType.DOOR_CLOSED, True),
    ]
    assert bank.compartments["c02"].occupied
    bank.outbox.clear()
    bank.command("pickup:ORD-1:1", "c02")
    queue.run_until(queue.now + 60)
    assert [(e.event, e.occupied, e.request) for e in events(bank)] == [
        (LockerEventType.DOOR_OPENED, True, "pickup:ORD-1:1"),
        (LockerEventType.OCCUPANCY_CHANGED, False, "pickup:ORD-1:1"),
        (LockerEventType.DOOR_CLOSED, False, "pickup:ORD-1:1"),
    ]


def test_customer_who_leaves_the_parcel_and_door_left_open(example_store: StoreConfig) -> None:
    bank, _, queue = make_bank(
        example_store, leave_item=["locker-1/c04"], door_left_open_s=120, left_open_close_s=300
    )
    for compartment in ("c04", "c05"):
        bank.command(f"load:ORD-{compartment}:1", compartment)
    queue.run_until(60)
    bank.inject("c05", Fault.LEAVE_OPEN)
    bank.outbox.clear()
    bank.command("pickup:ORD-c04:1", "c04")
    queue.run_until(queue.now + 60)
    assert events(bank)[-1] == DoorEvent("c04", LockerEventType.DOOR_CLOSED, True, "pickup:ORD-c04:1")
    bank.outbox.clear()
    opened_at = queue.now
    bank.command("pickup:ORD-c05:1", "c05")
    queue.run_until(opened_at + 119)
    assert LockerEventType.DOOR_LEFT_OPEN not in [e.event for e in events(bank)]
    queue.run_until(opened_at + 121)
    assert events(bank)[-1] == DoorEvent("c05", LockerEventType.DOOR_LEFT_OPEN, False, "pickup:ORD-c05:1")
    queue.run_until(opened_at + 500)
    assert events(bank)[-1] == DoorEvent("c05", LockerEventType.DOOR_CLOSED, False, "pickup:ORD-c05:1")
    assert [e.event for e in events(bank)].count(LockerEventType.DOOR_LEFT_OPEN) == 1


def test_phantom_parcel_and_out_of_service_compartment(example_store: StoreConfig) -> None:
    bank, _, _ = make_bank(example_store, phantom=["locker-1/c06"], out_of_service=["locker-1/c01"])
    assert events(bank) == [DoorEvent("c06", LockerEventType.OCCUPANCY_CHANGED, True, None)]
    refused = bank.command("load:ORD-9:1", "c01")
    assert refused.result == "failed"
    assert refused.reason is not None
    assert refused.reason.startswith("out_of_service:")
    assert not bank.compartments["c01"].door_open


def test_jam_and_keypad_over_mqtt(
    mosquitto: BrokerLike, make_sim: SimFactory, collectors: CollectorFactory
) -> None:
    sim = make_sim(
        mqtt=mosquitto.settings,
        speed=60,
        cameras=False,
        read_interval_s=5,
        locker={"loads_per_hour": 0, "jammed": ["locker-1/c07"]},
    )
    store = sim.store_id
    keypad_topic = topics.locker_keypad(store, "locker-1")
    collector = collectors(mosquitto.settings, [*topics.device_data_filters(store), keypad_topic])
    sim.start()
    assert sim.wait_online(5.0)
    commander = MqttLink(mosquitto.settings, f"test-commander-{uuid.uuid4().hex[:6]}")
    commander.start()
    assert commander.wait_connected(5.0)
    try:
        command = LockerCommand(**envelope(1), request="pickup:ORD-J:1", action="open", compartment="c07")
        commander.publish(topics.locker_cmd(store, "locker-1"), encode(command))
        sim.keypad("locker-1", "482913")
        ack_topic, event_topic = topics.locker_ack(store, "locker-1"), topics.locker_event(store, "locker-1")
        assert wait_for(
            lambda: collector.on(ack_topic) and collector.on(event_topic) and collector.on(keypad_topic),
            timeout=8.0,
        )
        ack = decode(ack_topic, collector.on(ack_topic)[0])
        assert isinstance(ack, Decoded)
        assert isinstance(ack.payload, LockerAck)
        assert (ack.payload.result, ack.payload.request) == ("failed", "pickup:ORD-J:1")
        assert ack.payload.reason is not None
        assert ack.payload.reason.startswith("jammed:")
        jam = decode(event_topic, collector.on(event_topic)[0])
        assert isinstance(jam, Decoded)
        assert isinstance(jam.payload, LockerEvent)
        assert (jam.payload.event, jam.payload.compartment) == (LockerEventType.DOOR_JAMMED, "c07")
        entry = decode(keypad_topic, collector.on(keypad_topic)[0])
        assert isinstance(entry, Decoded)
        assert isinstance(entry.payload, KeypadEntry)
        assert entry.payload.code == "482913"
    finally:
        commander.stop()
