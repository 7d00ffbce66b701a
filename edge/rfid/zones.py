"""The store file's RFID view, compiled once per (re)load: zones with their profiles, antennas, products."""

from __future__ import annotations

from dataclasses import dataclass

from smartstore.kernel.storeconfig import Area, Departure, StoreConfig


@dataclass(frozen=True, slots=True)
class ZoneRules:
    """One zone's settings in the shape the hot path wants: plain floats, no lookups."""

    id: str
    name: str
    area: Area
    min_rssi: float
    departure_timeout_s: float
    departure: Departure
    threshold_db: float
    slope_db_per_s: float
    holdoff_s: float
    min_reads: int
    low_stock: int

    @property
    def is_locker(self) -> bool:
        return self.area is Area.LOCKER

    def move_offset_db(self, silent_s: float | None) -> float:
        """dB this zone must read a tag above its current zone, silent on it for `silent_s`.

        None: the current zone is not covered, so its silence proves nothing and the full threshold holds.
        """
        if silent_s is None:
            return self.threshold_db
        return min(self.threshold_db, self.threshold_db + self.slope_db_per_s * (silent_s - self.holdoff_s))


@dataclass(frozen=True, slots=True)
class ZoneTable:
    """Everything the RFID pipeline reads from the store file; replaced as a whole on reload."""

    store_id: str
    zones: dict[str, ZoneRules]
    antennas: dict[str, dict[int, ZoneRules]]  # reader -> port -> zone
    zone_sources: dict[str, tuple[tuple[str, int], ...]]  # zone -> (reader, port) pairs that cover it
    product_names: dict[str, str]  # GTIN -> name, the catalog
    planned: dict[str, frozenset[str]]  # salesfloor zone -> RFID-tagged GTINs its planogram shelves hold

    @classmethod
    def from_store(cls, store: StoreConfig) -> ZoneTable:
        zones = {
            zone.id: ZoneRules(
                id=zone.id,
                name=zone.name or zone.id,
                area=zone.area,
                min_rssi=zone.min_rssi,
                departure_timeout_s=zone.departure_timeout_s,
                departure=zone.departure_kind,
                threshold_db=zone.mobility_profile.threshold_db,
                slope_db_per_s=zone.mobility_profile.slope_db_per_s,
                holdoff_s=zone.mobility_profile.holdoff_s,
                min_reads=zone.mobility_profile.min_reads,
                low_stock=zone.low_stock,
            )
            for zone in store.zones
        }
        antennas: dict[str, dict[int, ZoneRules]] = {}
        sources: dict[str, list[tuple[str, int]]] = {}
        for reader in store.devices.readers:
            ports = antennas.setdefault(reader.id, {})
            for antenna in reader.antennas:
                ports[antenna.port] = zones[antenna.zone]
                sources.setdefault(antenna.zone, []).append((reader.id, antenna.port))
        # Products without tags are counted by other means (POS, manual): RFID's "0 left" means nothing.
        tagged = {product.gtin for product in store.catalog if product.rfid_tagged}
        planned: dict[str, set[str]] = {}
        for shelf in store.planogram:
            if zones[shelf.zone].area is Area.SALESFLOOR:
                gtins = planned.setdefault(shelf.zone, set())
                gtins.update(slot.gtin for slot in shelf.slots if slot.gtin in tagged)
        return cls(
            store_id=store.store.id,
            zones=zones,
            antennas=antennas,
            zone_sources={zone: tuple(pairs) for zone, pairs in sources.items()},
            product_names={product.gtin: product.name for product in store.catalog},
            planned={zone: frozenset(gtins) for zone, gtins in planned.items()},
        )

    @property
    def covered_zones(self) -> list[str]:
        """Zones some reader antenna covers, sorted: what a stock snapshot speaks for."""
        return sorted(self.zone_sources)

    def readers_of(self, zone: str) -> list[str]:
        return sorted({reader for reader, _ in self.zone_sources.get(zone, ())})
