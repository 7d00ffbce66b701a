"""RfidCounts driven directly with a fake clock: arrivals, moves, departures, reader outages, restarts."""

from __future__ import annotations

from pathlib import Path

import pytest
from edge_helpers import FakeClock, decoded, parsed, read_batch, reader_status, sgtin96
from epcpy.epc_schemes.sgtin import SGTIN
from epcpy.utils.parsers import hex_to_tag_encodable

from edge.config import RfidSettings
from edge.processors.base import Rejection
from edge.processors.rfid_counts import RfidCounts
from smartstore.contract.payloads import DeviceState, DeviceStatus, Signal, StockSignal
from smartstore.contract.validation import Decoded, RejectReason
from smartstore.gtin import make_gtin14
from smartstore.storeconfig import StoreConfig

STORE = "store-berlin-01"
MILK = "09506000100005"
OATS = "09506000100012"


class Harness:
    def __init__(
        self, store: StoreConfig, settings: RfidSettings, clock: FakeClock, state: Path | None = None
    ):
        self.clock = clock
        self.processor = RfidCounts(store, settings, state, clock.now)

    def reads(self, reader: str, reads: list[tuple[str, int, float]]) -> None:
        message = decoded(*read_batch(STORE, reader, reads, self.clock.now))
        assert self.processor.handle(message, self.clock.now) == []

    def status(self, reader: str, state: DeviceState) -> None:
        topic, payload = reader_status(STORE, reader, state)
        message = decoded(topic, payload)
        assert isinstance(message, Decoded)
        assert isinstance(message.payload, DeviceStatus)
        self.processor.on_status(parsed(topic), message.payload, self.clock.now)

    def tick(self) -> list[Signal]:
        return self.processor.tick(self.clock.now)

    def run(self, seconds: int, reporting: tuple[str, ...] = (), step: float = 1.0) -> list[StockSignal]:
        """Advance time; `reporting` readers send an empty batch each step; returns change signals."""
        out: list[StockSignal] = []
        for _ in range(int(seconds / step)):
            self.clock.advance(step)
            for reader in reporting:
                self.reads(reader, [])
            out.extend(s for s in self.tick() if isinstance(s, StockSignal) and not s.snapshot)
        return out


def counts_of(signal: Signal) -> dict[tuple[str, str], int]:
    assert isinstance(signal, StockSignal)
    return {(c.zone, c.gtin): c.count for c in signal.counts}


@pytest.fixture
def rfid(example_store: StoreConfig, rfid_settings: RfidSettings, clock: FakeClock) -> Harness:
    return Harness(example_store, rfid_settings, clock)


def test_sgtin_helper_encodes_what_epcpy_decodes(example_store: StoreConfig) -> None:
    for product in example_store.catalog[:20]:
        tag = hex_to_tag_encodable(sgtin96(product.gtin, 4711))
        assert isinstance(tag, SGTIN)
        assert tag.gtin() == product.gtin


def test_arrivals_are_counted_per_zone_and_changes_published_at_most_every_interval(rfid: Harness) -> None:
    rfid.reads(
        "reader-aisle-1", [(sgtin96(MILK, n), 1, -50.0) for n in range(3)] + [(sgtin96(OATS, 1), 2, -55)]
    )
    rfid.reads("reader-aisle-2", [(sgtin96(MILK, n), 1, -50.0) for n in range(10, 12)])
    [first] = rfid.tick()
    assert counts_of(first) == {("aisle-1", MILK): 3, ("aisle-1", OATS): 1, ("aisle-2", MILK): 2}
    assert isinstance(first, StockSignal)
    assert not first.snapshot

    rfid.clock.advance(0.5)
    rfid.reads("reader-aisle-1", [(sgtin96(MILK, 99), 1, -50.0)])
    assert rfid.tick() == []  # inside the 2 s publish interval
    rfid.clock.advance(1.6)
    [second] = rfid.tick()
    assert counts_of(second) == {("aisle-1", MILK): 4}


def test_tag_moves_zone_on_stronger_reads_but_not_on_weak_crosstalk(rfid: Harness) -> None:
    epc = sgtin96(MILK, 1)
    rfid.reads("reader-aisle-1", [(epc, 1, -50.0)])
    for _ in range(5):
        rfid.clock.advance(1)
        rfid.reads("reader-aisle-1", [(epc, 1, -50.0)])
        rfid.reads("reader-aisle-2", [(epc, 1, -62.0)])  # the next aisle hears it faintly
    assert rfid.processor.zone_of(epc) == "aisle-1"
    for _ in range(3):
        rfid.clock.advance(1)
        rfid.reads("reader-aisle-1", [(epc, 1, -50.0)])
        rfid.reads("reader-aisle-2", [(epc, 1, -48.5)])  # a bit stronger, within the 3 dB hysteresis
    assert rfid.processor.zone_of(epc) == "aisle-1"

    for _ in range(3):
        rfid.clock.advance(1)
        rfid.reads("reader-aisle-1", [(epc, 1, -68.0)])
        rfid.reads("reader-aisle-2", [(epc, 2, -45.0)])
    assert rfid.processor.zone_of(epc) == "aisle-2"
    [signal] = rfid.tick()
    assert counts_of(signal) == {("aisle-1", MILK): 0, ("aisle-2", MILK): 1}


