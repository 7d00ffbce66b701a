"""The edge agent with the RFID processor, end to end through a real Mosquitto."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from edge_helpers import Broker, Collector, fast_edge_settings, wait_for
from paho.mqtt.enums import CallbackAPIVersion
from rfid_helpers import MILK, STORE, epc, small_store, store_data, wire_batch

from smartstore.edge.agent import EdgeAgent
from smartstore.edge.rfid.settings import RfidSettings
from smartstore.kernel.contract import topics
from smartstore.kernel.contract.payloads import (
    DeviceState,
    DeviceStatus,
    RfidTelemetry,
    StockSignal,
    encode,
    envelope,
)
from smartstore.kernel.contract.topics import Kind, TelemetryType
from smartstore.kernel.contract.validation import Decoded, decode

TAGS = [(epc(MILK, n), 1, -50.0) for n in range(3)]


@pytest.fixture
def publisher(mosquitto: Broker) -> Iterator[paho.Client]:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="rfid-e2e-reader", protocol=paho.MQTTv311)
    client.connect(mosquitto.settings.host, mosquitto.settings.port)
    client.loop_start()
    yield client
    client.disconnect()
    client.loop_stop()


def milk_counts(collector: Collector) -> list[int]:
    counts: list[int] = []
    for topic, payload in collector.snapshot():
        result = decode(topic, payload)
        assert isinstance(result, Decoded)
        if isinstance(result.payload, StockSignal):
            counts += [c.count for c in result.payload.counts if (c.zone, c.gtin) == ("aisle-1", MILK)]
    return counts


def test_reads_to_counts_with_no_departure_while_the_reader_is_offline(
    mosquitto: Broker, publisher: paho.Client, tmp_path: Path
) -> None:
    data = store_data()
    data["zones"][1]["departure_timeout_s"] = 1.5  # aisle-1
    # One reader, so the store-wide hold (a tag may hide in a zone not read) is not in play.
    data["devices"]["readers"] = [r for r in data["devices"]["readers"] if r["id"] == "reader-a1"]
    store_file = tmp_path / "store.json"
    store_file.write_text(json.dumps(data), encoding="utf-8")
    rfid = RfidSettings(
        stock_publish_interval_s=0.2,
        read_interval_s=0.2,
        departure_check_interval_s=0.1,
        telemetry_interval_s=0.5,
        persist_interval_s=30.0,
    )
    settings = fast_edge_settings(tmp_path / "state", mosquitto.settings, rfid=rfid, store_file=store_file)
    signals = Collector(mosquitto.settings, topics.signals_filter(STORE), "rfid-e2e-signals")
    telemetry = Collector(mosquitto.settings, topics.telemetry_filter(STORE), "rfid-e2e-telemetry")
    agent = EdgeAgent(settings, small_store(data))
    agent.start()
    try:
        assert agent.wait_connected(5)
        status_topic = topics.status(STORE, Kind.RFID, "reader-a1")

        def report(reads: list[tuple[str, int, float]], seconds: float) -> None:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                publisher.publish(*wire_batch("reader-a1", reads, time.time()), qos=1)
                time.sleep(0.1)

        report(TAGS, 0.5)
        assert wait_for(lambda: milk_counts(signals)[-1:] == [3])

        offline = DeviceStatus(**envelope(2), state=DeviceState.OFFLINE)
        publisher.publish(status_topic, encode(offline), qos=1, retain=True).wait_for_publish(5)
        time.sleep(3.0)  # twice the departure timeout, with the reader offline and silent
        assert milk_counts(signals)[-1] == 3

        online = DeviceStatus(**envelope(3), state=DeviceState.ONLINE)
        publisher.publish(status_topic, encode(online), qos=1, retain=True).wait_for_publish(5)
        report([], 2.5)  # back, reporting, and the tags are gone: now they depart
        assert wait_for(lambda: milk_counts(signals)[-1:] == [0], timeout=3)

        publisher.publish(topics.rfid_reads(STORE, "reader-a1"), b"{not json", qos=1)
        assert wait_for(lambda: agent.dead_letters.counts.get("invalid_json") == 1)

        telemetry_topic = topics.edge_telemetry(STORE, "edge-t", TelemetryType.RFID)
        assert wait_for(lambda: any(t == telemetry_topic for t, _ in telemetry.snapshot()))
        summary = RfidTelemetry.model_validate_json(telemetry.snapshot()[-1][1])
        assert [r.reader for r in summary.readers] == ["reader-a1"]
        assert agent.processors[0].counters["tag_departed"] == 3
    finally:
        agent.stop(flush_timeout=1)
        signals.close()
        telemetry.close()
