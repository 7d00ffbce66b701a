"""What people do in the simulated store, in sim time: shoppers pick, associates restock, trucks deliver."""

from __future__ import annotations

import itertools
import random

from smartstore.devices.sim.scheduler import EventQueue
from smartstore.devices.sim.settings import WorldSettings
from smartstore.devices.sim.world import Item, Location, Reason, World

DAY_S = 24 * 3600.0


class StoreActivity:
    """Schedules shoppers, associates and deliveries on the event queue; all randomness from one rng."""

    def __init__(self, world: World, queue: EventQueue, rng: random.Random, settings: WorldSettings):
        self.world = world
        self.queue = queue
        self.rng = rng
        self.settings = settings
        self._locations = list(world.locations.values())
        weights = [loc.popularity * loc.capacity for loc in self._locations]
        self._cumulative = list(itertools.accumulate(weights))
        self.picks = 0
        self.misplaced = 0
        self.deliveries = 0

    def start(self) -> None:
        self._schedule_pick()
        self._schedule_delivery()
        for location in self._locations:
            self.check_restock(location)

    # --- shoppers ---------------------------------------------------------------------------------

    def _schedule_pick(self) -> None:
        rate = self.settings.sales_per_hour / 3600.0
        if rate > 0 and self._locations:
            self.queue.after(self.rng.expovariate(rate), self._pick)

    def _pick(self) -> None:
        self._schedule_pick()
        location = self.rng.choices(self._locations, cum_weights=self._cumulative, k=1)[0]
        item = self.world.take_from_location(location)
        if item is None:
            self.world.lost_sales += 1
            return
        self.picks += 1
        others = [zone for zone in self.world.salesfloor_zones if zone != location.zone]
        if others and self.rng.random() < self.settings.misplace_probability:
            self.misplaced += 1
            self.world.move(item, self.rng.choice(others), None, Reason.MISPLACED)
            low, high = self.settings.tidy_delay_s
            self.queue.after(self.rng.uniform(low, high), lambda: self._tidy(item))
        else:
            self.world.to_exit(item, Reason.SOLD)
        self.check_restock(location)

    # --- associates -------------------------------------------------------------------------------

    def check_restock(self, location: Location) -> None:
        """Send an associate when the location is at or below the threshold and the backroom has units."""
        if location.restock is not None or location.units >= location.capacity:
            return
        if location.units > self.settings.restock_threshold * location.capacity:
            return
        if not self.world.backroom[location.gtin]:
            return  # stays low or empty until a delivery brings units
        low, high = self.settings.restock_delay_s
        location.restock = self.queue.after(self.rng.uniform(low, high), lambda: self._restock(location))

    def _restock(self, location: Location) -> None:
        location.restock = None
        while location.units < location.capacity:
            item = self.world.take_from_backroom(location.gtin)
            if item is None:
                break
            self.world.move(item, location.zone, location.id, Reason.RESTOCK)
            location.items.append(item.id)

    def _tidy(self, item: Item) -> None:
        """An associate finds a misplaced item and puts it back on its shelf, or in the backroom."""
        if item.id not in self.world.items or item.place is not None:
            return
        for home in self.world.locations_by_gtin.get(item.gtin, []):
            if home.units < home.capacity:
                self.world.move(item, home.zone, home.id, Reason.TIDY)
                home.items.append(item.id)
                return
        backroom = self.world.backroom_zone
        if backroom is not None and item.zone != backroom:
            self.world.move(item, backroom, None, Reason.TIDY)
            self.world.backroom[item.gtin].append(item.id)

    # --- deliveries -------------------------------------------------------------------------------

    def _schedule_delivery(self) -> None:
        per_day = self.settings.deliveries_per_day
        if per_day > 0 and self.world.backroom_zone is not None:
            mean = DAY_S / per_day
            self.queue.after(self.rng.uniform(0.5 * mean, 1.5 * mean), self._deliver)

    def _deliver(self) -> None:
        """A truck brings new units (new EPCs) of some short products; the rest stay short for now."""
        self._schedule_delivery()
        self.deliveries += 1
        for gtin, locations in self.world.locations_by_gtin.items():
            capacity = sum(loc.capacity for loc in locations)
            if len(self.world.backroom[gtin]) >= capacity:
                continue
            if self.rng.random() >= self.settings.delivery_coverage:
                continue
            for _ in range(round(capacity * self.rng.uniform(1.0, 2.0))):
                self.world.deliver(gtin)
        for location in self._locations:
            self.check_restock(location)
