"""Pure unified-inventory domain: facts (zone counts, slot observations, movements) in, new figures out.

Definitions, in one place:

* ``on_hand = backroom + salesfloor + locker`` units. Zones are classified by their ``Area`` in the
  store file. Units in an ``exit`` zone are leaving the store and are not on hand. Units staged in a
  pickup locker are still on hand (nobody has taken them yet) but they are reserved for an order,
  so they count in ``reserved`` too and never in ``available_to_promise``.
* ``available_to_promise = max(0, on_hand - reserved - safety_stock)``.
* Shelf state of a GTIN, from its planogram slots, worst first. Slots never observed, occluded
  (``stale``) or reported ``unknown`` carry no information and are left out; over the rest:
  ``empty`` if every slot is empty, else ``low`` if any slot is low or empty, else ``ok``. With no
  informative slot left the state is ``unknown``. ``shelf_fill`` is the mean fill of the same slots.
* Per channel group (``gateway.inventory.allocation``): walk-in ATP is ``available_to_promise``; online
  ATP is that less the product's holdback, and 0 while every informative slot is empty and the
  backroom holds nothing (shelf-aware promising).
* ``sources`` records, per figure (``on_hand``, ``shelf_state``, ``reserved``), which source last set
  it (rfid, camera, pos, manual, pickup) and when.

No I/O here: the SQL adapter (``gateway.inventory_store``) and the ingest feed these functions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from smartstore.gateway.inventory.allocation import ChannelFigures, Holdback, channel_figures, holdback_for
from smartstore.kernel.contract.payloads import ShelfState
from smartstore.kernel.storeconfig import Area, StoreConfig

MovementType = Literal["sale", "receipt", "adjustment", "count"]
MOVEMENT_TYPES: tuple[MovementType, ...] = ("sale", "receipt", "adjustment", "count")
ON_HAND_AREAS = frozenset({Area.BACKROOM, Area.SALESFLOOR, Area.LOCKER})
SOURCE_PICKUP = "pickup"
SOURCE_CAMERA = "camera"


@dataclass(frozen=True, slots=True)
class StockFigures:
    """The stock columns of an inventory row, derived from its zone counts."""

    salesfloor: int
    backroom: int
    locker: int

    @property
    def on_hand(self) -> int:
        return self.salesfloor + self.backroom + self.locker


def stock_figures(zone_counts: Mapping[str, int], zone_areas: Mapping[str, Area]) -> StockFigures:
    """Sum per-zone units into the figures; zones the store file does not know are ignored."""
    salesfloor = backroom = locker = 0
    for zone, count in zone_counts.items():
        area = zone_areas.get(zone)
        if area is Area.SALESFLOOR:
            salesfloor += count
        elif area is Area.BACKROOM:
            backroom += count
        elif area is Area.LOCKER:
            locker += count
    return StockFigures(salesfloor, backroom, locker)


def available_to_promise(on_hand: int, reserved: int, safety_stock: int) -> int:
    return max(0, on_hand - reserved - safety_stock)


def zone_areas(store: StoreConfig) -> dict[str, Area]:
    return {zone.id: zone.area for zone in store.zones}


def default_zone(store: StoreConfig, movement: MovementType) -> str:
    """Where a movement without a zone lands: receipts in the backroom, the rest on the salesfloor."""
    preferred = Area.BACKROOM if movement == "receipt" else Area.SALESFLOOR
    zones = store.zones_in(preferred) or store.zones_in(Area.SALESFLOOR, Area.BACKROOM)
    if not zones:
        raise ValueError(f"store {store.store.id} has no {preferred.value} zone for a {movement}")
    return zones[0].id


def rfid_counted(store: StoreConfig, gtin: str, zone: str) -> bool:
    """Whether RFID snapshots own the count of `gtin` in `zone`: a tagged product in a zone a reader covers.

    RFID counts are absolute, so the next snapshot of such a zone replaces whatever a movement wrote
    there: units received count once their tags are read.
    """
    product = store.products.get(gtin)
    if product is None or not product.rfid_tagged:
        return False
    return zone in set(store.antenna_zones.values())


def count_after_movement(movement: MovementType, current: int, quantity: int) -> int:
    """A zone's new count; counts never go below 0 (a sale of more than we know of empties it)."""
    if movement == "sale":
        if quantity < 0:
            raise ValueError("a sale quantity must not be negative")
        return max(0, current - quantity)
    if movement == "receipt":
        if quantity < 0:
            raise ValueError("a receipt quantity must not be negative")
        return current + quantity
    if movement == "adjustment":
        return max(0, current + quantity)
    if movement == "count":
        if quantity < 0:
            raise ValueError("a count must not be negative")
        return quantity
    raise ValueError(f"unknown movement type {movement!r}; expected one of {', '.join(MOVEMENT_TYPES)}")


def reserved_after_pickup(reserved: int, quantity: int) -> int:
    return max(0, reserved - quantity)


