"""The bridge's pure parts: report checks, per-interval merging, backoff, settings, status info."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from llrpkit import TagReport
from pydantic import ValidationError

from smartstore.devices.llrp import BackoffSettings, ReaderBridge, UnknownReaderError, settings_for_reader
from smartstore.devices.llrp.backoff import Backoff
from smartstore.devices.llrp.batching import ReadAggregator, ReadRejectReason, reader_time
from smartstore.devices.llrp.status import ReaderState
from smartstore.kernel.contract.payloads import DeviceState
from smartstore.kernel.storeconfig import StoreConfig

EPC_A = bytes.fromhex("E28011700000020A00000001")
EPC_B = bytes.fromhex("E28011700000020A00000002")
T0 = 1_700_000_000_123_456


def _report(epc: bytes = EPC_A, **fields: object) -> TagReport:
    values: dict[str, object] = {"antenna": 1, "rssi_dbm": -55.25, "first_seen_us": T0, "seen_count": 1}
    values.update(fields)
    return TagReport(epc=epc, **values)  # type: ignore[arg-type]


def test_reader_time_is_exact_utc_microseconds() -> None:
    assert reader_time(T0) == datetime(2023, 11, 14, 22, 13, 20, 123456, tzinfo=UTC)


def test_reads_merge_per_tag_and_antenna_with_first_seen_peak_rssi_and_count() -> None:
    aggregator = ReadAggregator(frozenset({1, 2}))
    assert aggregator.add(_report(first_seen_us=T0 + 500, rssi_dbm=-60.0, seen_count=2)) is None
    assert aggregator.add(_report(first_seen_us=T0 + 100, rssi_dbm=-52.5, seen_count=None)) is None
    assert aggregator.add(_report(antenna=2, first_seen_us=T0 + 900)) is None
    assert aggregator.add(_report(EPC_B, first_seen_us=T0 + 50)) is None

    reads, rejected = aggregator.drain()

    assert rejected == []
    assert [(read.epc, read.antenna) for read in reads] == [
        (EPC_B.hex().upper(), 1),
        (EPC_A.hex().upper(), 1),
        (EPC_A.hex().upper(), 2),
    ]
    merged = reads[1]
    assert (merged.rssi, merged.count, merged.ts) == (-52.5, 3, reader_time(T0 + 100))
    assert aggregator.drain() == ([], [])


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"antenna": None}, ReadRejectReason.NO_ANTENNA),
        ({"antenna": 3}, ReadRejectReason.UNKNOWN_ANTENNA),
        ({"rssi_dbm": None}, ReadRejectReason.NO_RSSI),
        ({"rssi_dbm": 35.0}, ReadRejectReason.RSSI_OUT_OF_RANGE),
        ({"rssi_dbm": float("nan")}, ReadRejectReason.RSSI_OUT_OF_RANGE),
        ({"first_seen_us": None}, ReadRejectReason.NO_TIMESTAMP),
    ],
)
def test_incomplete_reports_are_rejected_with_a_reason(
    fields: dict[str, object], reason: ReadRejectReason
) -> None:
    aggregator = ReadAggregator(frozenset({1, 2}))
    rejected = aggregator.add(_report(EPC_A, **fields))
    assert rejected is not None
    assert rejected.reason is reason
    assert rejected.epc == EPC_A.hex().upper()
    assert len(aggregator) == 0


def test_reads_the_contract_refuses_come_back_from_drain_and_the_rest_survive() -> None:
    aggregator = ReadAggregator(frozenset({1}))
    aggregator.add(_report(b"\x12\x34"))  # 16-bit EPC: below the contract minimum
    aggregator.add(_report(EPC_B, first_seen_us=10**20))  # beyond datetime's range
    aggregator.add(_report(EPC_A))

    reads, rejected = aggregator.drain()

    assert {item.reason for item in rejected} == {ReadRejectReason.INVALID_READ}
    assert {item.epc for item in rejected} == {"1234", EPC_B.hex().upper()}
    assert [read.epc for read in reads] == [EPC_A.hex().upper()]


def test_the_aggregator_is_full_at_the_contract_batch_size() -> None:
    aggregator = ReadAggregator(frozenset({1}), max_reads=2)
    aggregator.add(_report(EPC_A))
    assert not aggregator.full
    aggregator.add(_report(EPC_B))
    assert aggregator.full


def test_backoff_grows_is_capped_jittered_and_resets() -> None:
    backoff = Backoff(BackoffSettings(initial_s=0.5, max_s=4.0, jitter=0.2), random.Random(3))
    delays = [backoff.next_delay() for _ in range(8)]
    for delay, base in zip(delays, [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0], strict=True):
        assert base * 0.8 <= delay <= min(4.0, base * 1.2)
    assert len({round(delay, 6) for delay in delays}) > 4, "jitter spreads the delays"
    backoff.reset()
    assert backoff.next_delay() <= 0.6


def test_settings_come_from_the_store_file_and_are_validated(example_store: StoreConfig) -> None:
    settings = settings_for_reader(example_store, "reader-backroom", port=15084, host=None)
    assert (settings.host, settings.port, settings.antennas, settings.session) == (
        "10.20.0.10",
        15084,
        (1, 2),
        1,
    )
    assert settings.keepalive_timeout_s == 6.0
    with pytest.raises(UnknownReaderError, match="reader-nope"):
        settings_for_reader(example_store, "reader-nope")
    with pytest.raises(ValidationError, match="session"):
        settings_for_reader(example_store, "reader-backroom", session=2)
    with pytest.raises(ValidationError, match="initial_s"):
        BackoffSettings(initial_s=10, max_s=1)


def test_status_info_is_truthful_and_offline_never_claims_inventorying() -> None:
    state = ReaderState(llrp_connected=True, inventorying=True, antennas_down=frozenset({4, 2}), model="700")
    online = state.status(DeviceState.ONLINE, seq=3)
    assert online.info["antennas_down"] == "2,4"
    assert online.info["inventorying"] is True
    offline = state.status(DeviceState.OFFLINE, seq=4)
    assert offline.info["inventorying"] is False
    assert offline.info["llrp_connected"] is False
    assert offline.info["model"] == "700"


def test_the_bridge_counts_and_keeps_rejected_reads_and_ignores_foreign_antennas(
    example_store: StoreConfig,
) -> None:
    bridge = ReaderBridge(settings_for_reader(example_store, "reader-backroom"))
    bridge.on_tag(_report(antenna=7))
    bridge.on_tag(_report(rssi_dbm=None))
    bridge.on_tag(_report())
    bridge.on_antenna(7, False)
    bridge.on_antenna(2, False)

    assert bridge.rejections == {"unknown_antenna": 1, "no_rssi": 1}
    assert [letter.reason for letter in bridge.dead_letters] == ["unknown_antenna", "no_rssi"]
    assert bridge.state.reads_rejected == 2
    assert bridge.state.antennas_down == frozenset({2})
    assert len(bridge.aggregator) == 1
