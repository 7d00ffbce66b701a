"""Simulated readers: contract-valid batches over MQTT that cover the tags of the zones they watch."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime

from sim_helpers import BrokerLike, CollectorFactory, SimFactory, wait_for

from smartstore.devices.sim.rfid import ReaderModel, neighbour_zones
from smartstore.devices.sim.scheduler import EventQueue
from smartstore.devices.sim.settings import ReaderSettings, WorldSettings
from smartstore.devices.sim.world import World
from smartstore.kernel.contract import topics
from smartstore.kernel.contract.payloads import ReadBatch
from smartstore.kernel.contract.validation import Decoded, decode
from smartstore.kernel.storeconfig import StoreConfig

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def make_world(store: StoreConfig) -> World:
    return World(store, WorldSettings(), random.Random(7), EventQueue())


def reader(store: StoreConfig, reader_id: str, **settings: float) -> ReaderModel:
    config = next(r for r in store.devices.readers if r.id == reader_id)
    return ReaderModel(config, store, ReaderSettings.model_validate(settings), seed=7)


def test_neighbours_are_adjacent_zones_of_the_same_area(example_store: StoreConfig) -> None:
    neighbours = neighbour_zones(example_store)
    assert neighbours["aisle-1"] == ["aisle-2"]
    assert neighbours["aisle-2"] == ["aisle-1", "aisle-3"]
    assert neighbours["backroom"] == []


def test_about_ninety_percent_of_tags_per_report(example_store: StoreConfig) -> None:
    world = make_world(example_store)
    model = reader(example_store, "reader-aisle-2", cross_zone_probability=0.0)
    in_zone = {world.items[i].epc for i in world.zone_tags["aisle-2"]}
    shares = []
    for _ in range(20):
        reads = model.read(world, NOW, 1.0)
        seen = {r.epc for r in reads}
        assert seen <= in_zone
        shares.append(len(seen) / len(in_zone))
    assert 0.85 < sum(shares) / len(shares) < 0.95
    assert min(shares) < 1.0, "misses happen"


def test_rssi_is_stronger_on_the_nearest_antenna(example_store: StoreConfig) -> None:
    world = make_world(example_store)
    reads = reader(example_store, "reader-aisle-1", cross_zone_probability=0.0).read(world, NOW, 1.0)
    assert all(-70.0 <= r.rssi <= -45.0 and r.count >= 1 and r.antenna in (1, 2) for r in reads)
    by_tag: dict[str, list[float]] = {}
    for r in reads:
        by_tag.setdefault(r.epc, []).append(r.rssi)
    pairs = [levels for levels in by_tag.values() if len(levels) == 2]
    assert pairs, "the farther antenna sees some tags too"
    assert all(levels[0] > levels[1] for levels in pairs)
    assert all(NOW.timestamp() - 1.0 <= r.ts.timestamp() <= NOW.timestamp() for r in reads)


def test_neighbour_aisle_is_read_weakly_now_and_then(example_store: StoreConfig) -> None:
    world = make_world(example_store)
    model = reader(example_store, "reader-aisle-2", cross_zone_probability=0.05)
    zone_of = {world.items[i].epc: zone for zone, ids in world.zone_tags.items() for i in ids}
    reads = [r for _ in range(5) for r in model.read(world, NOW, 1.0)]
    cross = [r for r in reads if zone_of[r.epc] != "aisle-2"]
    assert cross
    assert {zone_of[r.epc] for r in cross} == {"aisle-1", "aisle-3"}
    assert all(-80.0 <= r.rssi < -75.0 for r in cross)
    assert all(r.rssi >= -70.0 for r in reads if zone_of[r.epc] == "aisle-2")


def test_batches_over_mqtt_are_valid_and_cover_their_zones(
    mosquitto: BrokerLike, make_sim: SimFactory, collectors: CollectorFactory
) -> None:
    sim = make_sim(mqtt=mosquitto.settings, speed=0, read_interval_s=0.3, cameras=False, lockers=False)
    store = sim.store_id
    collector = collectors(mosquitto.settings, topics.device_data_filters(store))
    sim.start()
    assert sim.wait_online(5.0)
    aisle = topics.rfid_reads(store, "reader-aisle-3")
    backroom = topics.rfid_reads(store, "reader-backroom")
    assert wait_for(lambda: len(collector.on(aisle)) >= 3 and len(collector.on(backroom)) >= 3)
    zone_of = {sim.world.items[i].epc: z for z, ids in sim.world.zone_tags.items() for i in ids}
    for topic, zone in ((aisle, "aisle-3"), (backroom, "backroom")):
        batches = []
        for raw in collector.on(topic):
            decoded = decode(topic, raw)
            assert isinstance(decoded, Decoded), decoded
            assert isinstance(decoded.payload, ReadBatch)
            batches.append(decoded.payload)
        seqs = [b.seq for b in batches]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "seq goes up by one per message"
        assert len({b.id for b in batches}) == len(batches)
        expected = {epc for epc, z in zone_of.items() if z == zone}
        first = {r.epc for r in batches[0].reads}
        assert 0.8 * len(expected) < len(first & expected) < len(expected) + 1
        # Across three reports nearly every tag shows up; anything else is a weak neighbour read.
        union = {r.epc for b in batches[:3] for r in b.reads}
        assert len(union & expected) >= 0.98 * len(expected)
        assert all(r.rssi < -75.0 for b in batches for r in b.reads if r.epc not in expected)
    exit_reads = collector.on(topics.rfid_reads(store, "reader-exit"))
    assert exit_reads, "a reader with nothing in view still reports"
    counts = Counter(len(decode_batch(topics.rfid_reads(store, "reader-exit"), r).reads) for r in exit_reads)
    assert counts == Counter({0: len(exit_reads)})


def decode_batch(topic: str, raw: bytes) -> ReadBatch:
    decoded = decode(topic, raw)
    assert isinstance(decoded, Decoded)
    assert isinstance(decoded.payload, ReadBatch)
    return decoded.payload