def take_units(zone_counts: Mapping[str, int], zones: Iterable[str], quantity: int) -> dict[str, int]:
    """Take `quantity` units from `zones` in order; returns the new counts of the zones touched.

    Used for picked-up products RFID cannot see leave: the locker zone first, then the salesfloor.
    Whatever cannot be found anywhere is not taken (counts stay >= 0).
    """
    changed: dict[str, int] = {}
    remaining = quantity
    for zone in zones:
        if remaining <= 0:
            break
        current = zone_counts.get(zone, 0)
        taken = min(current, remaining)
        if taken:
            changed[zone] = current - taken
            remaining -= taken
    return changed


def snapshot_zeroes(
    listed: Iterable[tuple[str, str]], zones: Iterable[str], known: Iterable[tuple[str, str]]
) -> set[tuple[str, str]]:
    """(zone, gtin) pairs a stock snapshot of `zones` sets to 0: known there, but not listed."""
    covered = set(zones)
    listed_pairs = set(listed)
    return {pair for pair in known if pair[0] in covered and pair not in listed_pairs}


# --- shelf -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SlotReading:
    state: ShelfState
    fill: float
    stale: bool = False


@dataclass(frozen=True, slots=True)
class ShelfSummary:
    state: ShelfState
    fill: float | None


def shelf_summary(readings: Iterable[SlotReading | None]) -> ShelfSummary:
    """Worst-first shelf state of one GTIN over its slots (None = slot never observed)."""
    informative = [r for r in readings if r is not None and not r.stale and r.state is not ShelfState.UNKNOWN]
    if not informative:
        return ShelfSummary(ShelfState.UNKNOWN, None)
    fill = sum(r.fill for r in informative) / len(informative)
    states = {r.state for r in informative}
    if states == {ShelfState.EMPTY}:
        state = ShelfState.EMPTY
    elif states & {ShelfState.LOW, ShelfState.EMPTY}:
        state = ShelfState.LOW
    else:
        state = ShelfState.OK
    return ShelfSummary(state, round(fill, 4))


def slot_since(
    previous_state: str | None, previous_since: datetime | None, state: str, at: datetime
) -> datetime:
    """When a slot entered its current state: unchanged state keeps the old instant."""
    if previous_state == state and previous_since is not None:
        return previous_since
    return at


# --- sources -----------------------------------------------------------------------------------


def stamp(sources: Mapping[str, Any] | None, figure: str, source: str, at: datetime) -> dict[str, Any]:
    """A copy of `sources` recording that `source` set `figure` at `at` (a new dict: JSON columns
    only notice reassignment)."""
    updated = dict(sources or {})
    updated[figure] = {"source": source, "at": at.isoformat()}
    return updated


def derived_figures(
    zone_counts: Mapping[str, int], areas: Mapping[str, Area], *, reserved: int, safety_stock: int
) -> dict[str, int]:
    """The inventory columns that follow from zone counts, reservations and safety stock."""
    stock = stock_figures(zone_counts, areas)
    return {
        "salesfloor": stock.salesfloor,
        "backroom": stock.backroom,
        "on_hand": stock.on_hand,
        "available_to_promise": available_to_promise(stock.on_hand, reserved, safety_stock),
    }


# --- channels ----------------------------------------------------------------------------------


def product_holdback(store: StoreConfig, gtin: str) -> Holdback:
    """The online holdback of one product: its catalog values where set, else the store's."""
    return holdback_for(store.store, store.products.get(gtin))


def channel_atp(values: Mapping[str, Any], holdback: Holdback) -> ChannelFigures:
    """Walk-in and online ATP of one inventory row from its column values; call it once both the
    stock figures and the shelf state are final (an empty shelf changes the online figure)."""
    return channel_figures(
        available_to_promise=values["available_to_promise"],
        on_hand=values["on_hand"],
        backroom=values["backroom"],
        shelf_state=values["shelf_state"],
        holdback=holdback,
    )


def published_channels(values: Mapping[str, Any], holdback: Holdback | None) -> ChannelFigures:
    """The channel figures a row publishes: its stored online ATP, or, where the column is still NULL
    (a row not written since the column came), the figure computed from the row."""
    computed = channel_atp(values, holdback or Holdback())
    stored = values.get("online_available_to_promise")
    if stored is None:
        return computed
    # The rule does not depend on the holdback, so the computed one holds for the stored figure too.
    return ChannelFigures(computed.walk_in, stored, computed.rule)


def atp_event_data(
    store_id: str, gtin: str, figures: ChannelFigures, previous: tuple[int | None, int | None]
) -> dict[str, Any]:
    """The data of an `inventory.channel_atp_changed` event."""
    return {
        "store": store_id,
        "gtin": gtin,
        "available_to_promise": figures.walk_in,
        "online_available_to_promise": figures.online,
        "online_rule": figures.rule.value,
        "previous": {"available_to_promise": previous[0], "online_available_to_promise": previous[1]},
    }
