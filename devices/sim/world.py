"""The simulated store's state: every item, where it is, and the moves between places (no I/O)."""

from __future__ import annotations

import random
from collections import Counter, deque
from dataclasses import dataclass, field
from enum import StrEnum

from smartstore.devices.sim.epc import sgtin96
from smartstore.devices.sim.scheduler import EventQueue, Timer
from smartstore.devices.sim.settings import WorldSettings
from smartstore.kernel.storeconfig import Area, StoreConfig

COMPANY_PREFIX_LENGTH = 7


class MoveKind(StrEnum):
    ARRIVED = "arrived"
    MOVED = "moved"
    DEPARTED = "departed"


class Reason(StrEnum):
    DELIVERY = "delivery"
    SOLD = "sold"
    RESTOCK = "restock"
    MISPLACED = "misplaced"
    TIDY = "tidy"
    LOCKER_LOAD = "locker_load"
    PICKUP = "pickup"


@dataclass(frozen=True, slots=True)
class ItemMove:
    """One item changing place; the ground-truth event log is a list of these."""

    t: float
    kind: MoveKind
    item: int
    gtin: str
    epc: str | None
    src: str | None
    dst: str | None
    reason: Reason
    place: str | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "t": round(self.t, 3),
            "kind": self.kind.value,
            "item": self.item,
            "gtin": self.gtin,
            "epc": self.epc,
            "from": self.src,
            "to": self.dst,
            "reason": self.reason.value,
            "place": self.place,
        }


@dataclass(slots=True)
class Item:
    id: int
    gtin: str
    epc: str | None
    zone: str
    place: str | None = None  # slot/display id, "locker/compartment", or None when loose


@dataclass(slots=True)
class Location:
    """Where shoppers find a product: a planogram slot, or a loose display for unplanned products."""

    id: str
    zone: str
    gtin: str
    capacity: int
    facings: int
    planned: bool
    popularity: float
    items: list[int] = field(default_factory=list)
    restock: Timer | None = None

    @property
    def units(self) -> int:
        return len(self.items)


