"""Ground truth of the simulated store as JSONL: what was really where, so accuracy can be scored."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path
from typing import IO

from smartstore.devices.sim.world import World
from smartstore.kernel.contract.payloads import ShelfState
from smartstore.kernel.storeconfig import StoreConfig

logger = logging.getLogger(__name__)


def shelf_state(fill: float, store: StoreConfig) -> ShelfState:
    if fill < store.store.shelf_empty_fill:
        return ShelfState.EMPTY
    if fill < store.store.shelf_low_fill:
        return ShelfState.LOW
    return ShelfState.OK


def slot_truth(world: World, store: StoreConfig) -> dict[str, dict[str, object]]:
    """Per planogram slot: units, fill = units/capacity, and the share of facings a camera can see."""
    slots: dict[str, dict[str, object]] = {}
    for slot_id, (_, slot) in store.slots.items():
        units = world.slot_units(slot_id)
        fill = units / slot.capacity
        visible = -(-slot.facings * units // slot.capacity)  # ceil without floats
        slots[slot_id] = {
            "gtin": slot.gtin,
            "units": units,
            "capacity": slot.capacity,
            "fill": round(fill, 4),
            "state": shelf_state(fill, store).value,
            "visible_fill": round(min(visible, slot.facings) / slot.facings, 4),
        }
    return slots


def snapshot(
    world: World,
    store: StoreConfig,
    *,
    kind: str,
    sim_time: datetime,
    wall_time: datetime,
    devices: dict[str, bool],
) -> dict[str, object]:
    """One truth line without the event log; the writer adds the moves since the previous line."""
    return {
        "type": kind,
        "store": store.store.id,
        "sim_s": round(world.queue.now, 3),
        "sim_time": sim_time.isoformat(),
        "wall_time": wall_time.isoformat(),
        "zones": {zone: dict(sorted(counts.items())) for zone, counts in world.tagged_counts.items()},
        "untagged": {zone: dict(sorted(counts.items())) for zone, counts in world.untagged_counts.items()},
        "slots": slot_truth(world, store),
        "devices": devices,
        "totals": {
            "initial": world.initial_items,
            "delivered": world.delivered,
            "sold": world.sold,
            "on_hand": world.on_hand,
            "lost_sales": world.lost_sales,
        },
    }


class TruthWriter:
    """Appends one JSON object per line and flushes it, so a killed simulator leaves a readable file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] | None = path.open("w", encoding="utf-8")
        self.lines = 0

    def write(self, record: dict[str, object]) -> None:
        if self._file is None:
            return
        self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._file.flush()
        self.lines += 1

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
            logger.info("truth: %d lines in %s", self.lines, self.path)
