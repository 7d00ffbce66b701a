"""RFID edge throughput: the RFID processor on JSON wire batches vs a bare JSON-parse loop, one core.

    python bench/rfid.py [--readers 50] [--tags 30000] [--rounds 60] [--new-share 0.05] [--seed 1]

A synthetic store: `--readers` readers, one zone each (two antennas, 20 s departure timeout), a mostly
static population of `--tags` SGTIN-96 tags spread over the zones. Every round (1 s) each reader reports
once: ~90 % of its tags, half of them on the second antenna too, RSSI -45..-70 dBm, a read time per read,
plus 2 % of the next zone's tags as crosstalk at -72..-62 dBm. Over the run `--new-share` of the
population is replaced by new EPCs (arrivals; the old ones depart by timeout) and `--move-share` moves
to the next zone. A fifth of the readers report RSSI as dBm x 10 integers, a tenth have clocks two years
off.

Payloads are encoded before the clock starts. Timed is `RfidProcessor.handle_raw` (JSON parse, pydantic
envelope, fast-path read validation, normalization, EPC decode once per EPC, presence and counts) plus
one `tick` per round (departure checks, stock signals, alerts, telemetry). The baseline is a loop doing
only `json.loads` on the same payloads; `ReadBatch.model_validate_json` (full pydantic) is printed for
reference. Pinned to one CPU. The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from smartstore.devices.sim.epc import sgtin96
from smartstore.edge.rfid.processor import RfidProcessor
from smartstore.edge.rfid.settings import RfidSettings
from smartstore.kernel.contract import topics
from smartstore.kernel.contract.gtin import make_gtin14
from smartstore.kernel.contract.payloads import ReadBatch, new_event_id
from smartstore.kernel.contract.topics import Topic
from smartstore.kernel.storeconfig import StoreConfig, parse_store

STORE = "bench-store"
PRODUCTS = 500
START = 1_750_000_000.0
TWO_YEARS_S = 2 * 365 * 86400.0


def bench_store(readers: int) -> StoreConfig:
    catalog = [
        {"gtin": make_gtin14(f"0950600{n:06d}"), "name": f"Product {n}", "sku": f"SKU-{n}"}
        for n in range(PRODUCTS)
    ]
    zones = [{"id": f"zone-{r:02d}", "area": "salesfloor", "departure_timeout_s": 20} for r in range(readers)]
    devices = [
        {
            "id": f"reader-{r:02d}",
            "antennas": [{"port": 1, "zone": f"zone-{r:02d}"}, {"port": 2, "zone": f"zone-{r:02d}"}],
        }
        for r in range(readers)
    ]
    return parse_store(
        {
            "store": {"id": STORE, "name": "bench"},
            "catalog": catalog,
            "zones": zones,
            "devices": {"readers": devices},
        }
    )


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Workload:
    """Pre-encoded read batches, round by round, with the population churn spread over the run."""

    def __init__(
        self, store: StoreConfig, tags: int, rounds: int, new_share: float, move_share: float, seed: int
    ) -> None:
        self.rng = random.Random(seed)
        self.readers = [reader.id for reader in store.devices.readers]
        gtins = [product.gtin for product in store.catalog]
        serial = 0
        self.population: list[list[str]] = [[] for _ in self.readers]
        for index in range(tags):
            serial += 1
            self.population[index % len(self.readers)].append(sgtin96(gtins[index % len(gtins)], serial))
        self.tenths = set(self.readers[::5])
        self.skewed = set(self.readers[1::10])
        replace_per_round = tags * new_share / max(rounds - 1, 1)
        move_per_round = tags * move_share / max(rounds - 1, 1)
        self.rounds: list[list[tuple[str, bytes, float]]] = []
        pending_new = pending_moves = 0.0
        self.moves = 0
        for round_index in range(rounds):
            if round_index > 0:
                pending_new += replace_per_round
                pending_moves += move_per_round
                while pending_new >= 1.0:
                    pending_new -= 1.0
                    serial += 1
                    victims = self.population[self.rng.randrange(len(self.readers))]
                    victims[self.rng.randrange(len(victims))] = sgtin96(self.rng.choice(gtins), serial)
                while pending_moves >= 1.0:
                    pending_moves -= 1.0
                    zone = self.rng.randrange(len(self.readers))
                    source = self.population[zone]
                    self.population[(zone + 1) % len(self.readers)].append(
                        source.pop(self.rng.randrange(len(source)))
                    )
                    self.moves += 1
            self.rounds.append([self._batch(r, round_index) for r in range(len(self.readers))])
        self.new_epcs = serial - tags

    def _batch(self, reader_index: int, round_index: int) -> tuple[str, bytes, float]:
        reader = self.readers[reader_index]
        received = START + round_index + reader_index / len(self.readers)
        clock = received - (TWO_YEARS_S if reader in self.skewed else 0.05)
        tenths = reader in self.tenths
        rng = self.rng
        reads: list[dict[str, Any]] = []

        def add(epc: str, antenna: int, low: float, high: float) -> None:
            rssi = round(rng.uniform(low, high), 1)
            reads.append(
                {
                    "epc": epc,
                    "antenna": antenna,
                    "rssi": int(rssi * 10) if tenths else rssi,
                    "ts": _iso(clock - rng.uniform(0.0, 1.0)),
                    "count": 1 + int(rng.expovariate(0.5)),
                }
            )

        for epc in self.population[reader_index]:
            if rng.random() < 0.9:
                for antenna in (1, 2) if rng.random() < 0.5 else (rng.choice((1, 2)),):
                    add(epc, antenna, -70.0, -45.0)
        for epc in self.population[(reader_index + 1) % len(self.readers)]:
            if rng.random() < 0.02:
                add(epc, 2, -72.0, -62.0)
        head: dict[str, Any] = {"v": 1, "id": new_event_id(), "ts": _iso(received), "seq": round_index + 1}
        if tenths:
            head["rssi_unit"] = "dBm_x10"
        payload = json.dumps({**head, "reads": reads}, separators=(",", ":")).encode()
        return topics.rfid_reads(STORE, reader), payload, received

    @property
    def reads(self) -> int:
        return sum(len(json.loads(p)["reads"]) for batches in self.rounds for _, p, _ in batches)


def run_processor(store: StoreConfig, workload: Workload) -> tuple[float, float, RfidProcessor]:
    """Seconds for the whole run and for the first round alone (every EPC decoded for the first time)."""
    processor = RfidProcessor(store, RfidSettings(), None, START)
    parsed = {text: Topic.parse(text) for text, _, _ in workload.rounds[0]}
    handle, tick = processor.handle_raw, processor.tick
    first_round = 0.0
    started = time.perf_counter()
    for index, batches in enumerate(workload.rounds):
        for topic_text, payload, received in batches:
            handle(parsed[topic_text], payload, received)
        tick(batches[-1][2])
        if index == 0:
            first_round = time.perf_counter() - started
    return time.perf_counter() - started, first_round, processor


def run_baseline(workload: Workload) -> float:
    payloads = [payload for batches in workload.rounds for _, payload, _ in batches]
    started = time.perf_counter()
    for payload in payloads:
        json.loads(payload)
    return time.perf_counter() - started


def run_pydantic(workload: Workload) -> float:
    payloads = [payload for batches in workload.rounds[:5] for _, payload, _ in batches]
    started = time.perf_counter()
    for payload in payloads:
        ReadBatch.model_validate_json(payload)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--readers", type=int, default=50)
    parser.add_argument("--tags", type=int, default=30_000)
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--new-share", type=float, default=0.05)
    parser.add_argument("--move-share", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    store = bench_store(args.readers)
    print(f"building {args.rounds} rounds x {args.readers} readers over {args.tags} tags ...", flush=True)
    workload = Workload(store, args.tags, args.rounds, args.new_share, args.move_share, args.seed)
    reads = workload.reads
    pydantic_reads = sum(
        len(json.loads(p)["reads"]) for batches in workload.rounds[:5] for _, p, _ in batches
    )
    batches = args.rounds * args.readers
    print(
        f"{reads} reads in {batches} batches ({reads / batches:.0f}/batch), "
        f"{workload.new_epcs} new EPCs, {workload.moves} tags moved"
    )

    baseline_s = run_baseline(workload)
    elapsed, first_round_s, processor = run_processor(store, workload)
    pydantic_s = run_pydantic(workload)
    first_reads = sum(len(json.loads(p)["reads"]) for _, p, _ in workload.rounds[0])
    rate = reads / elapsed
    steady = (reads - first_reads) / (elapsed - first_round_s)
    baseline_rate = reads / baseline_s
    counters = processor.counters
    print(f"baseline json.loads only:     {baseline_rate:12,.0f} reads/s")
    pydantic_rate = pydantic_reads / pydantic_s
    print(f"ReadBatch.model_validate_json {pydantic_rate:12,.0f} reads/s (full pydantic, reference)")
    print(f"RFID processor, whole run:    {rate:12,.0f} reads/s  ({elapsed:.2f} s)")
    print(f"RFID processor, after round 1 {steady:12,.0f} reads/s  (round 1 alone: {first_round_s:.2f} s)")
    print(f"ratio processor / baseline:   {rate / baseline_rate:.3f}")
    dropped = sum(n for k, n in counters.items() if k.startswith(("read_", "epc_", "rssi_", "below_")))
    print(f"tags {len(processor.inventory)}, EPC decodes {processor.epcs.decoded}, dropped reads {dropped}")
    events = {kind: counters[f"tag_{kind}"] for kind in ("arrived", "moved", "departed", "returned")}
    print(f"tag events {events}")
    print(
        json.dumps(
            {
                "bench": "rfid",
                "rate": round(rate),
                "steady_rate": round(steady),
                "baseline_rate": round(baseline_rate),
                "ratio": round(rate / baseline_rate, 3),
                "reads": reads,
                "readers": args.readers,
                "tags": args.tags,
                "new_epcs": workload.new_epcs,
            }
        )
    )


if __name__ == "__main__":
    main()
