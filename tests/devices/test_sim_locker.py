"""Locker controller simulator: commands get acks and door events; associates and customers act alone."""

from __future__ import annotations

import random
import uuid

from sim_helpers import BrokerLike, CollectorFactory, SimFactory, wait_for

from devices.sim.locker import CommandReply, DoorEvent, LockerBank
from devices.sim.scheduler import EventQueue
from devices.sim.settings import LockerSettings, WorldSettings
from devices.sim.world import MoveKind, Reason, World
from smartstore.contract import topics
from smartstore.contract.payloads import (
    LockerAck,
    LockerCommand,
    LockerEvent,
    LockerEventType,
    encode,
    envelope,
)
from smartstore.contract.validation import Decoded, decode
from smartstore.mqtt import MqttLink
from smartstore.storeconfig import StoreConfig


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
    assert events(bank)[-1] == DoorEvent("c03", LockerEventType.DOOR_CLOSED, True, "req-load")
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
    assert [e.event for e in events(bank)] == [LockerEventType.DOOR_OPENED, LockerEventType.DOOR_CLOSED]


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

        assert wait_for(lambda: len(ours()) == 2 and len(collector.on(ack_topic)) == 2, timeout=8.0)
        acks = {}
        for raw in collector.on(ack_topic):
            decoded = decode(ack_topic, raw)
            assert isinstance(decoded, Decoded)
            assert isinstance(decoded.payload, LockerAck)
            acks[decoded.payload.request] = decoded.payload
        assert acks["open-1"].result == "done"
        assert acks["open-2"].result == "failed"
        assert acks["open-2"].reason
        opened, closed = ours()
        assert (opened.event, opened.compartment) == (LockerEventType.DOOR_OPENED, "c02")
        assert (closed.event, closed.occupied) == (LockerEventType.DOOR_CLOSED, True)
        assert closed.seq > opened.seq
        assert sim.rejected["invalid_json"] == 1
    finally:
        commander.stop()
