"""Simulated RFID readers: what each antenna would report about the tags in the zones it covers."""

from __future__ import annotations

import zlib
from datetime import datetime, timedelta

import numpy as np

from smartstore.devices.sim.settings import ReaderSettings
from smartstore.devices.sim.world import World
from smartstore.kernel.contract.payloads import TagRead
from smartstore.kernel.storeconfig import Reader, StoreConfig

NEAR_RSSI = (-62.0, -45.0)
FAR_RSSI_DROP = (4.0, 12.0)
WEAKEST_RSSI = -70.0
TRANSIT_ROUNDS = 3
CROSS_ZONE_RSSI = (-80.0, -75.5)  # just below the default zone min_rssi of -75, so edges can drop it


def neighbour_zones(store: StoreConfig) -> dict[str, list[str]]:
    """Zones next to each other: the same area and adjacent in the store file (aisle-1 | aisle-2)."""
    neighbours: dict[str, list[str]] = {z.id: [] for z in store.zones}
    for before, after in zip(store.zones, store.zones[1:], strict=False):
        if before.area is after.area:
            neighbours[before.id].append(after.id)
            neighbours[after.id].append(before.id)
    return neighbours


class ReaderModel:
    """One reader's radio: ~90% of tags per report, RSSI by antenna distance, rare cross-zone reads."""

    def __init__(self, reader: Reader, store: StoreConfig, settings: ReaderSettings, seed: int) -> None:
        self.id = reader.id
        self.settings = settings
        # Read noise has its own stream so reporting cadence never changes the world's events.
        self.rng = np.random.default_rng([seed, zlib.crc32(reader.id.encode())])
        self.ports: dict[str, list[int]] = {}
        for antenna in reader.antennas:
            self.ports.setdefault(antenna.zone, []).append(antenna.port)
        neighbours = neighbour_zones(store)
        order = {z.id: index for index, z in enumerate(store.zones)}
        # A neighbour zone's tags reach the antenna of ours that faces it, weakly.
        self.cross: dict[str, int] = {}
        for zone, ports in self.ports.items():
            for other in neighbours[zone]:
                if other not in self.ports and other not in self.cross:
                    self.cross[other] = ports[-1] if order[other] > order[zone] else ports[0]

    @property
    def zones(self) -> list[str]:
        return list(self.ports)

    def read(
        self, world: World, now: datetime, interval_s: float, transit_window_s: float = 0.0
    ) -> list[TagRead]:
        """Tags in view now, plus tags that passed an exit gate in the last `transit_window_s` sim seconds."""
        reads: list[TagRead] = []
        for zone, ports in self.ports.items():
            reads += self._read_zone(world, zone, ports, now, interval_s)
            if zone in world.exit_transits:
                reads += self._read_transits(world, zone, ports, now, interval_s, transit_window_s)
        for zone, port in self.cross.items():
            reads += self._read_cross(world, zone, port, now, interval_s)
        return reads

    def _read_zone(
        self, world: World, zone: str, ports: list[int], now: datetime, interval_s: float
    ) -> list[TagRead]:
        ids = np.fromiter(world.zone_tags[zone], dtype=np.int64)
        if ids.size == 0:
            return []
        seen = self.rng.random(ids.size) < self.settings.read_probability
        ids = ids[seen]
        port_array = np.asarray(ports)
        nearest = port_array[ids % len(ports)]
        near_rssi = self.rng.uniform(*NEAR_RSSI, ids.size)
        reads = self._make(world, ids, nearest, near_rssi, now, interval_s)
        if len(ports) > 1:
            also = self.rng.random(ids.size) < self.settings.second_antenna_probability
            far = port_array[(ids[also] + 1) % len(ports)]
            drop = self.rng.uniform(*FAR_RSSI_DROP, int(also.sum()))
            far_rssi = np.maximum(near_rssi[also] - drop, WEAKEST_RSSI)
            reads += self._make(world, ids[also], far, far_rssi, now, interval_s)
        return reads

    def _read_transits(
        self,
        world: World,
        zone: str,
        ports: list[int],
        now: datetime,
        interval_s: float,
        window_s: float,
    ) -> list[TagRead]:
        transits = world.exit_transits[zone]
        horizon = world.queue.now - window_s
        passed = [epc for epc, left_at in transits.values() if left_at >= horizon]
        transits.clear()  # reported once, or too old to have been in this report's field
        if not passed:
            return []
        # A tag crossing a gate is caught in several inventory rounds, each with the usual miss rate.
        rounds = TRANSIT_ROUNDS
        seen = self.rng.random((len(passed), rounds)) < self.settings.read_probability
        levels = self.rng.uniform(*NEAR_RSSI, (len(passed), rounds))
        ages = np.sort(self.rng.uniform(0.0, interval_s, (len(passed), rounds)), axis=1)[:, ::-1]
        return [
            TagRead(
                epc=epc,
                antenna=ports[(index + round_) % len(ports)],
                rssi=round(float(levels[index, round_]), 1),
                ts=now - timedelta(seconds=float(ages[index, round_])),
            )
            for index, epc in enumerate(passed)
            for round_ in range(rounds)
            if seen[index, round_]
        ]

    def _read_cross(
        self, world: World, zone: str, port: int, now: datetime, interval_s: float
    ) -> list[TagRead]:
        ids = np.fromiter(world.zone_tags[zone], dtype=np.int64)
        if ids.size == 0:
            return []
        ids = ids[self.rng.random(ids.size) < self.settings.cross_zone_probability]
        rssi = self.rng.uniform(*CROSS_ZONE_RSSI, ids.size)
        return self._make(world, ids, np.full(ids.size, port), rssi, now, interval_s)

    def _make(
        self,
        world: World,
        ids: np.ndarray,
        antennas: np.ndarray,
        rssi: np.ndarray,
        now: datetime,
        interval_s: float,
    ) -> list[TagRead]:
        counts = 1 + self.rng.poisson(2.0, ids.size)
        ages = self.rng.uniform(0.0, interval_s, ids.size)
        items = world.items
        return [
            TagRead(
                epc=items[int(item)].epc or "",
                antenna=int(port),
                rssi=round(float(level), 1),
                ts=now - timedelta(seconds=float(age)),
                count=int(count),
            )
            for item, port, level, age, count in zip(
                ids.tolist(), antennas.tolist(), rssi.tolist(), ages.tolist(), counts.tolist(), strict=True
            )
        ]
