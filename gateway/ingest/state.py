"""Inventory rows, zone counts and slot states touched by one ingest batch: read what the cache
lacks, change them in memory in arrival order, write the changes back with one statement per table."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Session

from smartstore.gateway.db.bulk import read_rows, write_rows
from smartstore.gateway.db.domain_events import CHANNEL_ATP_CHANGED, event_row
from smartstore.gateway.db.models import Inventory, SlotState, ZoneCount
from smartstore.gateway.db.orders import DomainEvent
from smartstore.gateway.db.util import as_utc
from smartstore.gateway.ingest.cache import (
    InventoryCache,
    Key,
    SlotEntry,
    StoreIndex,
    ZoneEntry,
    new_row_values,
    slot_view,
)
from smartstore.gateway.inventory import domain
from smartstore.gateway.inventory.allocation import ChannelFigures
from smartstore.gateway.inventory.store import view_from_values
from smartstore.gateway.restock.domain import SlotChange
from smartstore.kernel.contract import payloads as p

Event = tuple[str, str | None, Mapping[str, Any]]  # bus (type, store, data)

_INVENTORY: Table = Inventory.__table__  # type: ignore[assignment]
_ZONES: Table = ZoneCount.__table__  # type: ignore[assignment]
_SLOTS: Table = SlotState.__table__  # type: ignore[assignment]
_EVENTS: Table = DomainEvent.__table__  # type: ignore[assignment]
_FIGURES = (
    "salesfloor",
    "backroom",
    "on_hand",
    "reserved",
    "available_to_promise",
    "online_available_to_promise",
    "shelf_state",
    "shelf_fill",
)
_ATP = (_FIGURES.index("available_to_promise"), _FIGURES.index("online_available_to_promise"))
_WRITTEN = (*_FIGURES, "safety_stock", "sources", "updated_at")
_ROW_COLUMNS = ("store_id", "gtin", *_WRITTEN)


class InventoryBatch:
    """The inventory state one batch reads and writes; the caller owns the transaction."""

    def __init__(self, session: Session, stores: Mapping[str, StoreIndex], cache: InventoryCache) -> None:
        self._session = session
        self._stores = stores
        self._cache = cache
        self._rows = cache.rows
        self._zones = cache.zones
        self._slots = cache.slots
        self._before: dict[Key, tuple[Any, ...]] = {}  # figures of each touched row as it was
        self._new_atp: dict[Key, tuple[int, int]] = {}  # ATP figures of rows this batch created
        self._channels: dict[Key, ChannelFigures] = {}  # as _recompute left each touched row
        self._dirty_zones: set[tuple[str, str, str]] = set()
        self._dirty_slots: dict[Key, bool] = {}  # -> whether a dashboard would see a difference
        self._stamps: dict[Key, dict[str, tuple[str, datetime]]] = {}
        self._stock_rows: set[Key] = set()
        self._shelf_rows: set[Key] = set()
        # Slots whose observed state changed, in order: restock tasks follow them (gateway.restock).
        self.slot_changes: list[SlotChange] = []
        self._atp_events: list[dict[str, Any]] = []  # domain_events rows, one per row whose ATP moved

    # --- loading -------------------------------------------------------------------------------

    def load(self, payloads: Iterable[tuple[str, p.WireModel]]) -> None:
        """Read everything the batch's (store, payload) pairs can touch, with one query per table."""
        gtins: dict[str, set[str] | None] = {}  # None: the whole store (stock snapshots)
        slot_gtins: dict[str, set[str]] = {}
        for store_id, payload in payloads:
            wanted = gtins.setdefault(store_id, set())
            if isinstance(payload, p.StockSignal):
                if payload.snapshot:
                    gtins[store_id] = None
                elif wanted is not None:
                    wanted.update(item.gtin for item in payload.counts)
            elif isinstance(payload, p.PickupSignal):
                if wanted is not None:
                    wanted.update(line.gtin for line in payload.lines)
            elif isinstance(payload, p.ShelfSignal):
                observed = {observation.gtin for observation in payload.slots}
                slot_gtins.setdefault(store_id, set()).update(observed)
                if wanted is not None:
                    wanted.update(observed)
        for store_id, wanted in gtins.items():
            self._load_rows(store_id, wanted)
        for store_id, observed in slot_gtins.items():
            self._load_slots(store_id, observed)

    def _load_rows(self, store_id: str, gtins: set[str] | None) -> None:
        cache = self._cache
        if store_id in cache.whole_stores:
            return
        loaded = cache.loaded.setdefault(store_id, set())
        if gtins is None:
            within = None
        else:
            missing = gtins - loaded
            if not missing:
                return
            within = ("gtin", sorted(missing))
        # The inventory row locks its zone counts and slots too (see inventory_store).
        rows = read_rows(
            self._session, _INVENTORY, equals={"store_id": store_id}, within=within, for_update=True
        )
        for row in rows:
            self._rows[(store_id, row["gtin"])] = row
        if within is not None:
            for gtin in within[1]:
                self._zones.pop((store_id, gtin), None)
        else:
            for key in [key for key in self._zones if key[0] == store_id]:
                del self._zones[key]
        for row in read_rows(self._session, _ZONES, equals={"store_id": store_id}, within=within):
            zone = ZoneEntry(row["count"], row["source"], as_utc(row["updated_at"]))
            self._zones.setdefault((store_id, row["gtin"]), {})[row["zone_id"]] = zone
        if within is None:
            cache.whole_stores.add(store_id)
        else:
            loaded.update(within[1])

    def _load_slots(self, store_id: str, gtins: set[str]) -> None:
        loaded = self._cache.slots_loaded.setdefault(store_id, set())
        missing = sorted(gtins - loaded)
        loaded.update(missing)
        for row in read_rows(self._session, _SLOTS, equals={"store_id": store_id}, within=("gtin", missing)):
            self._slots[(store_id, row["slot_id"])] = SlotEntry(
                row["gtin"],
                row["camera_id"],
                row["state"],
                row["fill"],
                row["confidence"],
                row["stale"],
                as_utc(row["since"]),
                as_utc(row["updated_at"]),
            )

    # --- applying ------------------------------------------------------------------------------

    def _row(self, key: Key) -> dict[str, Any]:
        """The row of a store x GTIN, noting its figures before this batch changes any."""
        row = self._rows.get(key)
        if row is None:
            # Not synced yet (sync_stores runs at start); create it like sync would.
            store = self._stores[key[0]].config
            row = self._rows[key] = new_row_values(store, key[1])
            self._before[key] = ()
            self._new_atp[key] = (row["available_to_promise"], row["online_available_to_promise"])
        elif key not in self._before:
            self._before[key] = tuple(row[f] for f in _FIGURES)
        return row

    def _stamp(self, key: Key, figure: str, source: str, at: datetime) -> None:
        self._stamps.setdefault(key, {})[figure] = (source, at)

    def _set_zone(self, store_id: str, gtin: str, zone: str, count: int, source: str, at: datetime) -> None:
        key = (store_id, gtin)
        zones = self._zones.setdefault(key, {})
        entry = zones.get(zone)
        if entry is None:
            zones[zone] = ZoneEntry(count, source, at)
        else:
            entry.count, entry.source, entry.updated_at = count, source, at
        self._dirty_zones.add((store_id, gtin, zone))
        self._stock_rows.add(key)
        self._stamp(key, "on_hand", source, at)

    def apply_stock(self, store_id: str, signal: p.StockSignal) -> None:
        """Absolute counts; a count older than the one we hold for the pair is out of date."""
        source, at = signal.source.value, signal.ts
        for item in signal.counts:
            held = self._zones.get((store_id, item.gtin), {}).get(item.zone)
            if held is None or held.updated_at <= at:
                self._set_zone(store_id, item.gtin, item.zone, item.count, source, at)
        if signal.snapshot:
            zones = signal.zones or [item.zone for item in signal.counts]
            products = self._stores[store_id].config.products
            # An RFID snapshot says nothing about products without tags: their counts come from people.
            rfid = signal.source is p.StockSource.RFID
            known = [
                (zone, gtin)
                for (sid, gtin), counts in self._zones.items()
                if sid == store_id and not (rfid and gtin in products and not products[gtin].rfid_tagged)
                for zone, entry in counts.items()
                if entry.count
            ]
            listed = [(item.zone, item.gtin) for item in signal.counts]
            for zone, gtin in domain.snapshot_zeroes(listed, zones, known):
                if self._zones[(store_id, gtin)][zone].updated_at <= at:
                    self._set_zone(store_id, gtin, zone, 0, source, at)

    def apply_pickup(
        self, store_id: str, signal: p.PickupSignal, *, release: bool = True, take: bool = True
    ) -> None:
        """The order left the locker: release its reservation; units RFID cannot see leave too.

        `release=False`: the order's reservation was released before (it had expired or been
        cancelled); `take=False` as well: nothing to do (see ingest_orders).
        """
        index = self._stores[store_id]
        for line in signal.lines:
            key = (store_id, line.gtin)
            if release:
                row = self._row(key)
                row["reserved"] = domain.reserved_after_pickup(row["reserved"], line.quantity)
                self._stamp(key, "reserved", domain.SOURCE_PICKUP, signal.ts)
                self._stock_rows.add(key)
            if not take:
                continue
            if index.config.products[line.gtin].rfid_tagged:
                continue  # RFID sees the tagged units leave through the exit and counts them out
            zones = self._zones.get(key, {})
            counts = {zone: entry.count for zone, entry in zones.items()}
            taken = domain.take_units(counts, index.pickup_zones[signal.locker], line.quantity)
            for zone, count in taken.items():
                self._set_zone(store_id, line.gtin, zone, count, domain.SOURCE_PICKUP, signal.ts)

    def apply_shelf(self, store_id: str, signal: p.ShelfSignal) -> None:
        at = signal.ts
        for observation in signal.slots:
            key = (store_id, observation.slot)
            held = self._slots.get(key)
            if held is not None and held.updated_at > at:
                continue
            state = observation.state.value
            before = None if held is None else held.state
            if before != state and not observation.stale:
                self.slot_changes.append(
                    SlotChange(store_id, observation.slot, observation.gtin, signal.camera, before, state, at)
                )
            if held is None:
                self._slots[key] = SlotEntry(
                    observation.gtin,
                    signal.camera,
                    state,
                    observation.fill,
                    observation.confidence,
                    observation.stale,
                    at,
                    at,
                )
                visible = True
            else:
                visible = (held.state, held.fill, held.stale) != (state, observation.fill, observation.stale)
                held.since = domain.slot_since(held.state, held.since, state, at)
                held.state, held.fill, held.stale = state, observation.fill, observation.stale
                held.confidence, held.camera_id, held.gtin, held.updated_at = (
                    observation.confidence,
                    signal.camera,
                    observation.gtin,
                    at,
                )
            self._dirty_slots[key] = self._dirty_slots.get(key, False) or visible
            row_key = (store_id, observation.gtin)
            self._shelf_rows.add(row_key)
            self._stamp(row_key, "shelf_state", domain.SOURCE_CAMERA, at)

    # --- writing -------------------------------------------------------------------------------

    def flush(self, views: bool = True) -> list[Event]:
        """Recompute touched rows, write every change, and return the bus events to publish
        (none for rows and slots when `views` is false: nobody is listening)."""
        events: list[Event] = []
        changed = self._recompute()
        self._write_zones()
        self._write_rows(changed)
        self._write_slots()
        # The channel-ATP events commit with the figures they report (same transaction).
        write_rows(self._session, _EVENTS, self._atp_events)
        self._atp_events = []
        if not views:
            return events
        for key in changed:
            row = self._rows[key]
            product = self._stores[key[0]].config.products.get(key[1])
            name, sku = (product.name, product.sku) if product else (None, None)
            view = view_from_values(row, name, sku, channels=self._channels[key])
            events.append(("inventory", key[0], view))
        for key, visible in self._dirty_slots.items():
            if visible:
                events.append(("slot", key[0], slot_view(key, self._slots[key])))
        return events

    def _recompute(self) -> list[Key]:
        changed: list[Key] = []
        for key in self._stock_rows | self._shelf_rows:
            row = self._row(key)
            index = self._stores[key[0]]
            if key in self._stock_rows:
                counts = {zone: entry.count for zone, entry in self._zones.get(key, {}).items()}
                row.update(
                    domain.derived_figures(
                        counts, index.areas, reserved=row["reserved"], safety_stock=row["safety_stock"]
                    )
                )
            if key in self._shelf_rows:
                readings = [self._reading((key[0], slot)) for slot in index.slots_of_gtin.get(key[1], ())]
                summary = domain.shelf_summary(readings)
                row["shelf_state"], row["shelf_fill"] = summary.state.value, summary.fill
            # After both parts: an empty shelf with nothing in the backroom zeroes online ATP.
            channels = domain.channel_atp(row, domain.product_holdback(index.config, key[1]))
            row["online_available_to_promise"] = channels.online
            self._channels[key] = channels
            before = self._before[key]
            figures_changed = tuple(row[f] for f in _FIGURES) != before
            sources = row["sources"] or {}
            stamps = self._stamps.get(key, {})
            new_source = any(sources.get(f, {}).get("source") != s for f, (s, _) in stamps.items())
            if figures_changed or new_source:
                # `at` records when a source last changed a figure; a re-count that confirms the
                # figure is not news, and rewriting 240 rows per RFID cycle would be noise.
                sources = dict(sources)
                for figure, (source, at) in stamps.items():
                    sources[figure] = {"source": source, "at": at.isoformat()}
                row["sources"] = sources
                latest = max(at for _, at in stamps.values()) if stamps else as_utc(row["updated_at"])
                row["updated_at"] = max(latest, as_utc(row["updated_at"]))
                changed.append(key)
            previous = (before[_ATP[0]], before[_ATP[1]]) if before else self._new_atp[key]
            if (channels.walk_in, channels.online) != previous:
                data = domain.atp_event_data(key[0], key[1], channels, previous)
                at = row["updated_at"]
                self._atp_events.append(
                    event_row(CHANNEL_ATP_CHANGED, store=key[0], subject=key[1], data=data, at=at)
                )
        return changed

    def backroom_units(self, store_id: str, gtin: str) -> int:
        """Units of a GTIN counted in backroom zones, as this batch leaves them."""
        row = self._rows.get((store_id, gtin))
        return int(row["backroom"]) if row is not None else 0

    def _reading(self, key: Key) -> domain.SlotReading | None:
        slot = self._slots.get(key)
        if slot is None:
            return None
        return domain.SlotReading(p.ShelfState(slot.state), slot.fill, slot.stale)

    def _write_zones(self) -> None:
        rows = []
        for store_id, gtin, zone in self._dirty_zones:
            entry = self._zones[(store_id, gtin)][zone]
            rows.append(
                {
                    "store_id": store_id,
                    "zone_id": zone,
                    "gtin": gtin,
                    "count": entry.count,
                    "source": entry.source,
                    "updated_at": entry.updated_at,
                }
            )
        keys = ("store_id", "zone_id", "gtin")
        write_rows(self._session, _ZONES, rows, keys=keys, update=("count", "source", "updated_at"))

    def _write_rows(self, changed: list[Key]) -> None:
        # An upsert covers rows sync_stores has not created yet as well.
        rows = [{column: self._rows[key][column] for column in _ROW_COLUMNS} for key in changed]
        write_rows(self._session, _INVENTORY, rows, keys=("store_id", "gtin"), update=_WRITTEN)

    def _write_slots(self) -> None:
        rows = [
            {
                "store_id": store_id,
                "slot_id": slot_id,
                "gtin": slot.gtin,
                "camera_id": slot.camera_id,
                "state": slot.state,
                "fill": slot.fill,
                "confidence": slot.confidence,
                "stale": slot.stale,
                "since": slot.since,
                "updated_at": slot.updated_at,
            }
            for (store_id, slot_id), slot in ((key, self._slots[key]) for key in self._dirty_slots)
        ]
        columns = ("gtin", "camera_id", "state", "fill", "confidence", "stale", "since", "updated_at")
        write_rows(self._session, _SLOTS, rows, keys=("store_id", "slot_id"), update=columns)
