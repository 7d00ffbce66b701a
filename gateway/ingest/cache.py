"""What the ingest writer remembers between batches: store lookups and, while no other connection
has committed, the inventory rows, zone counts, slot states and sequence numbers it last wrote."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypedDict

from sqlalchemy.orm import Session

from smartstore.gateway.db.util import as_utc, is_sqlite
from smartstore.gateway.inventory import domain
from smartstore.gateway.inventory import store as inventory_store
from smartstore.kernel.storeconfig import Area, StoreConfig

Key = tuple[str, str]  # (store, gtin) or (store, slot)


@dataclass(slots=True)
class ZoneEntry:
    count: int
    source: str
    updated_at: datetime


@dataclass(slots=True)
class SlotEntry:
    gtin: str
    camera_id: str
    state: str
    fill: float
    confidence: float
    stale: bool
    since: datetime
    updated_at: datetime


class SlotView(TypedDict):
    """A camera-observed slot as the bus carries it (times as ISO text)."""

    store: str
    slot: str
    gtin: str
    camera: str
    state: str
    fill: float
    confidence: float
    stale: bool
    since: str
    updated_at: str


@dataclass(frozen=True, slots=True)
class StoreIndex:
    """What a batch needs to know about a store, computed once per consumer."""

    config: StoreConfig
    areas: dict[str, Area]
    slots_of_gtin: dict[str, tuple[str, ...]]
    pickup_zones: dict[str, tuple[str, ...]]  # locker -> zones to take untagged units from

    @classmethod
    def build(cls, config: StoreConfig) -> StoreIndex:
        slots: dict[str, list[str]] = {}
        for slot_id, (_shelf, slot) in config.slots.items():
            slots.setdefault(slot.gtin, []).append(slot_id)
        salesfloor = tuple(zone.id for zone in config.zones_in(Area.SALESFLOOR))
        pickup = {locker.id: (locker.zone, *salesfloor) for locker in config.devices.lockers}
        return cls(config, domain.zone_areas(config), {g: tuple(s) for g, s in slots.items()}, pickup)


@dataclass
class InventoryCache:
    """Database rows as of the writer's last commit, valid only while nobody else commits.

    Reading the touched rows back at every batch cost more than applying the batch. The writer
    owns these tables, but not alone: the API posts movements and reservations. So the cache is
    checked at the start of every batch, under the write lock, with SQLite's `PRAGMA data_version`
    (it changes exactly when another connection has committed) on the writer's own connection,
    and dropped on any change, on any failed batch and, on engines without such a counter, always.
    """

    rows: dict[Key, dict[str, Any]] = field(default_factory=dict)
    zones: dict[Key, dict[str, ZoneEntry]] = field(default_factory=dict)
    slots: dict[Key, SlotEntry] = field(default_factory=dict)
    sequences: dict[str, list[int]] = field(default_factory=dict)  # source -> [last_seq, gaps]
    loaded: dict[str, set[str]] = field(default_factory=dict)  # store -> GTINs with rows and zones read
    whole_stores: set[str] = field(default_factory=set)
    slots_loaded: dict[str, set[str]] = field(default_factory=dict)  # store -> GTINs with slots read
    token: tuple[int, int] | None = None

    def clear(self) -> None:
        self.rows.clear()
        self.zones.clear()
        self.slots.clear()
        self.sequences.clear()
        self.loaded.clear()
        self.whole_stores.clear()
        self.slots_loaded.clear()
        self.token = None

    def validate(self, session: Session) -> None:
        """Keep the cache only if no other connection committed since our last batch (call this
        after taking the write lock, so nobody can commit between the check and the reads)."""
        token = _change_token(session)
        if token is None or token != self.token:
            self.clear()
        self.token = token


def _change_token(session: Session) -> tuple[int, int] | None:
    if not is_sqlite(session):
        return None
    connection = session.connection()
    raw = connection.connection.dbapi_connection
    if not isinstance(raw, sqlite3.Connection):
        return None
    version = connection.exec_driver_sql("PRAGMA data_version").scalar_one()
    # The counter is per connection: a different connection means we know nothing.
    return (id(raw), int(version))


def new_row_values(store: StoreConfig, gtin: str) -> dict[str, Any]:
    """A row sync_stores has not created yet, as it would create it (online ATP included)."""
    return inventory_store.new_row_values(store, gtin, as_utc(datetime.min))


def slot_view(key: Key, slot: SlotEntry) -> SlotView:
    return {
        "store": key[0],
        "slot": key[1],
        "gtin": slot.gtin,
        "camera": slot.camera_id,
        "state": slot.state,
        "fill": slot.fill,
        "confidence": slot.confidence,
        "stale": slot.stale,
        "since": slot.since.isoformat(),
        "updated_at": slot.updated_at.isoformat(),
    }
