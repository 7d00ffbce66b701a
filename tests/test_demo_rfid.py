"""`smartstore demo` with a reader unplugged: counts follow the simulation, its device alert opens and
clears, and no tag departs while it is down (issue 3's "done when", end to end)."""

from __future__ import annotations

import bisect
import importlib.util
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from test_demo import RunningDemo, free_port, poll

from smartstore.edge.rfid.state import load_state
from smartstore.kernel.storeconfig import EXAMPLE_STORE, Area, StoreConfig, load_store

pytestmark = pytest.mark.slow

NEEDED = (
    "smartstore.gateway.ingest.consumer",
    "smartstore.gateway.api.app",
    "smartstore.devices.sim.cli",
    "smartstore.edge.cli",
    "smartstore.edge.rfid.processor",
)
MANAGER_KEY = "ssk_demomgr1_" + "M4n4g3rK3y" * 4
INTEGRATOR_KEY = "ssk_demoint1_" + "Z9y8X7w6V5" * 4
SPEED = 60.0  # the demo's default: one sim minute per real second
UNPLUGGED = "reader-aisle-2"
OUTAGE_AT_S, OUTAGE_S = 25.0, 25.0  # real seconds after the simulator starts
# At 60x the example store's 60 s salesfloor timeout is a sim hour, longer than this whole test: a sold
# item would never leave the counts, and a 25 s outage could not tempt the edge into a false departure.
# 8 s (8 sim minutes) makes both observable; every other setting is the example store's.
SALESFLOOR_TIMEOUT_S = 8.0
# How long the edge may take to show a change (see test docstring); both cover reads every second, the
# 1 s departure check, the 2 s stock publish interval and ingest.
LEAVE_GRACE_S = SALESFLOOR_TIMEOUT_S + 8.0
MOVE_GRACE_S = 35.0  # a hand-over needs 3 reads and up to ~25 s for the old zone's advantage to decay
BEFORE_OUTAGE_S = OUTAGE_AT_S - 2.0
AFTER_OUTAGE_S = OUTAGE_AT_S + OUTAGE_S + SALESFLOOR_TIMEOUT_S + 11.0
DURATION_S = 78
COUNTED = {Area.SALESFLOOR.value, Area.BACKROOM.value, Area.LOCKER.value}

# Exit zone departure timeout (10 s) + edge stock publish interval (2 s) + margin.
EVIDENCE_LAG_S = 15.0