class World:
    """Items and their places; activities (shoppers, associates, lockers) call its move methods."""

    def __init__(self, store: StoreConfig, settings: WorldSettings, rng: random.Random, queue: EventQueue):
        self.store = store
        self.settings = settings
        self.rng = rng
        self.queue = queue
        self.items: dict[int, Item] = {}
        self.locations: dict[str, Location] = {}
        self.backroom: dict[str, deque[int]] = {p.gtin: deque() for p in store.catalog}
        self.zone_tags: dict[str, dict[int, None]] = {z.id: {} for z in store.zones}
        # Tags that left an exit zone: item id -> (epc, sim time it left). A gate reader reports what
        # passed since its last report, however briefly it was in the field.
        self.exit_transits: dict[str, dict[int, tuple[str, float]]] = {
            z.id: {} for z in store.zones_in(Area.EXIT)
        }
        self.tagged_counts: dict[str, Counter[str]] = {z.id: Counter() for z in store.zones}
        self.untagged_counts: dict[str, Counter[str]] = {z.id: Counter() for z in store.zones}
        self.moves: list[ItemMove] = []
        self.initial_items = 0
        self.delivered = 0
        self.sold = 0
        self.lost_sales = 0
        self._serials: Counter[str] = Counter()
        self._next_item = 1
        self.backroom_zone = _first_zone(store, Area.BACKROOM)
        self.exit_zone = _first_zone(store, Area.EXIT)
        self.salesfloor_zones = [z.id for z in store.zones_in(Area.SALESFLOOR)]
        self._build_locations()
        self._stock_initially()

    # --- set-up -------------------------------------------------------------------------------

    def _build_locations(self) -> None:
        tiers = (0.3, 0.6, 1.0, 1.0, 1.0, 1.5, 2.0, 3.0)  # a few fast movers, a long tail of slow ones
        for shelf in self.store.planogram:
            for slot in shelf.slots:
                self.locations[slot.id] = Location(
                    slot.id, shelf.zone, slot.gtin, slot.capacity, slot.facings, True, self.rng.choice(tiers)
                )
        planned = {loc.gtin for loc in self.locations.values()}
        low, high = self.settings.display_capacity
        for index, product in enumerate(p for p in self.store.catalog if p.gtin not in planned):
            if not self.salesfloor_zones:
                break
            zone = self.salesfloor_zones[index % len(self.salesfloor_zones)]
            capacity = self.rng.randint(low, high)
            self.locations[f"display-{product.gtin}"] = Location(
                f"display-{product.gtin}", zone, product.gtin, capacity, 1, False, self.rng.choice(tiers)
            )
        self.locations_by_gtin: dict[str, list[Location]] = {}
        for location in self.locations.values():
            self.locations_by_gtin.setdefault(location.gtin, []).append(location)

    def _stock_initially(self) -> None:
        fill_low, fill_high = self.settings.initial_fill
        back_low, back_high = self.settings.initial_backroom
        for location in self.locations.values():
            units = min(location.capacity, round(location.capacity * self.rng.uniform(fill_low, fill_high)))
            for _ in range(units):
                item = self._create(location.gtin, location.zone, location.id)
                location.items.append(item.id)
        if self.backroom_zone is not None:
            for gtin, locations in self.locations_by_gtin.items():
                capacity = sum(loc.capacity for loc in locations)
                for _ in range(round(capacity * self.rng.uniform(back_low, back_high))):
                    self.backroom[gtin].append(self._create(gtin, self.backroom_zone, None).id)
        self.initial_items = len(self.items)

    def _create(self, gtin: str, zone: str, place: str | None) -> Item:
        epc = None
        if self.store.products[gtin].rfid_tagged:
            self._serials[gtin] += 1
            epc = sgtin96(gtin, self._serials[gtin], COMPANY_PREFIX_LENGTH)
        item = Item(self._next_item, gtin, epc, zone, place)
        self._next_item += 1
        self.items[item.id] = item
        self._enter(item, zone)
        return item

    # --- moves: the only code that changes where an item is --------------------------------------

    def _enter(self, item: Item, zone: str) -> None:
        item.zone = zone
        if item.epc is None:
            self.untagged_counts[zone][item.gtin] += 1
        else:
            self.zone_tags[zone][item.id] = None
            self.tagged_counts[zone][item.gtin] += 1

    def _leave(self, item: Item) -> None:
        counts = self.untagged_counts if item.epc is None else self.tagged_counts
        counts[item.zone][item.gtin] -= 1
        if counts[item.zone][item.gtin] == 0:
            del counts[item.zone][item.gtin]
        self.zone_tags[item.zone].pop(item.id, None)
        transits = self.exit_transits.get(item.zone)
        if transits is not None and item.epc is not None:
            transits[item.id] = (item.epc, self.queue.now)

    def _log(self, kind: MoveKind, item: Item, src: str | None, reason: Reason) -> None:
        dst = None if kind is MoveKind.DEPARTED else item.zone
        self.moves.append(
            ItemMove(self.queue.now, kind, item.id, item.gtin, item.epc, src, dst, reason, item.place)
        )

    def move(self, item: Item, zone: str, place: str | None, reason: Reason) -> None:
        src = item.zone
        self._leave(item)
        item.place = place
        self._enter(item, zone)
        self._log(MoveKind.MOVED, item, src, reason)

    def deliver(self, gtin: str) -> Item | None:
        if self.backroom_zone is None:
            return None
        item = self._create(gtin, self.backroom_zone, None)
        self.backroom[gtin].append(item.id)
        self.delivered += 1
        self._log(MoveKind.ARRIVED, item, None, Reason.DELIVERY)
        return item

    def depart(self, item: Item, reason: Reason) -> None:
        src = item.zone
        self._leave(item)
        del self.items[item.id]
        self.sold += 1
        self._log(MoveKind.DEPARTED, item, src, reason)

    def take_from_location(self, location: Location) -> Item | None:
        if not location.items:
            return None
        return self.items[location.items.pop(self.rng.randrange(len(location.items)))]

    def take_from_backroom(self, gtin: str) -> Item | None:
        stock = self.backroom[gtin]
        return self.items[stock.popleft()] if stock else None

    def to_exit(self, item: Item, reason: Reason, rng: random.Random | None = None) -> None:
        """Carry an item out through the exit zone; it leaves the store a few seconds later.

        Callers driven from outside (locker commands) pass their own rng so the store's stays untouched.
        """
        if self.exit_zone is None:
            self.depart(item, reason)
            return
        self.move(item, self.exit_zone, None, reason)
        low, high = self.settings.exit_dwell_s
        self.queue.after((rng or self.rng).uniform(low, high), lambda: self.depart(item, reason))

    # --- views ------------------------------------------------------------------------------------

    @property
    def on_hand(self) -> int:
        return len(self.items)

    def slot_units(self, slot_id: str) -> int:
        return self.locations[slot_id].units

    def drain_moves(self) -> list[ItemMove]:
        moves, self.moves = self.moves, []
        return moves

    def inventory(self) -> list[dict[str, object]]:
        """Every item on hand with its tag and place: the starting point of move-by-move scoring."""
        return [
            {"item": i.id, "gtin": i.gtin, "epc": i.epc, "zone": i.zone, "place": i.place}
            for i in self.items.values()
        ]


def _first_zone(store: StoreConfig, area: Area) -> str | None:
    zones = store.zones_in(area)
    return zones[0].id if zones else None
