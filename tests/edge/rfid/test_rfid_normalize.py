"""Read normalization: reader time, clock offset, RSSI units, EPC decode-once cache, bad reads by reason."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from rfid_helpers import MILK, START, epc, iso, small_store

from smartstore.edge.rfid.epc import EpcCache, EpcGarbage, EpcIdentity
from smartstore.edge.rfid.normalize import ReaderClock, ReaderTimes, ReadNormalizer, ReadReject
from smartstore.edge.rfid.zones import ZoneTable
from smartstore.kernel.contract.payloads import RssiUnit, rssi_to_dbm

TAG = epc(MILK, 1)


def normalizer(counters: Counter[str] | None = None, cache: EpcCache | None = None) -> ReadNormalizer:
    return ReadNormalizer(
        ZoneTable.from_store(small_store()),
        cache if cache is not None else EpcCache(10_000),
        counters if counters is not None else Counter(),
        clock_window=5,
        clock_jump_s=30.0,
    )


def read(**changes: Any) -> dict[str, Any]:
    return {"epc": TAG, "antenna": 1, "rssi": -50.0, "ts": iso(START), "count": 1} | changes


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-06-15T16:26:40.250000Z", 1750004800.25),
        ("2025-06-15T16:26:40Z", 1750004800.0),
        ("2025-06-15T18:26:40.5+02:00", 1750004800.5),
        ("2025-06-15T16:26:40.250000+00:00", 1750004800.25),
    ],
)
def test_reader_times(text: str, expected: float) -> None:
    times = ReaderTimes()
    assert times.seconds(text) == pytest.approx(expected)
    assert times.seconds(text) == pytest.approx(expected)  # second time through the minute cache


@pytest.mark.parametrize("text", ["2025-06-15T16:26:40", "yesterday", "2025-06-15T16:26:99Z", ""])
def test_reader_times_reject_what_the_contract_rejects(text: str) -> None:
    times = ReaderTimes()
    times.seconds("2025-06-15T16:26:00Z")  # warm the minute cache for the same minute
    with pytest.raises((ValueError, IndexError)):
        times.seconds(text)


def test_clock_offset_is_a_median_that_ignores_late_batches_and_restarts_on_a_jump() -> None:
    clock = ReaderClock(window=5, jump_s=30.0)
    for index in range(5):
        clock.observe(START + index + (8.0 if index == 2 else 0.0), START + index - 1000.0)
    assert clock.offset == pytest.approx(1000.0)  # the batch delayed by 8 s does not move it
    clock.observe(START + 10, START + 10 - 5.0)  # the reader's clock was set: off by 5 s now
    assert clock.offset == pytest.approx(5.0)
    assert clock.jumps == 1


@pytest.mark.parametrize(
    ("value", "unit", "dbm"),
    [
        (-52.5, None, -52.5),
        (-525, None, -52.5),  # dBm x 10 told by magnitude
        (-5250, None, -52.5),  # dBm x 100
        (-525, RssiUnit.DBM_X10, -52.5),
        (-5250, RssiUnit.DBM_X100, -52.5),
        (-60, RssiUnit.DBM_X10, -6.0),  # an explicit unit wins over the magnitude
        (-525, RssiUnit.DBM, None),
        (-20000, None, None),
        (float("nan"), None, None),
    ],
)
def test_rssi_units(value: float, unit: RssiUnit | None, dbm: float | None) -> None:
    assert rssi_to_dbm(value, unit) == (pytest.approx(dbm) if dbm is not None else None)


def test_normalized_reads_carry_zone_dbm_identity_and_our_clock() -> None:
    counters: Counter[str] = Counter()
    norm = normalizer(counters)
    skewed = START - 3 * 365 * 86400.0
    reads = [read(ts=iso(skewed), rssi=-480, antenna=2, epc=TAG.lower(), count=4)]
    batch = norm.normalize("reader-a1", reads, None, START + 0.2)
    [(identity, zone, rssi, moment, count, antenna)] = batch.reads
    assert (identity.epc, identity.gtin, identity.serial) == (TAG, MILK, "1")
    assert (zone.id, rssi, count, antenna) == ("aisle-1", -48.0, 4, 2)
    assert moment == pytest.approx(START + 0.2)  # the first batch sets the offset for its own reads
    assert counters == Counter()


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (read(antenna=9), ReadReject.UNKNOWN_ANTENNA),
        (read(rssi=-90.0), ReadReject.BELOW_MIN_RSSI),  # the zone's min_rssi is -75
        (read(rssi=-30000), ReadReject.RSSI_OUT_OF_RANGE),
        (read(epc="DEADBEEF"), EpcGarbage.UNKNOWN_HEADER),
        (read(epc="30-34"), EpcGarbage.NOT_HEX),
        (read(ts="2025-06-15T16:26:40"), ReadReject.MALFORMED),  # no offset
        (read(count=0), ReadReject.MALFORMED),
        (read(count="2"), ReadReject.MALFORMED),
        (read(colour="red"), ReadReject.MALFORMED),  # unknown field, as the contract forbids
        (read(rssi="strong"), ReadReject.MALFORMED),
        ({"epc": TAG, "antenna": 1, "rssi": -50.0}, ReadReject.MALFORMED),  # no ts
        (["not", "an", "object"], ReadReject.MALFORMED),
    ],
)
def test_a_bad_read_is_dropped_with_its_reason_and_the_rest_kept(bad: Any, reason: str) -> None:
    counters: Counter[str] = Counter()
    batch = normalizer(counters).normalize("reader-a1", [read(), bad, read(antenna=2)], None, START)
    assert len(batch.reads) == 2
    assert counters == Counter({reason: 1})


def test_each_distinct_epc_is_decoded_once_and_the_cache_is_bounded() -> None:
    cache = EpcCache(max_entries=1000)
    norm = normalizer(cache=cache)
    for _ in range(50):
        norm.normalize("reader-a1", [read(), read(epc=TAG.lower()), read(epc="DEADBEEF")], None, START)
    assert cache.decoded == 3  # upper, lower and the garbage: one decode each
    for serial in range(5000):
        assert isinstance(cache.lookup(epc(MILK, serial + 10)), EpcIdentity)
    assert len(cache) <= 1000
    decoded = cache.decoded
    cache.lookup(epc(MILK, 5009))  # recent: still cached
    assert cache.decoded == decoded
