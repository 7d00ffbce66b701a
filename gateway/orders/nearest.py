"""The locations worth asking for an order: a chain's stores as arrays, ranked by eligibility and distance.

Built once per set of store configs (they are immutable) and reused by every order, so ranking 1,000
stores costs one vectorised haversine and one sort (~0.1 ms), not a Python loop over every store.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from smartstore.gateway.lockers.states import FulfilmentType
from smartstore.gateway.orders.sourcing import EARTH_RADIUS_KM
from smartstore.kernel.storeconfig import LocationKind, StoreConfig

F = FulfilmentType


@dataclass(frozen=True, slots=True)
class ChainIndex:
    configs: tuple[StoreConfig, ...]
    position: dict[str, int]  # store id -> index
    lat: npt.NDArray[np.float64]  # radians; NaN where the location is unknown
    lon: npt.NDArray[np.float64]
    rank: npt.NDArray[np.int64]  # position by store id: the tie-break
    ships: npt.NDArray[np.bool_]
    is_store: npt.NDArray[np.bool_]  # not a distribution centre
    lockers: npt.NDArray[np.bool_]
    counter: npt.NDArray[np.bool_]
    radius: npt.NDArray[np.float64]  # delivery radius (km); NaN: does not deliver

    @classmethod
    def build(cls, stores: Mapping[str, StoreConfig]) -> ChainIndex:
        configs = tuple(stores.values())
        infos = [c.store for c in configs]
        by_id = sorted(range(len(configs)), key=lambda i: infos[i].id)
        rank = np.empty(len(configs), dtype=np.int64)
        rank[by_id] = np.arange(len(configs))
        return cls(
            configs,
            {info.id: i for i, info in enumerate(infos)},
            np.radians([i.location.lat if i.location else np.nan for i in infos]),
            np.radians([i.location.lon if i.location else np.nan for i in infos]),
            rank,
            np.array([c.ships for c in configs], dtype=bool),
            np.array([i.kind is not LocationKind.DISTRIBUTION_CENTRE for i in infos], dtype=bool),
            np.array([bool(c.devices.lockers) for c in configs], dtype=bool),
            np.array([i.fulfilment.counter_slot_capacity > 0 for i in infos], dtype=bool),
            np.array([i.fulfilment.delivery.radius_km if i.fulfilment.delivery else np.nan for i in infos]),
        )

    def ranked(
        self, fulfilment: FulfilmentType, origin: tuple[float, float] | None, has_destination: bool, keep: int
    ) -> list[int]:
        """Indexes of the `keep` best: eligible first, then by distance (unknown last), then by id."""
        if origin is None:
            distance = np.full(len(self.configs), np.nan)
        else:
            lat0, lon0 = math.radians(origin[0]), math.radians(origin[1])
            h = (
                np.sin((self.lat - lat0) / 2) ** 2
                + math.cos(lat0) * np.cos(self.lat) * np.sin((self.lon - lon0) / 2) ** 2
            )
            distance = 2 * EARTH_RADIUS_KM * np.arcsin(np.minimum(1.0, np.sqrt(h)))
        if fulfilment is F.SHIP:
            eligible = self.ships
        else:
            eligible = self.is_store.copy()
            if fulfilment is F.LOCKER_PICKUP:
                eligible &= self.lockers
            elif fulfilment is F.COUNTER_PICKUP:
                eligible &= self.counter
            elif fulfilment is F.DELIVERY:
                with np.errstate(invalid="ignore"):
                    eligible &= (distance <= self.radius) & has_destination  # NaN compares False
        unknown = np.isnan(distance)
        order = np.lexsort((self.rank, np.where(unknown, 0.0, distance), unknown, ~eligible))
        return [int(i) for i in order[:keep]]


_INDEXES: dict[tuple[int, ...], ChainIndex] = {}
_LOCK = threading.Lock()


def chain_index(stores: Mapping[str, StoreConfig]) -> ChainIndex:
    """The index of these store configs (the API passes a filtered dict per request: keyed by identity;
    the cached index keeps the configs alive, so the ids stay theirs)."""
    key = tuple(map(id, stores.values()))
    index = _INDEXES.get(key)
    if index is None:
        index = ChainIndex.build(stores)
        with _LOCK:
            if len(_INDEXES) >= 64:
                _INDEXES.clear()
            _INDEXES[key] = index
    return index
