"""A legitimate edge agent loses nothing to the gateway's per-agent rate limit (real processes).

The gateway's ingest (agent_per_s 400, agent_burst 500) is stopped while `smartstore edge` turns 2,500
locker door events into signals; Mosquitto queues at most 400 of them for the gateway's persistent
session (within the burst, as the shipped 200,000 fit the shipped burst of 200,000) and drops the rest. When
the gateway returns, the queue arrives at once and the edge replays its whole tail. Paced at 300/s the
replay passes: every signal applied exactly once, no `rate_limited` dead letter. Unpaced (the control),
the same replay is dead-lettered as `rate_limited` and signals are lost.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from fault_helpers import REPO, Device, Edge, Gateway, door_events, wait_for
from paho.mqtt.enums import CallbackAPIVersion

from smartstore.edge.config import OutboxSettings
from smartstore.gateway.config import IngestRateLimits
from smartstore.gateway.ingest.limits import RateLimits
from smartstore.kernel.contract import topics
from smartstore.kernel.mqtt import MqttSettings

TOTAL = 2500
GATEWAY_LIMITS = {"agent_per_s": 400, "agent_burst": 500}
QUEUED = 400  # the test broker's max_queued_messages: within the gateway's burst
PACED, UNPACED = 300, 1_000_000  # the edge's max_publish_per_s: below the limit, far above it
GATEWAY_ID = "gw-faults"  # fault_helpers' gateway child
DEVICE_RATE = 400  # door events per second the locker publishes


@pytest.fixture
def small_queue_broker(mosquitto: Any) -> Any:
    """The private Mosquitto, restarted with a queue per offline client that fits the gateway's burst."""
    mosquitto.stop()
    text = mosquitto.config_path.read_text()
    mosquitto.config_path.write_text(
        text.replace("max_queued_messages 200000", f"max_queued_messages {QUEUED}")
    )
    mosquitto.start()
    return mosquitto


def wait_presence(settings: MqttSettings, state: bytes, timeout: float = 20) -> None:
    """Until the gateway's retained presence says `state` (what the edge agent follows)."""
    seen = threading.Event()
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"presence-{time.monotonic_ns()}")
    client.on_message = lambda c, u, message: seen.set() if state in message.payload else None
    client.on_connect = lambda c, *_: c.subscribe(topics.gateway_presence(GATEWAY_ID), 1)
    client.connect(settings.host, settings.port)
    client.loop_start()
    try:
        assert seen.wait(timeout), f"the gateway's presence never showed {state!r}"
    finally:
        client.disconnect()
        client.loop_stop()


def rate_limited(gateway: Gateway) -> int:
    with sqlite3.connect(f"file:{gateway.db_path}?mode=ro", uri=True, timeout=10) as db:
        query = "SELECT count(*) FROM dead_letters WHERE reason = 'rate_limited'"
        return int(db.execute(query).fetchone()[0])


def sent_rate(edge: Edge, since: float) -> float:
    """Signals per second the edge got PUBACKed from `since` on (its outbox's `sent` times)."""
    with sqlite3.connect(f"file:{edge.state_dir / 'outbox.db'}?mode=ro", uri=True, timeout=10) as db:
        query = "SELECT count(*), min(sent), max(sent) FROM outbox WHERE sent >= ?"
        count, first, last = db.execute(query, (since,)).fetchone()
    return float((count - 1) / (last - first)) if count > 1 and last > first else 0.0


def test_the_shipped_defaults_keep_the_edge_below_the_gateways_limit() -> None:
    """The relations the paced test relies on, in the shipped defaults: the broker's queue for the
    gateway drains through the burst, the edge's pace and burst stay below the gateway's."""
    conf = (REPO / "deploy" / "mosquitto" / "mosquitto.conf").read_text()
    match = re.search(r"(?m)^max_queued_messages (\d+)$", conf)
    assert match is not None
    gateway, edge = IngestRateLimits(), OutboxSettings()
    assert gateway.agent_burst >= int(match.group(1))
    assert RateLimits(**gateway.model_dump()) == RateLimits()  # the ingest's dataclass matches its config
    assert edge.max_publish_per_s < gateway.agent_per_s
    assert edge.publish_burst < gateway.agent_burst


