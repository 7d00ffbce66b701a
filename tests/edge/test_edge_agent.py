"""The edge agent end to end through a real Mosquitto: reads in, signals out, bad input dead-lettered."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from edge_helpers import (
    Broker,
    Collector,
    fast_edge_settings,
    locker_event,
    publish,
    read_batch,
    sgtin96,
    wait_for,
)
from vision_models import constant_detector_model

from smartstore.edge.agent import PROCESSING_ERROR, EdgeAgent
from smartstore.edge.processors.base import Message, Processor
from smartstore.edge.processors.locker_pickups import LockerPickups
from smartstore.edge.vision.detector import OnnxDetector
from smartstore.edge.vision.processor import ShelfVisionProcessor
from smartstore.kernel.contract import topics
from smartstore.kernel.contract.payloads import (
    DeviceState,
    DeviceStatus,
    LockerEventType,
    PickupSignal,
    Signal,
    StockSignal,
)
from smartstore.kernel.contract.topics import Kind, Topic
from smartstore.kernel.contract.validation import Decoded, decode
from smartstore.kernel.storeconfig import StoreConfig

STORE = "store-berlin-01"
MILK = "09506000100005"


def signals(collector: Collector) -> list[Signal]:
    out: list[Signal] = []
    for topic, payload in collector.snapshot():
        result = decode(topic, payload)
        assert isinstance(result, Decoded), result
        assert isinstance(result.payload, StockSignal | PickupSignal)
        out.append(result.payload)
    return out


@pytest.fixture
def started() -> Iterator[list[EdgeAgent]]:
    agents: list[EdgeAgent] = []
    yield agents
    for agent in agents:
        if agent.link.client.is_connected():
            agent.stop(flush_timeout=0)


def start_agent(started: list[EdgeAgent], agent: EdgeAgent) -> EdgeAgent:
    agent.start()
    started.append(agent)
    assert agent.wait_connected(5)
    return agent


def test_reads_become_stock_signals_and_a_restarted_agent_does_not_repeat_them(
    mosquitto: Broker, example_store: StoreConfig, tmp_path: Path, started: list[EdgeAgent]
) -> None:
    settings = fast_edge_settings(tmp_path / "state", mosquitto.settings)
    status_topic = topics.status(STORE, Kind.EDGE, settings.agent_id)
    collector = Collector(mosquitto.settings, topics.signals_filter(STORE), "edge-agent-collector")
    agent = start_agent(started, EdgeAgent(settings, example_store))
    reads = [(sgtin96(MILK, n), 1, -50.0) for n in range(3)]
    publish(mosquitto.settings, [read_batch(STORE, "reader-aisle-1", reads)])

    assert wait_for(lambda: len(collector.snapshot()) >= 1)
    [stock] = signals(collector)
    assert isinstance(stock, StockSignal)
    assert [(c.zone, c.gtin, c.count) for c in stock.counts] == [("aisle-1", MILK, 3)]
    assert collector.snapshot()[0][0] == topics.signal(STORE, "edge-t", topics.SignalType.STOCK)
    agent.stop()

    status = Collector(mosquitto.settings, status_topic, "edge-agent-status")
    assert wait_for(lambda: len(status.snapshot()) == 1)
    assert DeviceStatus.model_validate_json(status.snapshot()[0][1]).state is DeviceState.OFFLINE
    status.close()

    start_agent(started, EdgeAgent(settings, example_store))
    publish(mosquitto.settings, [read_batch(STORE, "reader-aisle-1", reads, seq=2)])
    publish(
        mosquitto.settings, [read_batch(STORE, "reader-aisle-1", [*reads, (sgtin96(MILK, 9), 2, -50)], seq=3)]
    )
    assert wait_for(lambda: len(collector.snapshot()) >= 2)
    time.sleep(0.3)  # a re-announcement of the first three would come within the 0.2 s interval
    # The first signal comes once more with its own id (the outbox replays what the broker acknowledged
    # lately, in case the broker lost it); a new signal re-announcing the three tags would have a new id.
    later = [s for s in signals(collector)[1:] if s.id != stock.id]
    assert [[(c.zone, c.count) for c in s.counts] for s in later if isinstance(s, StockSignal)] == [
        [("aisle-1", 4)]
    ]
    assert later[0].seq == 2  # seq continues across the restart
    collector.close()


class ExplodingProcessor(Processor):
    """Fails on compartment c01 only, like a bug triggered by one message."""

    name = "exploding"

    def accepts(self, topic: Topic) -> bool:
        return topic.kind is Kind.LOCKER

    def handle(self, message: Message, now: float) -> list[Signal]:
        if isinstance(message, Decoded) and getattr(message.payload, "compartment", None) == "c01":
            raise ZeroDivisionError("boom")
        return []


def test_bad_input_is_dead_lettered_with_its_reason_and_processing_goes_on(
    mosquitto: Broker, example_store: StoreConfig, tmp_path: Path, started: list[EdgeAgent]
) -> None:
    settings = fast_edge_settings(tmp_path / "state", mosquitto.settings)
    processors = [
        ExplodingProcessor(),
        LockerPickups(example_store),
        ShelfVisionProcessor(
            example_store,
            settings.vision,
            0,
            detector=OnnxDetector(
                constant_detector_model(tmp_path / "detector.onnx", [], {0: "product", 1: "gap"}, 64)
            ),
        ),
    ]
    agent = start_agent(started, EdgeAgent(settings, example_store, processors=processors))
    collector = Collector(mosquitto.settings, topics.signals_filter(STORE), "edge-agent-collector2")
    reads_topic = topics.rfid_reads(STORE, "reader-aisle-1")
    duplicate = locker_event(STORE, "locker-1", "c05", LockerEventType.OCCUPANCY_CHANGED, True, seq=1)
    valid_batch = json.loads(read_batch(STORE, "reader-aisle-1", [])[1])
    bad: list[tuple[str, bytes]] = [
        (reads_topic, b"{not json"),
        (reads_topic, json.dumps({**valid_batch, "v": 2}).encode()),
        (reads_topic, json.dumps({**valid_batch, "reads": "many"}).encode()),
        (topics.camera_image(STORE, "cam-1l"), b"GIF89a..."),
        (topics.camera_image(STORE, "cam-1r"), b"\xff\xd8\xff" + b"\x00" * 100),
        locker_event(STORE, "locker-1", "c99", LockerEventType.DOOR_OPENED, None),
        locker_event(STORE, "locker-1", "c01", LockerEventType.DOOR_OPENED, None),
        duplicate,
        duplicate,
    ]
    pickup = [
        locker_event(STORE, "locker-1", "c05", LockerEventType.DOOR_OPENED, None, seq=2),
        locker_event(STORE, "locker-1", "c05", LockerEventType.DOOR_CLOSED, False, seq=3),
    ]
    publish(mosquitto.settings, bad + pickup)

    assert wait_for(lambda: len(collector.snapshot()) >= 1)
    [signal] = signals(collector)
    assert isinstance(signal, PickupSignal)
    assert signal.compartment == "c05"
    letters = agent.dead_letters.recent()
    reasons = sorted(letter.reason for letter in letters)
    assert reasons == sorted(
        [
            "invalid_json",
            "unsupported_version",
            "invalid_payload",
            "not_jpeg",
            "decode_error",
            "unknown_reference",
            PROCESSING_ERROR,
        ]
    )
    crash = next(letter for letter in letters if letter.reason == PROCESSING_ERROR)
    assert "ZeroDivisionError" in crash.detail
    assert crash.topic == topics.locker_event(STORE, "locker-1")
    assert next(letter for letter in letters if letter.reason == "invalid_json").payload == b"{not json"
    assert agent.counters["duplicates"] == 1
    assert agent.dead_letters.counts["invalid_json"] == 1
    collector.close()