def test_tag_departs_after_its_zone_timeout_while_readers_report(rfid: Harness) -> None:
    epc = sgtin96(MILK, 7)
    rfid.reads("reader-exit", [(epc, 1, -50.0)])
    rfid.tick()
    early = rfid.run(8, reporting=("reader-exit",))  # exit zone: 10 s departure timeout
    assert rfid.processor.counts() == {("exit", MILK): 1}
    assert early == []
    later = rfid.run(4, reporting=("reader-exit",))
    assert rfid.processor.counts() == {}
    assert [counts_of(s) for s in later] == [{("exit", MILK): 0}]


def test_tag_never_departs_while_its_reader_is_offline(rfid: Harness) -> None:
    epc = sgtin96(MILK, 8)
    rfid.reads("reader-exit", [(epc, 1, -50.0)])
    rfid.tick()
    rfid.status("reader-exit", DeviceState.OFFLINE)
    # Even if batches kept coming (a stale Last Will, a second connection), offline means no departures.
    assert rfid.run(60, reporting=("reader-exit",)) == []
    assert rfid.processor.counts() == {("exit", MILK): 1}

    rfid.status("reader-exit", DeviceState.ONLINE)
    assert rfid.run(9, reporting=("reader-exit",)) == []  # the departure clock restarts at the return
    assert rfid.processor.counts() == {("exit", MILK): 1}
    rfid.run(3, reporting=("reader-exit",))
    assert rfid.processor.counts() == {}


def test_tag_never_departs_while_its_reader_is_silent(rfid: Harness) -> None:
    epc = sgtin96(MILK, 9)
    rfid.reads("reader-exit", [(epc, 1, -50.0)])
    rfid.run(60, reporting=("reader-aisle-1",))  # another reader reports; the exit reader does not
    assert rfid.processor.counts() == {("exit", MILK): 1}


def test_garbage_foreign_and_weak_reads_are_counted_not_stocked(rfid: Harness) -> None:
    not_in_catalog = make_gtin14("0950600099999")
    rfid.reads(
        "reader-aisle-1",
        [
            ("DEADBEEF", 1, -50.0),  # no EPC header
            ("340000000000000000000000", 1, -50.0),  # a GIAI-96: a valid EPC, but not a product
            (sgtin96(not_in_catalog, 1), 1, -50.0),
            (sgtin96(MILK, 1), 1, -90.0),  # below the zone's min_rssi
            (sgtin96(MILK, 2), 9, -50.0),  # antenna port the store does not know
        ],
    )
    rfid.reads("reader-aisle-1", [("DEADBEEF", 1, -50.0)])
    assert rfid.tick() == []
    assert rfid.processor.counts() == {}
    counters = rfid.processor.counters
    assert counters["epc_invalid"] == 1  # decoded once, then cached
    assert counters["epc_not_product"] == 3
    assert counters["epc_other_scheme"] == 1
    assert counters["gtin_not_in_catalog"] == 1
    assert counters["below_min_rssi"] == 1
    assert counters["unknown_antenna"] == 1


def test_reads_from_an_unknown_reader_are_rejected(rfid: Harness) -> None:
    message = decoded(*read_batch(STORE, "reader-nope", [(sgtin96(MILK, 1), 1, -50.0)]))
    with pytest.raises(Rejection) as caught:
        rfid.processor.handle(message, rfid.clock.now)
    assert caught.value.reason == RejectReason.UNKNOWN_REFERENCE


def test_snapshot_covers_every_reader_zone(rfid: Harness, example_store: StoreConfig) -> None:
    rfid.reads("reader-aisle-3", [(sgtin96(OATS, n), 1, -50.0) for n in range(4)])
    rfid.tick()
    rfid.clock.advance(61)
    [snapshot] = rfid.tick()
    assert isinstance(snapshot, StockSignal)
    assert snapshot.snapshot
    assert set(snapshot.zones) == {zone for (_, _), zone in example_store.antenna_zones.items()}
    assert counts_of(snapshot) == {("aisle-3", OATS): 4}


def test_restart_restores_tags_without_announcing_them_again(
    example_store: StoreConfig, rfid_settings: RfidSettings, clock: FakeClock, tmp_path: Path
) -> None:
    state = tmp_path / "rfid-tags.json"
    tags = [(sgtin96(MILK, n), 1, -50.0) for n in range(5)]
    before = Harness(example_store, rfid_settings, clock, state)
    before.reads("reader-aisle-1", tags)
    assert counts_of(before.tick()[0]) == {("aisle-1", MILK): 5}
    before.processor.save()

    clock.advance(5)
    after = Harness(example_store, rfid_settings, clock, state)
    assert after.processor.counts() == {("aisle-1", MILK): 5}
    after.reads("reader-aisle-1", tags)
    assert after.tick() == []  # same tags, same zone: nothing changed, nothing re-announced
    clock.advance(3)
    after.reads("reader-aisle-1", [*tags, (sgtin96(MILK, 77), 1, -50.0)])
    assert [counts_of(s) for s in after.tick()] == [{("aisle-1", MILK): 6}]


def test_unreadable_state_file_starts_empty(
    example_store: StoreConfig, rfid_settings: RfidSettings, clock: FakeClock, tmp_path: Path
) -> None:
    state = tmp_path / "rfid-tags.json"
    state.write_text("{not json", encoding="utf-8")
    assert Harness(example_store, rfid_settings, clock, state).processor.counts() == {}