@pytest.mark.slow
@pytest.mark.parametrize("pace", [PACED, UNPACED], ids=["paced-below-the-limit", "unpaced-control"])
def test_a_replayed_backlog_paced_below_the_limit_is_applied_whole(
    small_queue_broker: Any,
    tmp_path: Path,
    processes: list[Any],
    monkeypatch: pytest.MonkeyPatch,
    pace: int,
) -> None:
    broker = small_queue_broker
    monkeypatch.setenv("SMARTSTORE_INGEST_RATE", json.dumps(GATEWAY_LIMITS))  # read by the gateway child
    gateway = Gateway(tmp_path / "gateway.db", broker.url)
    processes.append(gateway)
    gateway.start()  # its persistent session exists: the broker queues for it while it is down
    assert gateway.process is not None
    gateway.process.terminate()  # a clean stop: its presence turns offline at once
    gateway.process.wait(20)
    wait_presence(broker.settings, b'"offline"')

    burst = {"SMARTSTORE_EDGE_OUTBOX__PUBLISH_BURST": "50" if pace == PACED else str(UNPACED)}
    edge = Edge(
        tmp_path / "edge",
        broker.url,
        tmp_path / "edge.log",
        SMARTSTORE_EDGE_OUTBOX__MAX_PUBLISH_PER_S=str(pace),
        **burst,
    )
    processes.append(edge)
    edge.start()
    edge.wait_online(broker.settings)
    device = Device(broker.settings)
    processes.append(device)
    started = time.time()
    # At a pace the edge keeps up with: the small queue per offline client bounds the edge's session too.
    device.publish(door_events(TOTAL), per_second=DEVICE_RATE)
    wait_for(lambda: len(edge.outbox()) == TOTAL, 10, "a signal for every door event")
    wait_for(lambda: len(edge.outbox("sent IS NOT NULL")) == TOTAL, 20, "every signal PUBACKed")
    first_rate = sent_rate(edge, started)
    produced = set(edge.outbox())

    returned = time.time()
    gateway.start()  # the broker's queue arrives at once; online, the edge replays its whole tail
    wait_for(lambda: "acknowledged since" in edge.log(), 10, "the edge's replay")
    wait_for(lambda: not edge.outbox("sent IS NULL"), 30, "the replay PUBACKed")
    if pace == PACED:
        wait_for(lambda: len(gateway.applied_ids()) >= TOTAL, 20, "every signal applied")
    time.sleep(1.5)  # the last replayed signals (duplicates or refused) reach the gateway's database
    applied, refused = gateway.applied_ids(), rate_limited(gateway)
    replay_rate = sent_rate(edge, returned)
    replayed = edge.log().split("gateway online: sending the ")[-1].split(" ")[0]
    print(
        f"\npace {pace}/s vs limit {GATEWAY_LIMITS}: sent {TOTAL} ({first_rate:.0f}/s), replayed {replayed} "
        f"({replay_rate:.0f}/s), applied {len(applied)}, duplicates {len(applied) - len(set(applied))}, "
        f"rate_limited {refused}"
    )
    if pace == UNPACED:  # the control: without pacing the same replay is refused, and signals lost
        assert refused > 0
        assert len(set(applied)) < TOTAL
        return
    assert refused == 0
    assert len(applied) == len(set(applied)) == TOTAL
    assert set(applied) == produced
    # 1,250 raises, each cleared by the next event: a raise applied twice would open another alert.
    assert gateway.alert_rows() == TOTAL // 2
    assert 0.75 * PACED <= replay_rate <= 1.1 * PACED
