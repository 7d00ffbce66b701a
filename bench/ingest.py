"""Ingest benchmark: a bare paho subscriber vs the gateway's SignalConsumer, and latency at a fixed load.

    python bench/ingest.py [--n 20000] [--rate 2000] [--seconds 5] [--db-url URL]
                           [--poison-every K [--no-precheck]]

Runs its own Mosquitto on a free port (no persistence, unlimited queues: QoS 1 never drops). The
publisher is a separate process that publishes in windows (paho cannot keep more than 65,535 QoS 1
messages in flight). Throughput (a) and (b) drain a backlog of N stock signals queued for a persistent
session, so they measure the consumer alone, not the publisher sharing its CPU; both are timed from the
broker connection (the gateway's receiver-process spawn before it is printed apart). Latency (c) offers a
steady `--rate` while the gateway runs: signal `ts` at publish -> the commit that applied it.
`--poison-every K` mixes one poison status (valid, but PostgreSQL refuses it: a NUL in `firmware`, or
NaN in `info`, alternately) after every K signals of (b) and (c); `--no-precheck` switches off the
gateway's check for such values, so that they fail the batch's insert (isolation alone is measured).
The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from smartstore.gateway.config import GatewaySettings
from smartstore.gateway.db.models import AppliedEvent
from smartstore.gateway.ingest.consumer import SignalConsumer
from smartstore.gateway.inventory.catalog import sync_stores
from smartstore.gateway.runtime import GatewayRuntime
from smartstore.kernel.contract import payloads as p
from smartstore.kernel.contract import topics
from smartstore.kernel.mqtt import MqttSettings
from smartstore.kernel.storeconfig import EXAMPLE_STORE, load_store
from smartstore.launcher.broker import MOSQUITTO_BENCH_CONFIG, MosquittoProcess, free_port

WINDOW = 20_000  # QoS 1 messages a publisher keeps in flight at most
COUNTS_PER_SIGNAL = 2
AGENT = "edge-1"  # an agent the example store names (the default of devices.agents)


# --- publisher process ---------------------------------------------------------------------------


def event_ids(prefix: str, n: int) -> list[str]:
    return [f"{prefix}-{i:08d}" for i in range(n)]


def _stock_payload(
    event_id: str, seq: int, zones: Sequence[str], gtins: Sequence[str], rng: random.Random
) -> bytes:
    counts = [
        p.ZoneCount(zone=rng.choice(zones), gtin=rng.choice(gtins), count=rng.randint(0, 40))
        for _ in range(COUNTS_PER_SIGNAL)
    ]
    signal = p.StockSignal(v=1, id=event_id, ts=datetime.now(UTC), seq=seq, counts=counts)
    return p.encode(signal)


def _poison_payload(index: int) -> bytes:
    """A device status that passes the contract but not PostgreSQL: NUL in text, or NaN in JSON."""
    envelope = {"v": 1, "id": f"poison-{index:08d}", "ts": datetime.now(UTC).isoformat(), "seq": index}
    if index % 2:
        return json.dumps({**envelope, "state": "online", "firmware": "1.0\u0000x"}).encode()
    return json.dumps({**envelope, "state": "online", "info": {"temp": float("nan")}}).encode()


def publish(url: str, prefix: str, n: int, rate: float | None, ready: Any, poison_every: int = 0) -> None:
    """Publish n stock signals as fast as possible (rate None) or at `rate` per second, and one poison
    status after every `poison_every` signals (0: none)."""
    store = load_store(EXAMPLE_STORE)
    zones = [zone.id for zone in store.zones]
    gtins = [product.gtin for product in store.catalog]
    rng = random.Random(7)
    topic = topics.signal(store.store.id, AGENT, topics.SignalType.STOCK)
    poison_topic = topics.status(store.store.id, topics.Kind.EDGE, AGENT)
    settings = MqttSettings(url=url)
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{prefix}", protocol=paho.MQTTv5)
    client.max_inflight_messages_set(WINDOW)
    client.max_queued_messages_set(0)
    client.connect(settings.host, settings.port)
    client.loop_start()
    ids = event_ids(prefix, n)
    # Backlog runs encode everything first, so the broker gets the messages as one burst.
    prepared = [] if rate else [_stock_payload(e, i + 1, zones, gtins, rng) for i, e in enumerate(ids)]
    ready.set()
    started = time.perf_counter()
    window: list[paho.MQTTMessageInfo] = []
    for index, event_id in enumerate(ids):
        if rate:
            due = started + index / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            payload = _stock_payload(event_id, index + 1, zones, gtins, rng)
        else:
            payload = prepared[index]
        window.append(client.publish(topic, payload, qos=1))
        if poison_every and index % poison_every == poison_every - 1:
            window.append(client.publish(poison_topic, _poison_payload(index), qos=1))
        if len(window) >= WINDOW:
            for info in window:
                info.wait_for_publish(60)
            window.clear()
    for info in window:
        info.wait_for_publish(60)
    client.disconnect()
    client.loop_stop()


def run_publisher(
    url: str, prefix: str, n: int, rate: float | None = None, poison_every: int = 0
) -> multiprocessing.Process:
    ready = multiprocessing.Event()
    args = (url, prefix, n, rate, ready, poison_every)
    process = multiprocessing.Process(target=publish, args=args, daemon=True)
    process.start()
    if not ready.wait(120):
        raise SystemExit("publisher did not start")
    return process


# --- (a) baseline: a bare paho subscriber ------------------------------------------------------


def _persistent_subscriber(url: str, client_id: str, on_message: Any) -> paho.Client:
    settings = MqttSettings(url=url)
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    subscribed = threading.Event()
    client.on_connect = lambda c, *_: c.subscribe(topics.signals_filter(), qos=1)
    client.on_subscribe = lambda *_: subscribed.set()
    client.on_message = on_message
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = 3600
    properties.ReceiveMaximum = 65535
    client.connect(settings.host, settings.port, clean_start=False, properties=properties)
    client.loop_start()
    if not subscribed.wait(10):
        raise SystemExit("baseline subscriber did not subscribe")
    return client


def baseline_rate(url: str, n: int) -> float:
    received = 0
    done = threading.Event()
    first_at = 0.0

    def on_message(client: paho.Client, userdata: object, message: paho.MQTTMessage) -> None:
        nonlocal received, first_at
        if not first_at:
            first_at = time.perf_counter()
        received += 1
        if received >= n:
            done.set()

    client_id = f"bench-baseline-{uuid.uuid4().hex[:6]}"
    # Create the persistent session, leave, let the backlog build, come back and drain it.
    client = _persistent_subscriber(url, client_id, on_message)
    client.disconnect()
    client.loop_stop()
    run_publisher(url, "base", n).join()
    started = time.perf_counter()
    client = _persistent_subscriber(url, client_id, on_message)
    if not done.wait(300):
        raise SystemExit(f"baseline received only {received} of {n}")
    elapsed = time.perf_counter() - started
    client.disconnect()
    client.loop_stop()
    return n / elapsed


# --- (b) and (c): the gateway ----------------------------------------------------------------


class Applied:
    """Commit listener: when each event id was committed, and how often."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.times: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)

    def __call__(self, ids: Sequence[str], committed_at: float) -> None:
        with self.changed:
            for event_id in ids:
                self.times[event_id] += 1
                self.at.setdefault(event_id, committed_at)
            self.changed.notify_all()

    def wait_for(self, ids: set[str], timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: ids.issubset(self.at), timeout)


