"""The RFID processor on wire bytes: rejections, stock signals and snapshots, low-stock alerts, telemetry."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from rfid_helpers import MILK, OATS, START, STORE, Read, epc, small_store, wire_batch

from smartstore.edge.processors.base import Rejection
from smartstore.edge.rfid.processor import BatchHeader, RfidProcessor, antennas_down
from smartstore.edge.rfid.settings import RfidSettings
from smartstore.edge.rfid.tags import TagEvent
from smartstore.kernel.contract import topics
from smartstore.kernel.contract.payloads import (
    AlertSignal,
    DeviceState,
    DeviceStatus,
    ReadBatch,
    RfidTelemetry,
    Severity,
    Signal,
    StockSignal,
    encode,
    envelope,
)
from smartstore.kernel.contract.topics import Kind, TelemetryType, Topic
from smartstore.kernel.contract.validation import Decoded, RejectReason, decode
from smartstore.kernel.storeconfig import StoreConfig

FAST = RfidSettings(low_stock_settle_s=10.0, telemetry_interval_s=10.0)


class Harness:
    def __init__(
        self,
        store: StoreConfig,
        settings: RfidSettings = FAST,
        state: Path | None = None,
        store_file: Path | None = None,
        now: float = START,
    ) -> None:
        self.now = now
        self.events: list[TagEvent] = []
        self.processor = RfidProcessor(
            store, settings, state, now, store_file=store_file, event_sink=self.events.extend
        )
        self.readers = sorted(self.processor.inventory.table.antennas)

    def batch(self, reader: str, reads: Sequence[Read], **options: Any) -> list[Signal]:
        topic, payload = wire_batch(reader, reads, self.now, **options)
        return self.processor.handle_raw(Topic.parse(topic), payload, self.now)

    def status(self, reader: str, state: DeviceState = DeviceState.ONLINE, **info: str | int | bool) -> None:
        status = DeviceStatus(**envelope(1), state=state, info=info)
        self.processor.on_status(Topic.parse(topics.status(STORE, Kind.RFID, reader)), status, self.now)

    def run(self, seconds: int, reads: Mapping[str, Sequence[Read]] | None = None) -> list[Signal]:
        signals: list[Signal] = []
        for _ in range(seconds):
            self.now += 1.0
            for reader in self.readers:
                assert self.batch(reader, (reads or {}).get(reader, ())) == []
            signals.extend(self.processor.tick(self.now))
        return signals


def stock(signals: list[Signal], snapshot: bool = False) -> list[dict[tuple[str, str], int]]:
    return [
        {(c.zone, c.gtin): c.count for c in s.counts}
        for s in signals
        if isinstance(s, StockSignal) and s.snapshot is snapshot
    ]


def alerts(signals: list[Signal]) -> list[tuple[str, str, Severity]]:
    return [(s.cause, s.action, s.severity) for s in signals if isinstance(s, AlertSignal)]


@pytest.fixture
def rfid(store: StoreConfig) -> Harness:
    return Harness(store)


def milk(*serials: int, antenna: int = 1, rssi: float = -50.0) -> list[Read]:
    return [(epc(MILK, n), antenna, rssi) for n in serials]


def test_batch_header_mirrors_the_contract_read_batch() -> None:
    assert set(BatchHeader.model_fields) | {"reads"} == set(ReadBatch.model_fields)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", RejectReason.INVALID_JSON),
        (b"\xff\xfe", RejectReason.INVALID_JSON),
        (b"[1, 2]", RejectReason.INVALID_PAYLOAD),
        (
            json.dumps({"v": 2, "id": "a" * 32, "ts": "2025-01-01T00:00:00Z", "seq": 1, "reads": []}),
            RejectReason.UNSUPPORTED_VERSION,
        ),
        (
            json.dumps({"v": 1, "id": "a" * 32, "ts": "2025-01-01T00:00:00Z", "seq": 1}),
            RejectReason.INVALID_PAYLOAD,
        ),
        (
            json.dumps({"v": 1, "id": "a" * 32, "ts": "2025-01-01T00:00:00Z", "seq": 1, "reads": "many"}),
            RejectReason.INVALID_PAYLOAD,
        ),
        (
            json.dumps({"v": 1, "id": "x", "ts": "2025-01-01T00:00:00Z", "seq": 1, "reads": []}),
            RejectReason.INVALID_PAYLOAD,
        ),
        (
            json.dumps({"v": 1, "id": "a" * 32, "ts": "2025-01-01T00:00:00", "seq": 1, "reads": []}),
            RejectReason.INVALID_PAYLOAD,
        ),
        (
            json.dumps({"v": 1, "id": "a" * 32, "ts": "2025-01-01T00:00:00Z", "seq": 1, "reads": [], "x": 1}),
            RejectReason.INVALID_PAYLOAD,
        ),
        (
            json.dumps(
                {"v": 1, "id": "a" * 32, "ts": "2025-01-01T00:00:00Z", "seq": 1, "reads": [{}] * 10_001}
            ),
            RejectReason.INVALID_PAYLOAD,
        ),
        (
            json.dumps(
                {
                    "v": 1,
                    "id": "a" * 32,
                    "ts": "2025-01-01T00:00:00Z",
                    "seq": 1,
                    "reads": [],
                    "rssi_unit": "mW",
                }
            ),
            RejectReason.INVALID_PAYLOAD,
        ),
        (b" " * (4 * 1024 * 1024 + 1), RejectReason.TOO_LARGE),
    ],
)
def test_unusable_batches_are_rejected_with_a_reason(
    rfid: Harness, payload: bytes | str, reason: str
) -> None:
    raw = payload.encode() if isinstance(payload, str) else payload
    with pytest.raises(Rejection) as caught:
        rfid.processor.handle_raw(Topic.parse(topics.rfid_reads(STORE, "reader-a1")), raw, rfid.now)
    assert caught.value.reason == reason


def test_reads_from_an_unknown_reader_are_rejected(rfid: Harness) -> None:
    with pytest.raises(Rejection) as caught:
        rfid.batch("reader-nope", milk(1))
    assert caught.value.reason == RejectReason.UNKNOWN_REFERENCE


def test_a_repeated_batch_id_is_applied_once(rfid: Harness) -> None:
    rfid.batch("reader-a1", milk(1, 2), batch_id="batch-0001")
    rfid.batch("reader-a1", milk(3), batch_id="batch-0001")
    assert rfid.processor.counts() == {("aisle-1", MILK): 2}
    assert rfid.processor.counters["duplicate_batches"] == 1


def test_a_decoded_batch_takes_the_same_path(rfid: Harness) -> None:
    topic, payload = wire_batch("reader-a1", milk(1, 2), rfid.now, rssi_unit="dBm")
    message = decode(topic, payload)
    assert isinstance(message, Decoded)
    rfid.processor.handle(message, rfid.now)
    assert rfid.processor.counts() == {("aisle-1", MILK): 2}


def test_changes_are_published_at_most_every_interval(rfid: Harness) -> None:
    rfid.batch("reader-a1", [*milk(1, 2, 3), (epc(OATS, 1), 2, -55.0)])
    rfid.batch("reader-a2", milk(10, 11))
    assert stock(rfid.processor.tick(rfid.now)) == [
        {("aisle-1", MILK): 3, ("aisle-1", OATS): 1, ("aisle-2", MILK): 2}
    ]
    rfid.now += 0.5
    rfid.batch("reader-a1", milk(99))
    assert stock(rfid.processor.tick(rfid.now)) == []  # inside the 2 s publish interval
    rfid.now += 1.6
    assert stock(rfid.processor.tick(rfid.now)) == [{("aisle-1", MILK): 4}]


def test_dbm_x10_batches_count_like_dbm(rfid: Harness) -> None:
    rfid.batch("reader-a1", [(epc(MILK, 1), 1, -500), (epc(MILK, 2), 1, -800)], rssi_unit="dBm_x10")
    assert rfid.processor.counts() == {("aisle-1", MILK): 1}  # -80 dBm is below the zone's -75
    assert rfid.processor.counters["below_min_rssi"] == 1


def test_snapshot_covers_every_reader_zone(rfid: Harness, store: StoreConfig) -> None:
    rfid.batch("reader-a2", [(epc(OATS, n), 1, -50.0) for n in range(4)])
    rfid.processor.tick(rfid.now)
    signals = rfid.run(61)
    [snapshot] = [s for s in signals if isinstance(s, StockSignal) and s.snapshot]
    assert snapshot.zones == sorted(zone for zone in (z.id for z in store.zones))
    assert stock([snapshot], snapshot=True) == [{("aisle-2", OATS): 4}]


def test_low_stock_alerts_raise_and_clear_per_planned_and_backroom_cell(rfid: Harness) -> None:
    shelf = {"reader-a1": milk(1, 2, 3), "reader-back": [(epc(OATS, 9), 1, -50.0)]}
    early = rfid.run(9, shelf)
    assert alerts(early) == []  # aisle-1 covered for less than the 10 s settle time
    signals = rfid.run(3, shelf)
    # OATS is planned in aisle-1 and absent; MILK has 3 > 2; backroom OATS 1 <= 1.
    assert sorted(alerts(signals)) == [
        ("rfid.low_stock:aisle-1:09506000100012", "raise", Severity.CRITICAL),
        ("rfid.low_stock:backroom:09506000100012", "raise", Severity.WARNING),
    ]
    assert alerts(rfid.run(5, shelf)) == []  # raised once, not again
    fewer = {"reader-a1": milk(1, 2), "reader-back": shelf["reader-back"]}
    signals = rfid.run(62, fewer)  # MILK 3 departs after its 60 s timeout
    assert alerts(signals) == [("rfid.low_stock:aisle-1:09506000100005", "raise", Severity.WARNING)]
    more = {"reader-a1": milk(1, 2, 4, 5) + [(epc(OATS, n), 1, -50.0) for n in range(3)]}
    more["reader-back"] = [(epc(OATS, 9), 1, -50.0), (epc(OATS, 10), 1, -50.0)]
    assert sorted(alerts(rfid.run(3, more))) == [
        ("rfid.low_stock:aisle-1:09506000100005", "clear", Severity.INFO),
        ("rfid.low_stock:aisle-1:09506000100012", "clear", Severity.INFO),
        ("rfid.low_stock:backroom:09506000100012", "clear", Severity.INFO),
    ]


def test_restart_resumes_without_announcing_tags_or_alerts_again(store: StoreConfig, tmp_path: Path) -> None:
    state = tmp_path / "rfid-tags.json"
    before = Harness(store, state=state)
    signals = before.run(12, {"reader-a1": milk(1, 2, 3, 4, 5)})
    assert stock(signals)[0] == {("aisle-1", MILK): 5}
    assert alerts(signals) == [("rfid.low_stock:aisle-1:09506000100012", "raise", Severity.CRITICAL)]
    before.processor.save()

    after = Harness(store, state=state, now=before.now + 5)
    assert after.processor.counts() == {("aisle-1", MILK): 5}
    signals = after.run(15, {"reader-a1": milk(1, 2, 3, 4, 5)})
    assert after.processor.epcs.decoded == 0  # identities came back with the state: no epcpy again
    assert stock(signals) == []  # nothing changed, nothing re-announced
    assert alerts(signals) == []
    assert after.events == []
    signals = after.run(3, {"reader-a1": milk(1, 2, 3, 4, 5, 77)})
    assert stock(signals) == [{("aisle-1", MILK): 6}]


def test_unreadable_state_starts_empty_and_the_first_format_is_read(
    store: StoreConfig, tmp_path: Path
) -> None:
    state = tmp_path / "rfid-tags.json"
    state.write_text("{not json", encoding="utf-8")
    assert Harness(store, state=state).processor.counts() == {}
    state.write_text(
        json.dumps({"version": 1, "tags": [[epc(MILK, 1), MILK, "aisle-2", START]]}), encoding="utf-8"
    )
    assert Harness(store, state=state).processor.counts() == {("aisle-2", MILK): 1}


def test_store_file_reload_applies_new_zone_settings_to_live_tags(tmp_path: Path) -> None:
    from rfid_helpers import store_data

    data = store_data()
    store_file = tmp_path / "store.json"  # YAML is a superset of JSON
    store_file.write_text(json.dumps(data), encoding="utf-8")
    settings = FAST.model_copy(update={"store_check_interval_s": 1.0})
    rfid = Harness(small_store(data), settings, store_file=store_file)
    rfid.run(3, {"reader-a1": milk(1, 2), "reader-a2": milk(3)})

    data["zones"][1]["min_rssi"] = -45.0  # aisle-1 now ignores -50 dBm reads
    data["zones"] = [zone for zone in data["zones"] if zone["id"] != "aisle-2"]
    data["devices"]["readers"] = [r for r in data["devices"]["readers"] if r["id"] != "reader-a2"]
    store_file.write_text(json.dumps(data), encoding="utf-8")
    rfid.readers.remove("reader-a2")
    signals = rfid.run(3, {"reader-a1": milk(1, 2)})
    assert rfid.processor.counters["store_reloads"] == 1
    assert {("aisle-2", MILK): 0} in stock(signals)  # the removed zone's tags are forgotten
    assert rfid.processor.counts() == {("aisle-1", MILK): 2}  # kept: no departure, no re-arrival
    assert rfid.processor.counters["below_min_rssi"] >= 2
    assert [e.kind.value for e in rfid.events] == ["arrived"] * 3

    store_file.write_text("zones: [", encoding="utf-8")
    rfid.run(2, {"reader-a1": milk(1, 2)})
    assert rfid.processor.counters["store_reload_failed"] == 1
    assert rfid.processor.counts() == {("aisle-1", MILK): 2}


def test_telemetry_summarises_each_reader(rfid: Harness) -> None:
    rfid.status("reader-a2", antennas_down="1")
    rfid.run(10, {"reader-a1": milk(1, 2, 3) + milk(1, antenna=2) + [("DEADBEEF", 1, -50.0)]})
    telemetry = rfid.processor.take_telemetry()
    assert isinstance(telemetry, RfidTelemetry)
    assert rfid.processor.take_telemetry() is None  # taken once
    by_reader = {summary.reader: summary for summary in telemetry.readers}
    aisle = by_reader["reader-a1"]
    assert (aisle.online, aisle.unique_tags, aisle.tags_in_zones) == (True, 3, 3)
    assert aisle.reads_per_s == pytest.approx(4.0)
    assert aisle.read_ages.under_5s == 3
    assert aisle.clock_offset_s == pytest.approx(0.0, abs=0.01)
    assert (by_reader["reader-a2"].online, by_reader["reader-a2"].antennas_down) == (False, [1])
    assert telemetry.rejected_reads == {"epc_unknown_header": 10}
    topic = topics.edge_telemetry(STORE, "edge-1", TelemetryType.RFID)
    decoded = decode(topic, encode(telemetry))
    assert isinstance(decoded, Decoded)
    assert decoded.payload == telemetry


@pytest.mark.parametrize(
    ("info", "down"),
    [
        ({}, set()),
        ({"antennas_down": ""}, set()),
        ({"antennas_down": 2}, {2}),
        ({"antennas_down": "1, 3"}, {1, 3}),
    ],
)
def test_antennas_down_from_status_info(info: dict[str, str | int | float | bool], down: set[int]) -> None:
    assert antennas_down(info) == down
