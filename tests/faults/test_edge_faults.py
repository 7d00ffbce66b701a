"""Fault tests with real processes (issue #25): the edge's durability reaches the gateway.

Mosquitto, the gateway's ingest and `smartstore edge` each run as their own process and are killed with
SIGKILL; every figure is read from the edge's outbox and the gateway's database afterwards.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from fault_helpers import Device, Edge, Gateway, door_events, store_served_first, wait_for

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("replay", "other_store_first"),
    [(True, False), (True, True), (False, False)],
    ids=["replay", "replay-gateway-of-two-stores", "without-replay"],
)
def test_broker_kill_with_the_gateway_down_loses_nothing(
    mosquitto: Any, tmp_path: Path, processes: list[Any], replay: bool, other_store_first: bool
) -> None:
    """1,000 locker door events acknowledged by Mosquitto while the gateway is down; Mosquitto killed
    before any autosave (the test broker's is 30 minutes); all applied exactly once when both return.
    Without the outbox's replay (the behaviour before issue #25) none would ever be applied. A gateway
    serving another store first must reach this store's edge too (its presence is outside stores)."""
    total = 1000
    stores = store_served_first(tmp_path) if other_store_first else []
    gateway = Gateway(tmp_path / "gateway.db", mosquitto.url, stores)
    processes.append(gateway)
    gateway.start()  # its persistent session exists: the broker queues for it while it is down
    gateway.kill()
    window = {} if replay else {"SMARTSTORE_EDGE_OUTBOX__REPLAY_WINDOW_S": "0"}
    edge = Edge(tmp_path / "edge", mosquitto.url, tmp_path / "edge.log", **window)
    processes.append(edge)
    edge.start()
    edge.wait_online(mosquitto.settings)
    device = Device(mosquitto.settings)
    processes.append(device)
    device.publish(door_events(total))
    wait_for(lambda: len(edge.outbox("sent IS NOT NULL")) == total, 30, "every signal PUBACKed")
    produced = set(edge.outbox())

    mosquitto.process.kill()  # SIGKILL: no save
    mosquitto.process.wait(10)
    mosquitto.start()
    gateway.start()
    if not replay:
        time.sleep(3.0)
        assert gateway.applied_ids() == []
        return
    wait_for(lambda: len(gateway.applied_ids()) >= total, 60, "every signal applied")
    time.sleep(1.0)  # duplicates still on their way would show now
    edge.sample()
    applied = gateway.applied_ids()
    assert set(applied) == produced
    assert len(applied) == total
    # 500 raises, each cleared by the next event: a raise applied twice would open another alert.
    assert gateway.alert_rows() == total // 2
    replayed = edge.log().count("acknowledged since")
    print(f"\nbroker kill -9: sent {total}, applied {len(applied)}, edge {edge.peak_mb:.0f} MB, {replayed=}")


def test_edge_kill_mid_stream_loses_and_repeats_nothing(
    mosquitto: Any, tmp_path: Path, processes: list[Any]
) -> None:
    """2,000 door events at 200/s; the edge is killed (SIGKILL) after 3 s and back 4 s later: every
    event becomes exactly one applied signal (the persistent session kept what came meanwhile)."""
    total = 2000
    gateway = Gateway(tmp_path / "gateway.db", mosquitto.url)
    processes.append(gateway)
    gateway.start()
    edge = Edge(tmp_path / "edge", mosquitto.url, tmp_path / "edge.log")
    processes.append(edge)
    edge.start()
    edge.wait_online(mosquitto.settings)
    device = Device(mosquitto.settings)
    processes.append(device)
    sender = device.publish_in_background(door_events(total), per_second=200)
    time.sleep(3.0)
    edge.kill()
    before = len(edge.outbox())
    time.sleep(4.0)
    edge.start()
    sender.join(30)
    wait_for(lambda: len(gateway.applied_ids()) >= total, 60, "every event applied")
    time.sleep(1.0)
    edge.sample()
    applied = gateway.applied_ids()
    assert 0 < before < total, "the edge was killed too early or too late to test anything"
    assert len(applied) == len(set(applied)), "an id applied twice"
    assert len(applied) == total, f"{len(applied)} of {total} applied; {before} were stored before the kill"
    assert gateway.alert_rows() == total // 2
    print(f"\nedge kill -9: sent {total}, applied {len(applied)}, edge peak {edge.peak_mb:.0f} MB")