def build_runtime(url: str, db_url: str, gateway_id: str) -> GatewayRuntime:
    settings = GatewaySettings(db_url=db_url, mqtt=MqttSettings(url=url), gateway_id=gateway_id)
    runtime = GatewayRuntime.build(settings)
    sync_stores(runtime.sessions, runtime.stores)
    return runtime


def gateway_rate(
    runtime: GatewayRuntime, url: str, n: int, poison_every: int = 0
) -> tuple[float, float, Applied, set[str], SignalConsumer]:
    first = runtime.new_consumer()
    first.start()
    if not first.wait_ready(10):
        raise SystemExit("gateway did not connect")
    first.stop()
    run_publisher(url, "gw", n, poison_every=poison_every).join()
    applied = Applied()
    consumer = runtime.new_consumer()
    consumer.add_commit_listener(applied)
    launched = time.time()
    consumer.start()
    # Timed from the broker connection, like the baseline: spawning the receiver process (about
    # 0.3-0.5 s, once per gateway start) is start-up, not ingest. It is reported on its own.
    while not consumer.connected:
        time.sleep(0.0005)
    started = time.time()
    expected = set(event_ids("gw", n))
    if not applied.wait_for(expected, 300):
        raise SystemExit(f"gateway applied only {len(applied.at)} of {n}")
    elapsed = max(applied.at.values()) - started
    return n / elapsed, started - launched, applied, expected, consumer


