"""The gateway's RFID telemetry subscriber on a real broker: retained summaries, series, bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from dashboard_helpers import AGENT, STORE, Publisher
from polling import wait_until

from smartstore.gateway.monitoring.telemetry import RfidTelemetryBook, TelemetrySubscriber
from smartstore.kernel.contract import payloads as p
from smartstore.kernel.contract import topics
from smartstore.kernel.mqtt import MqttLink, MqttSettings

TOPIC = topics.edge_telemetry(STORE, AGENT, topics.TelemetryType.RFID)
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def telemetry(seq: int, rate: float, reader: str = "reader-aisle-1") -> bytes:
    summary = p.ReaderSummary(
        reader=reader,
        online=True,
        reads_per_s=rate,
        unique_tags=10,
        tags_in_zones=12,
        read_ages=p.ReadAges(under_5s=10, under_30s=2, under_5min=0, older=0),
    )
    payload = p.RfidTelemetry(
        **p.envelope(seq, T0 + timedelta(seconds=10 * seq)), interval_s=10.0, readers=[summary]
    )
    return p.encode(payload)


def rates(book: RfidTelemetryBook) -> list[float]:
    readers = book.store_view(STORE)["readers"]
    return [point[1] for point in readers[0]["series"]] if readers else []


def test_subscriber_keeps_latest_and_series(mosquitto: Any, publisher: Publisher) -> None:
    # Retained before the gateway starts: it is there at once when the gateway subscribes.
    publisher.publish(TOPIC, telemetry(1, 120.0), qos=0, retain=True)
    book = RfidTelemetryBook(series_points=3)
    link = MqttLink(MqttSettings(url=mosquitto.url), "gw-telemetry-test")
    TelemetrySubscriber(link, book)
    link.start()
    try:
        assert link.wait_subscribed(10)
        wait_until(lambda: rates(book) == [120.0], what="the retained summary")
        publisher.publish(TOPIC, b"{not json", qos=0)  # logged and dropped, the loop lives on
        publisher.publish(TOPIC, telemetry(1, 120.0), qos=0)  # a repeat does not extend the series
        for seq, rate in ((2, 200.0), (3, 300.0), (4, 400.0)):
            publisher.publish(TOPIC, telemetry(seq, rate), qos=0)
        wait_until(lambda: rates(book) == [200.0, 300.0, 400.0], what="a bounded series")
        assert book.reads_per_s(STORE) == {"reader-aisle-1": 400.0}
        publisher.publish(TOPIC, b"", qos=0, retain=True)  # the agent withdraws its summary
        wait_until(lambda: book.store_view(STORE)["readers"] == [], what="the agent to be forgotten")
    finally:
        link.stop()
