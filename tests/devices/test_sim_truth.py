"""Ground truth: JSONL lines that parse, conserve items and replay into the same counts."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sim_helpers import BrokerLike, CollectorFactory, SimFactory, wait_for

from smartstore.kernel.contract import topics
from smartstore.kernel.contract.payloads import DeviceState, DeviceStatus
from smartstore.kernel.contract.validation import decode_as
from smartstore.kernel.storeconfig import StoreConfig


def read_truth(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def zone_counts(items: dict[int, dict[str, Any]], tagged: bool) -> dict[str, dict[str, int]]:
    counts: dict[str, Counter[str]] = {}
    for item in items.values():
        if (item["epc"] is not None) == tagged:
            counts.setdefault(item["zone"], Counter())[item["gtin"]] += 1
    return {zone: dict(c) for zone, c in counts.items()}


def nonzero(zones: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    return {zone: counts for zone, counts in zones.items() if counts}


def test_truth_lines_conserve_items_and_replay_to_the_same_counts(
    make_sim: SimFactory, example_store: StoreConfig, tmp_path: Path
) -> None:
    path = tmp_path / "truth.jsonl"
    sim = make_sim(truth_path=path, world={"sales_per_hour": 600, "deliveries_per_day": 48})
    for _ in range(12):
        sim.step(300)  # one hour in 5-minute steps: a line per sim minute regardless of step size
    sim.stop()
    lines = read_truth(path)
    assert [line["type"] for line in lines] == ["start"] + ["snapshot"] * 60 + ["end"]
    assert [line["sim_s"] for line in lines[1:-1]] == [60.0 * (i + 1) for i in range(60)]
    items = {entry["item"]: entry for entry in lines[0]["inventory"]}
    assert len(items) == lines[0]["totals"]["initial"]
    for line in lines:
        totals = line["totals"]
        assert totals["initial"] + totals["delivered"] == totals["sold"] + totals["on_hand"]
        for move in line["events"]:
            if move["kind"] == "arrived":
                items[move["item"]] = {"epc": move["epc"], "gtin": move["gtin"], "zone": move["to"]}
            elif move["kind"] == "departed":
                assert items.pop(move["item"])["zone"] == move["from"]
            else:
                assert items[move["item"]]["zone"] == move["from"]
                items[move["item"]]["zone"] = move["to"]
        assert len(items) == totals["on_hand"]
        assert zone_counts(items, tagged=True) == nonzero(line["zones"])
        assert zone_counts(items, tagged=False) == nonzero(line["untagged"])
    reasons = Counter(move["reason"] for line in lines for move in line["events"])
    assert reasons["sold"]
    assert reasons["restock"]
    assert reasons["delivery"]
    assert lines[-1]["totals"]["sold"] > 300
    low, empty = example_store.store.shelf_low_fill, example_store.store.shelf_empty_fill
    for slot in lines[-1]["slots"].values():
        assert slot["fill"] == round(slot["units"] / slot["capacity"], 4)
        expected = "empty" if slot["fill"] < empty else "low" if slot["fill"] < low else "ok"
        assert slot["state"] == expected
    assert set(lines[-1]["devices"]) == {r.id for r in example_store.devices.readers} | {
        c.id for c in example_store.devices.cameras
    } | {"locker-1"}


def test_cli_runs_until_sigterm_then_says_offline_and_flushes_truth(
    mosquitto: BrokerLike, collectors: CollectorFactory, tmp_path: Path
) -> None:
    path = tmp_path / "cli-truth.jsonl"
    store_id = "store-berlin-01"
    watcher = collectors(mosquitto.settings, [topics.status_filter(store_id)])
    command = [
        sys.executable,
        "-m",
        "smartstore.launcher.cli",
        "sim",
        "--mqtt-url",
        mosquitto.url,
        "--speed",
        "600",
    ]
    command += ["--truth", str(path), "--read-interval", "0.5", "--outage", "reader-exit@0+100000"]
    process = subprocess.Popen(command)
    try:
        assert wait_for(lambda: path.exists() and len(path.read_text().splitlines()) >= 5, timeout=15.0)
        reads = topics.rfid_reads(store_id, "reader-aisle-1")
        reads_watcher = collectors(mosquitto.settings, [reads])
        assert wait_for(lambda: bool(reads_watcher.on(reads)), timeout=5.0)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    lines = read_truth(path)
    assert lines[0]["type"] == "start"
    assert lines[-1]["type"] == "end"
    assert lines[-2]["devices"]["reader-exit"] is False
    assert lines[-2]["devices"]["reader-aisle-1"] is True
    time.sleep(0.2)
    latest = {topic: decode_as(DeviceStatus, raw).state for topic, raw, _ in watcher.messages}
    assert len(latest) == 16
    assert set(latest.values()) == {DeviceState.OFFLINE}