def latency(
    url: str,
    runtime: GatewayRuntime,
    consumer: SignalConsumer,
    applied: Applied,
    rate: float,
    seconds: float,
    poison_every: int = 0,
) -> dict[str, Any]:
    n = int(rate * seconds)
    expected = set(event_ids("lat", n))
    publisher = run_publisher(url, "lat", n, rate, poison_every)
    publisher.join(seconds * 5 + 60)
    applied.wait_for(expected, 60)
    consumer.wait_idle(10)
    with runtime.sessions() as session:
        rows = session.execute(
            select(AppliedEvent.event_id, AppliedEvent.event_ts).where(AppliedEvent.event_id.like("lat-%"))
        ).all()
    published_at = {event_id: _epoch(ts) for event_id, ts in rows}
    delays = sorted(
        (applied.at[e] - published_at[e]) * 1000 for e in expected if e in applied.at and e in published_at
    )
    if not delays:
        raise SystemExit("no latency sample")
    return {
        "n": n,
        "p50_ms": round(statistics.median(delays), 2),
        "p99_ms": round(delays[min(len(delays) - 1, int(len(delays) * 0.99))], 2),
        "max_ms": round(delays[-1], 2),
        "expected": expected,
    }


def _epoch(value: datetime) -> float:
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="signals for the throughput runs")
    parser.add_argument(
        "--rate", type=float, default=2000, help="offered load for the latency run, signals/s"
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="length of the latency run")
    parser.add_argument("--db-url", help="gateway database (default: SQLite WAL in a temp dir)")
    parser.add_argument("--poison-every", type=int, default=0, help="one poison status per K signals")
    parser.add_argument("--no-precheck", action="store_true", help="let poison fail the batch insert")
    args = parser.parse_args(argv)
    if args.no_precheck:
        from smartstore.gateway.ingest import decode

        if hasattr(decode, "storage_problem"):
            decode.storage_problem = lambda raw, payload: None
    workdir = Path(tempfile.mkdtemp(prefix="smartstore-bench-"))
    broker = MosquittoProcess(free_port(), directory=workdir, config_template=MOSQUITTO_BENCH_CONFIG)
    broker.start()
    url = broker.url
    try:
        db_url = args.db_url or f"sqlite:///{workdir / 'gateway.db'}"
        base = baseline_rate(url, args.n)
        print(f"(a) baseline paho subscriber, QoS 1: {base:,.0f} msg/s ({args.n} signals)")
        runtime = build_runtime(url, db_url, "bench-gateway")
        rate, start_s, applied, expected, consumer = gateway_rate(runtime, url, args.n, args.poison_every)
        engine = db_url.split(":")[0]
        print(f"(b) gateway SignalConsumer ({engine}): {rate:,.0f} applied/s; {consumer.stats}")
        print(f"    start() -> broker connected (receiver process spawn): {start_s:.2f} s")
        lat = latency(url, runtime, consumer, applied, args.rate, args.seconds, args.poison_every)
        figures = f"p50 {lat['p50_ms']} ms, p99 {lat['p99_ms']} ms, max {lat['max_ms']} ms"
        if args.poison_every:
            poison = rate / args.poison_every
            print(f"    poison: 1 per {args.poison_every} signals = {poison:.1f}/s in (b); {consumer.stats}")
        print(f"(c) at {args.rate:,.0f}/s for {args.seconds:g} s: {figures}")
        everything = expected | lat["expected"]
        with runtime.sessions() as session:
            stored = set(session.scalars(select(AppliedEvent.event_id)))
        # Lost: published, never committed. Duplicated: committed by more than one batch.
        lost = len(everything - stored)
        duplicated = sum(count - 1 for count in applied.times.values() if count > 1)
        consumer.stop()
        print(f"lost {lost}, duplicated {duplicated}, duplicates skipped {consumer.stats.duplicates}")
        result = {
            "bench": "ingest",
            "rate": round(rate),
            "baseline_rate": round(base),
            "ratio": round(rate / base, 3),
            "p99_ms": lat["p99_ms"],
            "p50_ms": lat["p50_ms"],
            "lost": lost,
            "duplicated": duplicated,
            "start_s": round(start_s, 2),
            "poison_every": args.poison_every,
            "rejected": consumer.stats.rejected,
        }
        runtime.engine.dispose()
    finally:
        broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