def short_timeout_store(path: Path) -> Path:
    data = load_store(EXAMPLE_STORE).model_dump(mode="json", exclude_none=True)
    for zone in data["zones"]:
        if zone["area"] == Area.SALESFLOOR.value:
            zone["departure_timeout_s"] = SALESFLOOR_TIMEOUT_S
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[RunningDemo]:
    missing = [name for name in NEEDED if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"components not written yet: {', '.join(missing)}")
    store_file = short_timeout_store(tmp_path / "store.yaml")
    data_dir, output = tmp_path / "demo", tmp_path / "demo.out"
    http_port, mqtt_port = free_port(), free_port()
    outage = f"{UNPLUGGED}@{OUTAGE_AT_S * SPEED:g}+{OUTAGE_S * SPEED:g}"
    command = [
        sys.executable,
        *("-m", "smartstore.launcher.cli", "demo", "--duration", str(DURATION_S), "--speed", f"{SPEED:g}"),
        *("--http-port", str(http_port), "--mqtt-port", str(mqtt_port), "--data-dir", str(data_dir)),
        *("--store", str(store_file), "--outage", outage),
    ]
    env = {**os.environ, "SMARTSTORE_MANAGER_KEY": MANAGER_KEY, "SMARTSTORE_INTEGRATOR_KEY": INTEGRATOR_KEY}
    with output.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env)
    yield RunningDemo(process, data_dir, output, http_port, mqtt_port)
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def wall(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


@dataclass(frozen=True)
class Change:
    wall: float  # when the simulator made it
    zone: str | None  # where the item is afterwards; None: gone
    area: str | None  # the counted area of that zone; None: at the exit or gone


class Truth:
    """The simulator's truth file as item histories: where each tagged item was, in wall-clock time."""

    def __init__(self, lines: list[dict[str, Any]], store: StoreConfig) -> None:
        areas = {zone.id: zone.area.value for zone in store.zones}
        self.area_of = {zone: (area if area in COUNTED else None) for zone, area in areas.items()}
        tagged = {p.gtin for p in store.catalog if p.rfid_tagged}
        clock = [(line["sim_s"], wall(line["wall_time"])) for line in lines if line["type"] != "start"]
        self._sim: list[float] = [float(s) for s, _ in clock]
        self._wall: list[float] = [w for _, w in clock]
        self.gtin: dict[str, str] = {}
        self.changes: dict[str, list[Change]] = {}
        for item in lines[0]["inventory"]:
            if item["gtin"] in tagged and item["epc"]:
                self.gtin[item["epc"]] = item["gtin"]
                self.changes[item["epc"]] = [Change(-math.inf, item["zone"], self.area_of.get(item["zone"]))]
        for line in lines:
            for event in line["events"]:
                if event["gtin"] in tagged and event["epc"]:
                    self.gtin.setdefault(event["epc"], event["gtin"])
                    zone = event["to"]
                    area = self.area_of.get(zone) if zone else None
                    self.changes.setdefault(event["epc"], [Change(-math.inf, None, None)])
                    self.changes[event["epc"]].append(Change(self.wall_of(event["t"]), zone, area))

    def wall_of(self, sim_s: float) -> float:
        """Wall time of a sim second, interpolated between truth lines (one every sim minute)."""
        i = bisect.bisect_left(self._sim, sim_s)
        if i == 0 or i == len(self._sim):
            j = 0 if i == 0 else -1
            return self._wall[j] + (sim_s - self._sim[j]) / SPEED
        s0, s1, w0, w1 = self._sim[i - 1], self._sim[i], self._wall[i - 1], self._wall[i]
        return w0 + (w1 - w0) * (sim_s - s0) / (s1 - s0)

    def area_at(self, epc: str, at: float) -> str | None:
        return [c for c in self.changes[epc] if c.wall <= at][-1].area

    def bounds(self, at: float, unseen: tuple[float, float]) -> dict[tuple[str, str], tuple[int, int]]:
        """(GTIN, area) -> the fewest and most items the edge may count there at `at`.

        An item must be counted where it is once its last change is older than the grace; within the
        grace it may still be counted where it was. A change made while `unseen` (the outage) is dated to
        the end of it: the store-wide hold keeps departures waiting until every reader reports again.
        """
        lower: Counter[tuple[str, str]] = Counter()
        upper: Counter[tuple[str, str]] = Counter()
        for epc, changes in self.changes.items():
            past = [c for c in changes if c.wall <= at]
            possible, settled = {past[-1].area}, True
            for before, change in pairwise(past):
                seen = unseen[1] if unseen[0] <= change.wall <= unseen[1] else change.wall
                if at - seen < (LEAVE_GRACE_S if change.area is None else MOVE_GRACE_S):
                    possible.add(before.area)
                    settled = False
            gtin = self.gtin[epc]
            if settled and past[-1].area is not None:
                lower[gtin, past[-1].area] += 1
            for area in possible - {None}:
                upper[gtin, str(area)] += 1
        keys = set(lower) | set(upper)
        return {key: (lower[key], upper[key]) for key in keys}

    def on_hand(self, at: float) -> int:
        return sum(1 for epc in self.changes if self.area_at(epc, at) is not None)


@dataclass
class Sample:
    at: float
    items: dict[str, dict[str, Any]]


def compare(sample: Sample, truth: Truth, unseen: tuple[float, float]) -> tuple[float, int, list[str]]:
    """Share of tagged products whose gateway backroom and salesfloor lie within the truth's bounds, and
    how many products had exact bounds (nothing of theirs moved within the graces)."""
    bounds = truth.bounds(sample.at, unseen)
    tagged = sorted(set(truth.gtin.values()))
    exact = sum(
        1 for g in tagged if all(low == high for (gtin, _), (low, high) in bounds.items() if gtin == g)
    )
    wrong = []
    for gtin in tagged:
        item = sample.items.get(gtin, {})
        for area in (Area.SALESFLOOR.value, Area.BACKROOM.value):
            low, high = bounds.get((gtin, area), (0, 0))
            if not low <= item.get(area, 0) <= high:
                wrong.append(f"{gtin} {area}: gateway {item.get(area, 0)}, truth {low}..{high}")
    bad_products = {line.split()[0] for line in wrong}
    return 1 - len(bad_products) / len(tagged), exact, wrong


def test_demo_counts_follow_the_simulation_through_a_reader_outage(demo: RunningDemo) -> None:
    """Counts: the edge shows a change only after it could see it — a departure once the item's zone
    timeout has passed (8 s here; the store-wide hold pauses that clock while any reader is down), a
    hand-over after a few reads and the old zone's fading advantage. So at a moment, each product's
    gateway backroom and salesfloor figures must lie between the items that were settled there (last
    moved longer ago than the grace: they must be counted) and those that were there at some point within
    the grace (they may be). Outside those graces this is an exact count, not a tolerance. Checked before
    the outage and after it has ended and the held departures are due.

    No departure: the edge's tag state (saved at stop) dates every departure it inferred; none may be of
    an item the truth still has in the store, none of a tag counted in the unplugged reader's zone during
    the outage, and no timeout departure (one without exit evidence) anywhere while it was unplugged.
    The gateway's aisle-2 units may drop meanwhile only by items that really left aisle 2.
    """
    store = load_store(EXAMPLE_STORE)
    store_id = store.store.id
    base = f"http://127.0.0.1:{demo.http_port}"
    integrator = httpx.Client(base_url=base, headers={"X-API-Key": INTEGRATOR_KEY}, timeout=5)
    manager = httpx.Client(base_url=base, headers={"X-API-Key": MANAGER_KEY}, timeout=5)
    truth_path = demo.data_dir / "truth.jsonl"
    cause = f"device_offline:rfid:{UNPLUGGED}"

    def started() -> float | None:
        text = truth_path.read_text() if truth_path.exists() else ""
        return wall(json.loads(text.partition("\n")[0])["wall_time"]) if "\n" in text else None

    start = poll(started, timeout=40)
    assert start is not None, "the simulator never started\n" + demo.diagnostics()

    def inventory_at(offset_s: float) -> Sample:
        time.sleep(max(0.0, start + offset_s - time.time()))
        assert demo.process.poll() is None, demo.diagnostics()
        response = integrator.get(f"/api/v1/stores/{store_id}/inventory", params={"limit": 500})
        assert response.status_code == 200, response.text
        return Sample(time.time(), {i["gtin"]: i for i in response.json()["items"]})

    def reader_state() -> str | None:
        response = manager.get(f"/api/v1/stores/{store_id}/devices")
        states = {(d["kind"], d["id"]): d["state"] for d in response.json()} if response.is_success else {}
        return states.get(("rfid", UNPLUGGED))

    def device_alerts(state: str | None) -> list[dict[str, Any]]:
        params = {"state": state} if state else {}
        response = manager.get(f"/api/v1/stores/{store_id}/alerts", params={**params, "limit": 200})
        assert response.status_code == 200, response.text
        return [a for a in response.json()["items"] if a["cause"] == cause]

    aisle_gtins = sorted(
        {s.gtin for shelf in store.planogram if shelf.zone == "aisle-2" for s in shelf.slots}
    )

    def aisle_count() -> int:
        total = 0
        for gtin in aisle_gtins:
            detail = integrator.get(f"/api/v1/stores/{store_id}/inventory/{gtin}").json()
            total += sum(z["count"] for z in detail["zones"] if z["zone"] == "aisle-2")
        return total

    # (a) before the outage
    before = inventory_at(BEFORE_OUTAGE_S)
    # (b) unplugged: offline, one open alert; the gateway's aisle-2 counts hold still
    time.sleep(max(0.0, start + OUTAGE_AT_S - time.time()))
    offline = poll(lambda: True if reader_state() == "offline" else None, timeout=10)
    assert offline, f"{UNPLUGGED} never showed offline\n" + demo.diagnostics()
    opened = poll(lambda: device_alerts("open") or None, timeout=10)
    assert opened is not None, f"no open alert {cause}\n" + demo.diagnostics()
    assert len(opened) == 1, opened
    aisle_during = aisle_count(), time.time()
    time.sleep(max(0.0, start + OUTAGE_AT_S + OUTAGE_S - 4.0 - time.time()))
    assert reader_state() == "offline"
    assert len(device_alerts("open")) == 1
    aisle_late = aisle_count(), time.time()
    # back: online, the alert cleared (and not raised again)
    online = poll(lambda: True if reader_state() == "online" else None, timeout=15)
    assert online, f"{UNPLUGGED} never came back online\n" + demo.diagnostics()
    cleared = poll(lambda: None if device_alerts("open") else device_alerts(None), timeout=10)
    assert cleared is not None, f"the alert {cause} stayed open\n" + demo.diagnostics()
    assert [a["state"] for a in cleared] == ["cleared"], cleared
    # (a) after it, once the held departures are due
    after = inventory_at(AFTER_OUTAGE_S)

    assert demo.process.wait(DURATION_S + 60) == 0, demo.diagnostics()
    lines = [json.loads(line) for line in truth_path.read_text().splitlines()]
    truth = Truth(lines, load_store(EXAMPLE_STORE))
    unseen = (truth.wall_of(OUTAGE_AT_S * SPEED), truth.wall_of((OUTAGE_AT_S + OUTAGE_S) * SPEED))
    report = [f"outage {unseen[0] - start:.1f}..{unseen[1] - start:.1f} s after the simulator started"]
    alert = cleared[0]
    report.append(
        f"alert opened {wall(alert['opened_at']) - unseen[0]:+.2f} s after the unplug, cleared "
        f"{wall(alert['cleared_at']) - unseen[1]:+.2f} s after the replug"
    )
    for name, sample in (("before", before), ("after", after)):
        share, exact, wrong = compare(sample, truth, unseen)
        gateway_total = sum(sample.items[g]["on_hand"] for g in set(truth.gtin.values()) if g in sample.items)
        true_total = truth.on_hand(sample.at)
        report.append(
            f"{name} the outage (t={sample.at - start:.1f} s): {share:.1%} of tagged products within "
            f"bounds ({exact} of them exact); on hand gateway {gateway_total} vs truth {true_total}"
        )
        assert share >= 0.95, "\n".join([*report, *wrong[:30]]) + "\n" + demo.diagnostics()
        assert abs(gateway_total - true_total) <= 0.02 * true_total, "\n".join(report)

    # (c) no departure while the reader was unplugged, and none false at all
    left_aisle = sum(
        1
        for changes in truth.changes.values()
        for previous, change in pairwise(changes)
        if previous.zone == "aisle-2" and aisle_during[1] - EVIDENCE_LAG_S <= change.wall <= aisle_late[1]
    )
    report.append(
        f"aisle-2 units at the gateway during the outage: {aisle_during[0]} -> {aisle_late[0]}; "
        f"{left_aisle} items really left aisle-2 meanwhile"
    )
    # Only what the edge saw leave (read at the exit gate or in another zone) may go; the truth bounds it
    # from above. An item carried off aisle 2 shortly before the first sample departs at the gateway
    # only after the exit zone's timeout, hence the lag allowed before the window.
    assert aisle_during[0] - aisle_late[0] <= left_aisle, "\n".join(report)
    saved = load_state(demo.data_dir / "edge" / "rfid-tags.json")
    exits = {zone.id for zone in store.zones if zone.area is Area.EXIT}
    # (EPC, zone it was counted in, when it departed); a tag read again later keeps its departure time.
    departures = [(t.identity.epc, t.zone, t.departed_at) for t in saved.tags if t.departed_at > 0]
    # Tags whose last read was at the exit gate: their departure rests on positive evidence.
    through_exit = {t.identity.epc for t in saved.tags if t.departed_at > 0 and t.last_zone in exits}
    false = [d for d in departures if d[0] in truth.changes and truth.area_at(d[0], d[2]) is not None]
    # Held until the store is covered again, then a zone timeout more; a second for the Last Will to land.
    in_outage = [d for d in departures if unseen[0] + 1.0 <= d[2] <= unseen[1] + SALESFLOOR_TIMEOUT_S - 0.5]
    unplugged_zones = {a.zone for r in store.devices.readers if r.id == UNPLUGGED for a in r.antennas}
    report.append(
        f"edge departures: {len(departures)}, {len(in_outage)} during the outage, {len(false)} false"
    )
    print("\n".join(report))
    assert not false, f"departed but still in the store: {false[:10]}\n" + "\n".join(report)
    # An item carried from the unplugged aisle through the exit gate really left (the truth confirms it
    # above); anything else counted there must wait for the reader.
    assert not [d for d in in_outage if d[1] in unplugged_zones and d[0] not in through_exit], "\n".join(
        report
    )
    assert not [d for d in in_outage if d[0] not in through_exit], (
        "timeout departures during the outage\n" + ("\n".join(report))
    )
