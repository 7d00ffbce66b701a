"""Builders for the RFID tests: a small store, wire batches, and a dataset driver for the pure inventory."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from edge_helpers import sgtin96
from epcpy.epc_schemes.sgtin import SGTIN, SGTINFilterValue

from smartstore.edge.rfid.epc import EpcCache
from smartstore.edge.rfid.inventory import TagInventory
from smartstore.edge.rfid.normalize import ReadNormalizer
from smartstore.edge.rfid.settings import RfidSettings
from smartstore.edge.rfid.tags import Cell, TagEvent
from smartstore.edge.rfid.zones import ZoneTable
from smartstore.kernel.contract import topics
from smartstore.kernel.contract.payloads import new_event_id
from smartstore.kernel.storeconfig import StoreConfig, parse_store

STORE = "store-rfid-test"
MILK = "09506000100005"
OATS = "09506000100012"
BREAD = "09506000100050"
NOT_IN_CATALOG = "09506000999999"
START = 1_750_000_000.0

Read = tuple[str, int, float]  # (EPC, antenna, RSSI)


def store_data() -> dict[str, Any]:
    """Backroom, two aisles (aisle-1 with two antennas), an exit, a POS lane and a locker bay."""
    square = [[0, 0], [10, 0], [10, 10], [0, 10]]
    return {
        "store": {"id": STORE, "name": "RFID test store"},
        "catalog": [
            {"gtin": MILK, "name": "Milk", "sku": "M"},
            {"gtin": OATS, "name": "Oats", "sku": "O"},
            {"gtin": BREAD, "name": "Bread", "sku": "B"},
        ],
        "zones": [
            {"id": "backroom", "area": "backroom", "departure_timeout_s": 300, "low_stock": 1},
            {"id": "aisle-1", "area": "salesfloor", "name": "Aisle 1", "low_stock": 2},
            {"id": "aisle-2", "area": "salesfloor"},
            {"id": "exit", "area": "exit", "departure_timeout_s": 10},
            {"id": "pos", "area": "exit", "departure": "point_of_sale", "departure_timeout_s": 10},
            {"id": "lockers", "area": "locker"},
        ],
        "devices": {
            "readers": [
                {"id": "reader-back", "antennas": [{"port": 1, "zone": "backroom"}]},
                {
                    "id": "reader-a1",
                    "antennas": [{"port": 1, "zone": "aisle-1"}, {"port": 2, "zone": "aisle-1"}],
                },
                {"id": "reader-a2", "antennas": [{"port": 1, "zone": "aisle-2"}]},
                {"id": "reader-exit", "antennas": [{"port": 1, "zone": "exit"}]},
                {"id": "reader-pos", "antennas": [{"port": 1, "zone": "pos"}]},
                {"id": "reader-lockers", "antennas": [{"port": 1, "zone": "lockers"}]},
            ]
        },
        "planogram": [
            {
                "id": "shelf-1",
                "zone": "aisle-1",
                "slots": [
                    {"id": "s1", "gtin": MILK, "facings": 1, "capacity": 6, "polygon": square},
                    {"id": "s2", "gtin": OATS, "facings": 1, "capacity": 6, "polygon": square},
                ],
            }
        ],
    }


def small_store(data: dict[str, Any] | None = None) -> StoreConfig:
    return parse_store(data or store_data())


def epc(gtin: str, serial: int) -> str:
    return str(sgtin96(gtin, serial))


def sgtin198(gtin: str, serial: str) -> str:
    """An SGTIN-198 (alphanumeric serial) as the hex a reader reports."""
    identity = SGTIN.from_gtin_plus_serial(gtin, serial, 7)
    return str(
        identity.hex(
            binary_coding_scheme=SGTIN.BinaryCodingScheme.SGTIN_198, filter_value=SGTINFilterValue.POS_ITEM
        )
    )


def iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def raw_reads(reads: Iterable[Read], reader_time: float) -> list[dict[str, Any]]:
    return [{"epc": e, "antenna": a, "rssi": r, "ts": iso(reader_time), "count": 1} for e, a, r in reads]


def wire_batch(
    reader: str,
    reads: Iterable[Read],
    reader_time: float,
    *,
    rssi_unit: str | None = None,
    batch_id: str | None = None,
    store: str = STORE,
) -> tuple[str, bytes]:
    """(topic, payload) of a ReadBatch as a reader's bridge would send it."""
    payload: dict[str, Any] = {"v": 1, "id": batch_id or new_event_id(), "ts": iso(reader_time), "seq": 1}
    if rssi_unit is not None:
        payload["rssi_unit"] = rssi_unit
    payload["reads"] = raw_reads(reads, reader_time)
    return topics.rfid_reads(store, reader), json.dumps(payload).encode()


class Dataset:
    """Drives a `TagInventory` like the processor does, one simulated second at a time.

    Every reader of the store reports every second (an empty batch when it has nothing), unless it is
    listed as silent, so coverage behaves as in a store whose readers work.
    """

    def __init__(self, store: StoreConfig | None = None, settings: RfidSettings | None = None) -> None:
        self.store = store or small_store()
        self.settings = settings or RfidSettings()
        self.table = ZoneTable.from_store(self.store)
        self.counters: Counter[str] = Counter()
        self.normalizer = ReadNormalizer(
            self.table, EpcCache(10_000), self.counters, clock_window=15, clock_jump_s=30.0
        )
        self.inventory = TagInventory(self.table, self.settings)
        self.now = START
        self.events: list[TagEvent] = []
        self.changes: dict[Cell, int] = {}
        self.clock_skew: dict[str, float] = {}  # reader -> seconds its clock is ahead of ours

    def batch(
        self, reader: str, reads: Iterable[Read], *, raw: Sequence[dict[str, Any]] | None = None
    ) -> None:
        reader_time = self.now + self.clock_skew.get(reader, 0.0)
        items = list(raw) if raw is not None else raw_reads(reads, reader_time)
        normalized = self.normalizer.normalize(reader, items, None, self.now)
        events, changes = self.inventory.process(normalized, self.now)
        self.events.extend(events)
        self.changes.update(changes)

    def tick(self) -> None:
        events, changes = self.inventory.tick(self.now)
        self.events.extend(events)
        self.changes.update(changes)

    def run(
        self,
        seconds: int,
        reads: Mapping[str, Sequence[Read]] | None = None,
        *,
        silent: Iterable[str] = (),
    ) -> list[TagEvent]:
        """`seconds` seconds of reporting; returns the events they produced."""
        before = len(self.events)
        quiet = set(silent)
        for _ in range(seconds):
            self.now += 1.0
            for reader in self.table.antennas:
                if reader not in quiet:
                    self.batch(reader, (reads or {}).get(reader, ()))
            self.tick()
        return self.events[before:]

    def status(
        self, reader: str, *, online: bool = True, inventorying: bool = True, down: Iterable[int] = ()
    ) -> None:
        self.inventory.reader_status(
            reader, online=online, inventorying=inventorying, antennas_down=frozenset(down), now=self.now
        )

    def zone_of(self, tag_epc: str) -> str | None:
        tag = self.inventory.tag(tag_epc)
        return tag.zone if tag is not None and tag.present else None

    def kinds(
        self, events: Iterable[TagEvent] | None = None
    ) -> list[tuple[str, str, str | None, str | None]]:
        """(kind, zone, from_zone, reason) of each event, the shape the tables compare."""
        chosen = self.events if events is None else events
        return [(e.kind.value, e.zone, e.from_zone, e.reason.value if e.reason else None) for e in chosen]
