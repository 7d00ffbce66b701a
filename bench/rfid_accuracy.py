"""RFID edge accuracy: a simulated trading day through the RFID processor, scored against ground truth.

    python bench/rfid_accuracy.py [--hours 12] [--shelf-interval 5] [--fast-interval 1] [--seed 7]

The simulator's world (`devices.sim`: shoppers, restocks, deliveries, misplaced items, locker loads and
pickups) runs in sim time with no broker: `Simulator.step` is driven here, and each reader's report is
made from the world with the simulator's read model (`ReaderModel`: ~90 % read rate, a second antenna,
weak cross-zone reads) and sent to `RfidProcessor.handle_raw` as JSON wire bytes. Shelf and backroom
readers report every `--shelf-interval` s, exit and locker readers every `--fast-interval` s. Noise on
top: reader outages (no reports, an offline status as the Last Will would give, then online again), a
reader whose clock is two years behind, one ahead by 90 s, one reporting dBm x 10 with `rssi_unit`, one
dBm x 100 without it. Every truth interval the processor's per-(zone, GTIN) counts are compared with the
world's. The last line printed is one JSON object with the figures.

Metrics: cell accuracy = share of (zone, GTIN) cells (non-zero in truth or estimate) exactly right, over
all truth points; count accuracy = 1 - sum |error| / sum truth. Events are matched to the truth move
log by EPC within `--tolerance` s: moved (same destination zone), departed, arrived (deliveries). A false
departure is a departure of a tag that was still in the store.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from smartstore.devices.sim.rfid import CROSS_ZONE_RSSI, FAR_RSSI_DROP, NEAR_RSSI, WEAKEST_RSSI, ReaderModel
from smartstore.devices.sim.runner import Simulator
from smartstore.devices.sim.settings import SimSettings
from smartstore.devices.sim.world import ItemMove, MoveKind, World
from smartstore.edge.rfid.processor import RfidProcessor
from smartstore.edge.rfid.settings import RfidSettings
from smartstore.edge.rfid.tags import TagEvent, TagEventKind
from smartstore.kernel.contract import topics
from smartstore.kernel.contract.payloads import DeviceState, DeviceStatus, envelope, new_event_id
from smartstore.kernel.contract.topics import Kind, Topic
from smartstore.kernel.storeconfig import EXAMPLE_STORE, Area, StoreConfig, load_store

TWO_YEARS_S = 2 * 365 * 86400.0
# (reader, start hour, minutes): a shelf reader, the backroom, the exit and another aisle go dark once.
OUTAGES = [
    ("reader-aisle-2", 1.5, 15.0),
    ("reader-backroom", 4.0, 30.0),
    ("reader-exit", 6.5, 10.0),
    ("reader-aisle-4", 9.0, 20.0),
    ("reader-lockers", 10.5, 15.0),
]
CLOCK_SKEW_S = {"reader-aisle-3": -TWO_YEARS_S, "reader-backroom": 90.0}
RSSI_SCALE = {"reader-aisle-1": 10, "reader-aisle-4": 100}  # aisle-1 announces its unit, aisle-4 does not


class ReadsOnTheWire:
    """The simulator's read model, emitting JSON wire reads directly (TagRead objects are too slow here).

    Same behaviour as `devices.sim.rfid.ReaderModel.read`: each tag of the reader's zones is seen with
    `read_probability`, RSSI near -62..-45 dBm, a farther antenna with `second_antenna_probability`, and
    neighbour zones' tags faintly with `cross_zone_probability`; count ~ 1 + Poisson(2).
    """

    def __init__(self, model: ReaderModel, scale: int) -> None:
        self.model = model
        self.scale = scale
        self._seconds: dict[int, str] = {}

    def _iso(self, moment: float) -> str:
        whole = math.floor(moment)
        prefix = self._seconds.get(whole)
        if prefix is None:
            if len(self._seconds) > 10_000:
                self._seconds.clear()
            prefix = self._seconds[whole] = datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        return f"{prefix}.{int((moment - whole) * 1e6):06d}Z"

    def reads(self, world: World, reader_time: float, interval_s: float) -> list[str]:
        model, rng, settings = self.model, self.model.rng, self.model.settings
        out: list[str] = []
        for zone, ports in model.ports.items():
            ids = np.fromiter(world.zone_tags[zone], dtype=np.int64)
            if ids.size == 0:
                continue
            ids = ids[rng.random(ids.size) < settings.read_probability]
            port_array = np.asarray(ports)
            near = rng.uniform(*NEAR_RSSI, ids.size)
            out += self._make(world, ids, port_array[ids % len(ports)], near, reader_time, interval_s)
            if len(ports) > 1:
                also = rng.random(ids.size) < settings.second_antenna_probability
                far = np.maximum(near[also] - rng.uniform(*FAR_RSSI_DROP, int(also.sum())), WEAKEST_RSSI)
                out += self._make(
                    world, ids[also], port_array[(ids[also] + 1) % len(ports)], far, reader_time, interval_s
                )
        for zone, port in model.cross.items():
            ids = np.fromiter(world.zone_tags[zone], dtype=np.int64)
            if ids.size == 0:
                continue
            ids = ids[rng.random(ids.size) < settings.cross_zone_probability]
            rssi = rng.uniform(*CROSS_ZONE_RSSI, ids.size)
            out += self._make(world, ids, np.full(ids.size, port), rssi, reader_time, interval_s)
        return out

    def _make(
        self, world: World, ids: Any, ports: Any, rssi: Any, reader_time: float, interval_s: float
    ) -> list[str]:
        rng = self.model.rng
        counts = (1 + rng.poisson(2.0, ids.size)).tolist()
        ages = rng.uniform(0.0, interval_s, ids.size).tolist()
        levels = np.round(rssi, 1)
        values = (levels * self.scale).round().astype(int).tolist() if self.scale > 1 else levels.tolist()
        items, iso = world.items, self._iso
        return [
            f'{{"epc":"{items[item].epc}","antenna":{port},"rssi":{value},'
            f'"ts":"{iso(reader_time - age)}","count":{count}}}'
            for item, port, value, age, count in zip(
                ids.tolist(), ports.tolist(), values, ages, counts, strict=True
            )
        ]


@dataclass
class Score:
    cells: int = 0
    cells_right: int = 0
    truth_units: int = 0
    abs_error: int = 0
    points: int = 0
    worst: float = 1.0
    worst_at_s: float = 0.0
    outage_cells: int = 0
    outage_right: int = 0
    wrong_by_zone: Counter[str] = field(default_factory=Counter)

    def add(
        self, t: float, truth: dict[tuple[str, str], int], estimate: dict[tuple[str, str], int], outage: bool
    ) -> None:
        cells = {cell for cell, n in truth.items() if n} | {cell for cell, n in estimate.items() if n}
        right = sum(1 for cell in cells if truth.get(cell, 0) == estimate.get(cell, 0))
        for cell in cells:
            if truth.get(cell, 0) != estimate.get(cell, 0):
                self.wrong_by_zone[cell[0]] += 1
        self.cells += len(cells)
        self.cells_right += right
        self.truth_units += sum(truth.values())
        self.abs_error += sum(abs(truth.get(cell, 0) - estimate.get(cell, 0)) for cell in cells)
        self.points += 1
        if right / max(len(cells), 1) < self.worst:
            self.worst, self.worst_at_s = right / max(len(cells), 1), t
        if outage:
            self.outage_cells += len(cells)
            self.outage_right += right


def match(
    truth: Sequence[tuple[str, float, str | None]],
    ours: Sequence[tuple[str, float, str | None]],
    tolerance: float,
) -> tuple[int, int, int]:
    """(matched, truth total, ours total): one-to-one by EPC, same zone (when given), |dt| <= tolerance."""
    by_epc: dict[str, list[tuple[float, str | None]]] = defaultdict(list)
    for epc, moment, zone in ours:
        by_epc[epc].append((moment, zone))
    matched = 0
    for epc, moment, zone in sorted(truth, key=lambda row: row[1]):
        candidates = by_epc.get(epc, [])
        for index, (when, where) in enumerate(candidates):
            if abs(when - moment) <= tolerance and (zone is None or where == zone):
                del candidates[index]
                matched += 1
                break
    return matched, len(truth), len(ours)


def pr(matched: int, truth: int, ours: int) -> dict[str, float]:
    return {
        "precision": round(matched / ours, 4) if ours else 1.0,
        "recall": round(matched / truth, 4) if truth else 1.0,
    }


class Day:
    """One simulated day: the world, the readers' reports, the processor, and the scoring."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.store: StoreConfig = load_store(EXAMPLE_STORE)
        self.sim = Simulator(SimSettings(seed=args.seed, cameras=False, truth_interval_s=60.0), self.store)
        self.epoch = self.sim.epoch.timestamp()
        self.events: list[TagEvent] = []
        self.processor = RfidProcessor(
            self.store,
            RfidSettings(read_interval_s=args.fast_interval),
            None,
            self.epoch,
            event_sink=self.events.extend,
        )
        fast_zones = {z.id for z in self.store.zones if z.area in (Area.EXIT, Area.LOCKER)}
        self.interval = {
            r.id: args.fast_interval if {a.zone for a in r.antennas} <= fast_zones else args.shelf_interval
            for r in self.store.devices.readers
        }
        self.wire = {
            reader: ReadsOnTheWire(model, RSSI_SCALE.get(reader, 1))
            for reader, model in self.sim.readers.items()
        }
        self.topics = {
            reader: Topic.parse(topics.rfid_reads(self.store.store.id, reader)) for reader in self.wire
        }
        self.outages = [
            (reader, start * 3600, start * 3600 + minutes * 60) for reader, start, minutes in OUTAGES
        ]
        self.score = Score()
        self.reads = 0
        self.offline: set[str] = set()

    def now(self) -> float:
        return self.epoch + self.sim.queue.now

    def _status(self, reader: str, state: DeviceState) -> None:
        topic = Topic.parse(topics.status(self.store.store.id, Kind.RFID, reader))
        self.processor.on_status(topic, DeviceStatus(**envelope(1), state=state), self.now())

    def _report(self, reader: str) -> None:
        now = self.now()
        reader_time = now + CLOCK_SKEW_S.get(reader, 0.0)
        reads = self.wire[reader].reads(self.sim.world, reader_time, self.interval[reader])
        self.reads += len(reads)
        unit = ',"rssi_unit":"dBm_x10"' if reader == "reader-aisle-1" else ""
        stamp = datetime.fromtimestamp(reader_time, UTC).isoformat().replace("+00:00", "Z")
        head = f'{{"v":1,"id":"{new_event_id()}","ts":"{stamp}","seq":1{unit},"reads":['
        payload = (head + ",".join(reads) + "]}").encode()
        self.processor.handle_raw(self.topics[reader], payload, now)

    def run(self) -> None:
        duration = self.args.hours * 3600.0
        next_report = {reader: index * 0.1 for index, reader in enumerate(self.wire)}
        step = min(self.args.fast_interval, 1.0)
        t = 0.0
        while t < duration:
            t += step
            self.sim.step(step)
            for reader, start, end in self.outages:
                down = start <= t < end
                if down and reader not in self.offline:
                    self.offline.add(reader)
                    self._status(reader, DeviceState.OFFLINE)
                elif not down and reader in self.offline:
                    self.offline.discard(reader)
                    self._status(reader, DeviceState.ONLINE)
            for reader, due in next_report.items():
                if t >= due:
                    next_report[reader] = due + self.interval[reader]
                    if reader not in self.offline:
                        self._report(reader)
            self.processor.tick(self.now())
            if t % 60.0 < step:
                self._compare(t)

    def _compare(self, t: float) -> None:
        if t < 60.0:
            return  # the first minute is the start-up inventory: every tag arrives
        truth_zones: dict[str, dict[str, int]] = self.sim.truth_snapshot()["zones"]  # type: ignore[assignment]
        truth = {(zone, gtin): n for zone, gtins in truth_zones.items() for gtin, n in gtins.items()}
        outage = any(start <= t < end + 300 for _, start, end in self.outages)
        self.score.add(t, truth, self.processor.counts(), outage)

    # --- events ----------------------------------------------------------------------------------

    def event_scores(self) -> dict[str, Any]:
        tolerance = self.args.tolerance
        # Events of the first minute (start-up inventory) and of the last tolerance window are not scored.
        end = self.args.hours * 3600.0 - tolerance
        moves: list[ItemMove] = [m for m in self.sim.move_log if m.epc is not None and 60.0 <= m.t < end]
        ours = [(e, e.t - self.epoch) for e in self.events if 60.0 <= e.t - self.epoch < end]
        truth_departed = [(m.epc or "", m.t, None) for m in moves if m.kind is MoveKind.DEPARTED]
        our_departed = [(e.epc, t, None) for e, t in ours if e.kind is TagEventKind.DEPARTED]
        exits = {z.id for z in self.store.zones_in(Area.EXIT)}
        truth_moves = [
            (m.epc or "", m.t, m.dst) for m in moves if m.kind is MoveKind.MOVED and m.src != m.dst
        ]
        stock_moves = [row for row in truth_moves if row[2] not in exits]
        our_moves = [(e.epc, t, e.zone) for e, t in ours if e.kind is TagEventKind.MOVED]
        our_stock_moves = [row for row in our_moves if row[2] not in exits]
        truth_arrived = [(m.epc or "", m.t, m.dst) for m in moves if m.kind is MoveKind.ARRIVED]
        our_arrived = [(e.epc, t, e.zone) for e, t in ours if e.kind is TagEventKind.ARRIVED]
        gone_at = {m.epc: m.t for m in self.sim.move_log if m.kind is MoveKind.DEPARTED}
        false_departures = [(epc, t) for epc, t, _ in our_departed if gone_at.get(epc, math.inf) > t]
        for epc, t in false_departures[:10]:
            event = next(e for e, when in ours if e.epc == epc and when == t)
            print(f"  false departure at {t / 3600:.2f} h: {epc} from {event.zone} ({event.reason})")
        in_outage = [
            (epc, t) for epc, t in false_departures if any(s <= t < e + 300 for _, s, e in self.outages)
        ]
        reasons = Counter(e.reason.value for e, _ in ours if e.kind is TagEventKind.DEPARTED and e.reason)
        return {
            "departed": pr(*match(truth_departed, our_departed, tolerance)),
            "moved": pr(*match(truth_moves, our_moves, tolerance)),
            "moved_between_stock_zones": pr(*match(stock_moves, our_stock_moves, tolerance)),
            "arrived": pr(*match(truth_arrived, our_arrived, tolerance)),
            "false_departures": len(false_departures),
            "false_departures_during_outages": len(in_outage),
            "departure_reasons": dict(reasons),
            "truth_events": {
                "departed": len(truth_departed),
                "moved": len(truth_moves),
                "moved_between_stock_zones": len(stock_moves),
                "arrived": len(truth_arrived),
            },
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hours", type=float, default=12.0)
    parser.add_argument(
        "--shelf-interval", type=float, default=5.0, help="report interval of shelf/backroom readers"
    )
    parser.add_argument(
        "--fast-interval", type=float, default=1.0, help="report interval of exit/locker readers"
    )
    parser.add_argument("--tolerance", type=float, default=120.0, help="event matching window, seconds")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    started = time.perf_counter()
    day = Day(args)
    print(f"simulating {args.hours} h: {len(day.sim.world.items)} items, outages {OUTAGES}", flush=True)
    day.run()
    elapsed = time.perf_counter() - started
    score = day.score
    cell_accuracy = score.cells_right / max(score.cells, 1)
    count_accuracy = 1 - score.abs_error / max(score.truth_units, 1)
    outage_accuracy = score.outage_right / max(score.outage_cells, 1)
    calm_accuracy = (score.cells_right - score.outage_right) / max(score.cells - score.outage_cells, 1)
    events = day.event_scores()
    counters = day.processor.counters
    print(f"{day.reads} reads, {score.points} truth points, {elapsed:.0f} s wall")
    print(
        f"cell accuracy      {cell_accuracy:.5f}  (worst truth point {score.worst:.4f} at "
        f"{score.worst_at_s / 3600:.2f} h; outages +5 min {outage_accuracy:.5f}, rest {calm_accuracy:.5f})"
    )
    errors = f"sum |error| {score.abs_error} of {score.truth_units} units"
    print(f"count accuracy     {count_accuracy:.5f}  ({errors})")
    print(f"wrong cells by zone {dict(score.wrong_by_zone.most_common())}")
    for name in ("departed", "moved", "moved_between_stock_zones", "arrived"):
        print(f"{name:26} precision {events[name]['precision']:.4f}  recall {events[name]['recall']:.4f}")
    during = events["false_departures_during_outages"]
    print(f"false departures {events['false_departures']} (during outages {during})")
    print(f"departure reasons {events['departure_reasons']}, truth events {events['truth_events']}")
    dropped = {
        k: n for k, n in counters.items() if k.startswith(("read_", "epc_", "rssi_", "below_", "unknown_"))
    }
    print(f"dropped reads {dropped}")
    print(
        json.dumps(
            {
                "bench": "rfid_accuracy",
                "hours": args.hours,
                "cell_accuracy": round(cell_accuracy, 5),
                "count_accuracy": round(count_accuracy, 5),
                "worst_point_cell_accuracy": round(score.worst, 4),
                "outage_cell_accuracy": round(outage_accuracy, 5),
                "no_outage_cell_accuracy": round(calm_accuracy, 5),
                "seed": args.seed,
                **{k: v for k, v in events.items() if k != "truth_events"},
                "reads": day.reads,
                "wall_s": round(elapsed),
            }
        )
    )


if __name__ == "__main__":
    main()
