"""The tag-event log: what the edge concluded about each tag, with reasons, kept on disk."""

from __future__ import annotations

from pathlib import Path

from rfid_helpers import MILK, START, epc, small_store, wire_batch

from smartstore.edge.rfid.event_log import TagEventLog, read_events
from smartstore.edge.rfid.processor import RfidProcessor
from smartstore.edge.rfid.settings import RfidSettings
from smartstore.edge.rfid.tags import DepartReason, TagEvent, TagEventKind
from smartstore.kernel.contract.topics import Topic


def test_arrival_and_timeout_departure_are_logged_with_their_reason(tmp_path: Path) -> None:
    store = small_store()
    log = TagEventLog(tmp_path / "rfid-events.jsonl")
    processor = RfidProcessor(store, RfidSettings(), None, START, event_sink=log)
    readers = sorted(processor.inventory.table.antennas)
    now = START
    tag = epc(MILK, 7)
    for second in range(1, 120):
        now = START + second
        for reader in readers:
            reads = [(tag, 1, -50.0)] if reader == "reader-a1" and second <= 3 else []
            topic, payload = wire_batch(reader, reads, now)
            processor.handle_raw(Topic.parse(topic), payload, now)
        processor.tick(now)
    events = read_events(log.path)
    assert [(e["kind"], e["zone"], e.get("reason")) for e in events] == [
        ("arrived", "aisle-1", None),
        ("departed", "aisle-1", "timeout"),
    ]
    assert events[0]["epc"] == tag
    assert events[0]["gtin"] == MILK
    assert float(events[1]["t"]) - float(events[0]["t"]) >= 60.0  # the aisle's departure timeout


def test_the_log_rotates_instead_of_growing_without_bound(tmp_path: Path) -> None:
    log = TagEventLog(tmp_path / "events.jsonl", max_bytes=400)
    event = TagEvent(TagEventKind.DEPARTED, "30" * 12, None, "exit", 1.0, reason=DepartReason.EXIT)
    for _ in range(10):
        log([event, event])
    assert log.path.stat().st_size <= 400
    rotated = tmp_path / "events.jsonl.1"
    assert rotated.exists()
    assert rotated.stat().st_size <= 400
    assert len(read_events(log.path)) + len(read_events(rotated)) < 20  # older ones were dropped
