"""Rate limits per source at the ingest: a token bucket per (store, kind, device), the excess dead-lettered
as `rate_limited` before it is parsed; a flooding source loses only its excess, others nothing (real broker,
SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from gateway_helpers import AGENT, MILK, STORE, Publisher, RuntimeConsumer, Signals, send
from polling import wait_until
from sqlalchemy import select

from smartstore.gateway.config import IngestRateLimits
from smartstore.gateway.db.models import AppliedEvent, DeadLetter
from smartstore.gateway.ingest.decode import Accepted, Classifier, Inbound, Refused
from smartstore.gateway.ingest.limits import RateLimits, SourceBuckets
from smartstore.gateway.runtime import GatewayRuntime
from smartstore.kernel.contract import payloads as p
from smartstore.kernel.contract import topics
from smartstore.kernel.contract.validation import RejectReason
from smartstore.kernel.storeconfig import StoreConfig

ConsumerFactory = Callable[..., RuntimeConsumer]
OTHER_AGENT = "demo-hand"  # the example store's second agent
READER, OTHER_READER = "reader-aisle-1", "reader-aisle-2"


def _rate_limited(runtime: GatewayRuntime) -> list[DeadLetter]:
    with runtime.sessions() as session:
        query = select(DeadLetter).where(DeadLetter.reason == RejectReason.RATE_LIMITED.value)
        return list(session.scalars(query))


def _applied_ids(runtime: GatewayRuntime) -> set[str]:
    with runtime.sessions() as session:
        return set(session.scalars(select(AppliedEvent.event_id)))


def _metric(runtime: GatewayRuntime, name: str, **labels: str) -> float:
    return runtime.metrics.registry.get_sample_value(name, labels) or 0.0


def _status(seq: int) -> bytes:
    return json.dumps({**p.envelope(seq), "state": "online"}, default=str).encode()


def test_a_bucket_grants_its_burst_then_its_rate_per_source() -> None:
    buckets = SourceBuckets(RateLimits(agent_per_s=10, agent_burst=5, device_per_s=1, device_burst=2))
    agent, reader = (STORE, "edge", AGENT), (STORE, "rfid", READER)
    assert [buckets.admit(agent, 0.0) for _ in range(7)] == [True] * 5 + [False] * 2
    assert [buckets.admit(reader, 0.0) for _ in range(3)] == [True, True, False]
    assert buckets.admit(agent, 0.1)  # 10/s: one token after 0.1 s
    assert not buckets.admit(agent, 0.1)
    assert buckets.admit(reader, 1.0)
    assert not buckets.admit(reader, 1.0)
    assert [buckets.admit(agent, 100.0) for _ in range(6)] == [True] * 5 + [False]  # never above the burst
    assert buckets.admit(agent, 99.0) is False  # a clock going back grants nothing
    assert not buckets.admit(agent, 100.05)  # nor does its return: 0.05 s after the latest time seen
    assert buckets.refused == 8


def test_the_classifier_refuses_the_excess_before_parsing(example_store: StoreConfig) -> None:
    now = [0.0]
    limits = RateLimits(agent_per_s=1, agent_burst=2)
    classifier = Classifier({STORE: example_store}, rates=limits, clock=lambda: now[0])
    topic = topics.signal(STORE, AGENT, topics.SignalType.STOCK)
    junk = Inbound(topic, b"not json", 1, 1, 1)
    outcomes = [classifier.classify(junk) for _ in range(3)]
    # The first two are parsed (and refused as invalid JSON), the third is not even looked at.
    assert [o.reason for o in outcomes if isinstance(o, Refused)] == [
        RejectReason.INVALID_JSON,
        RejectReason.INVALID_JSON,
        RejectReason.RATE_LIMITED,
    ]
    assert "edge-1" in outcomes[2].detail  # type: ignore[union-attr]
    now[0] = 1.0
    good = Signals().stock([("aisle-1", MILK, 3)])
    outcome = classifier.classify(Inbound(topic, p.encode(good), 2, 1, 1))
    assert isinstance(outcome, Accepted)
    # Garbage topics are refused for what they are, and never get a bucket.
    stranger = classifier.classify(Inbound("smartstore/v1/nowhere/edge/x/signal/stock", b"{}", 3, 1, 1))
    assert isinstance(stranger, Refused)
    assert stranger.reason is RejectReason.UNKNOWN_STORE
    assert len(classifier.buckets._buckets) == 1


def test_a_flooding_agent_loses_only_its_excess_and_other_sources_nothing(
    consumer_factory: ConsumerFactory, publisher: Publisher
) -> None:
    rates = IngestRateLimits(agent_per_s=20, agent_burst=50, device_per_s=2, device_burst=10)
    runtime = consumer_factory(ingest_rate=rates).runtime
    flooder, quiet = Signals(), Signals()
    flood_ids: list[str] = []
    quiet_ids: list[str] = []
    started = time.monotonic()
    for index in range(600):
        flood_ids.append(send(publisher, flooder.stock([("aisle-1", MILK, index % 40)])))
        if index % 60 == 0:  # another agent and a device keep talking, well within their budgets
            signal = quiet.alert(f"test.quiet:{index}")
            publisher.publish(topics.signal(STORE, OTHER_AGENT, topics.SignalType.ALERT), p.encode(signal))
            quiet_ids.append(str(signal.id))
            publisher.publish(topics.status(STORE, topics.Kind.RFID, READER), _status(index + 1))
    received = "smartstore_messages_received_total"

    def all_handled() -> bool:
        kinds = ("stock", "alert", "status")
        return sum(_metric(runtime, received, kind=kind) for kind in kinds) >= 620

    wait_until(all_handled, 30, "every message handled")
    elapsed = time.monotonic() - started
    applied, refused = _applied_ids(runtime), _rate_limited(runtime)
    refused_ids = {json.loads(letter.payload)["id"] for letter in refused}
    assert set(quiet_ids) <= applied  # the other agent lost nothing
    assert all(AGENT in letter.topic and "/signal/stock" in letter.topic for letter in refused)
    flood_applied = applied & set(flood_ids)
    # Every flood signal either applied or kept as a rate_limited dead letter: none lost, none both.
    assert flood_applied | refused_ids == set(flood_ids)
    assert not flood_applied & refused_ids
    # The bucket's budget over the flood's lifetime, no more and (timing aside) no less.
    assert 50 <= len(flood_applied) <= 50 + 20 * elapsed + 1
    assert len(refused) >= 600 - 50 - 20 * elapsed - 1
    assert _metric(runtime, "smartstore_messages_rejected_total", reason="rate_limited") == len(refused)


def test_a_flooding_device_loses_only_its_excess(
    consumer_factory: ConsumerFactory, publisher: Publisher
) -> None:
    rates = IngestRateLimits(device_per_s=5, device_burst=20)
    runtime = consumer_factory(ingest_rate=rates).runtime
    flood_topic = topics.status(STORE, topics.Kind.RFID, READER)
    quiet_topic = topics.status(STORE, topics.Kind.RFID, OTHER_READER)
    signals = Signals()
    started = time.monotonic()
    for index in range(300):
        publisher.publish(flood_topic, _status(index + 1))
        if index % 30 == 0:
            publisher.publish(quiet_topic, _status(index + 1))
            send(publisher, signals.alert(f"test.agent:{index}"))

    def all_handled() -> bool:
        kinds: tuple[Any, ...] = ("status", "alert")
        return sum(_metric(runtime, "smartstore_messages_received_total", kind=k) for k in kinds) >= 320

    wait_until(all_handled, 30, "every message handled")
    elapsed = time.monotonic() - started
    refused = _rate_limited(runtime)
    assert {letter.topic for letter in refused} == {flood_topic}
    assert 300 - 20 - 5 * elapsed - 1 <= len(refused) <= 300 - 20
    assert _metric(runtime, "smartstore_signals_applied_total", type="alert") == 10


def _rss_mib(pid: int | str, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field} for {pid}")


@pytest.mark.slow
def test_flood_figures(consumer_factory: ConsumerFactory, publisher: Publisher) -> None:
    """docs/reliability.md: for 10 s an agent floods at 10x its (scaled) budget and a reader at 10x the
    default device budget, while a second agent and a second reader talk normally."""
    rates = IngestRateLimits(agent_per_s=100, agent_burst=500)  # devices: the defaults, 5/s burst 60
    consumer = consumer_factory(ingest_rate=rates)
    runtime = consumer.runtime
    before = _rss_mib("self")
    flooder, quiet = Signals(), Signals()
    sent: Counter[str] = Counter()
    flood_ids: list[str] = []
    quiet_ids: list[str] = []
    started = time.monotonic()
    for tick in range(1000):  # 10 ms ticks: agent 1,000/s, reader 50/s, others 10/s and 0.5/s
        for _ in range(10):
            flood_ids.append(send(publisher, flooder.stock([("aisle-1", MILK, tick % 40)])))
        sent["agent"] += 10
        if tick % 2 == 0:
            publisher.publish(topics.status(STORE, topics.Kind.RFID, READER), _status(tick + 1))
            sent["reader"] += 1
        if tick % 10 == 0:
            signal = quiet.alert(f"test.quiet:{tick}")
            publisher.publish(topics.signal(STORE, OTHER_AGENT, topics.SignalType.ALERT), p.encode(signal))
            quiet_ids.append(str(signal.id))
        if tick % 200 == 0:
            publisher.publish(topics.status(STORE, topics.Kind.RFID, OTHER_READER), _status(tick + 1))
            sent["other_reader"] += 1
        time.sleep(max(0.0, started + (tick + 1) / 100 - time.monotonic()))
    sending_s = time.monotonic() - started
    total = sum(sent.values()) + len(quiet_ids)
    received = "smartstore_messages_received_total"
    kinds = ("stock", "alert", "status")
    wait_until(lambda: sum(_metric(runtime, received, kind=k) for k in kinds) >= total, 60, "flood handled")
    handled_s = time.monotonic() - started
    applied = _applied_ids(runtime)
    letters = _rate_limited(runtime)
    by_topic = Counter(letter.topic for letter in letters)
    agent_refused = sum(n for topic, n in by_topic.items() if "/signal/stock" in topic)
    reader_refused = by_topic[topics.status(STORE, topics.Kind.RFID, READER)]
    agent_applied = len(applied & set(flood_ids))
    figures = {
        "sending_s": round(sending_s, 1),
        "handled_s": round(handled_s, 1),
        "agent sent/applied/refused": (sent["agent"], agent_applied, agent_refused),
        "reader sent/accepted/refused": (sent["reader"], sent["reader"] - reader_refused, reader_refused),
        "quiet agent sent/applied": (len(quiet_ids), len(applied & set(quiet_ids))),
        "quiet reader refused": by_topic[topics.status(STORE, topics.Kind.RFID, OTHER_READER)],
        "gateway RSS growth MiB": round(_rss_mib("self") - before, 1),
        "receiver peak MiB": round(_rss_mib(consumer._receiver.pid or 0, "VmHWM"), 1),
    }
    print("\nflood figures:", figures)
    assert agent_applied + agent_refused == sent["agent"]  # nothing lost: applied or dead-lettered
    assert 500 <= agent_applied <= 500 + 100 * handled_s + 1
    assert 60 <= sent["reader"] - reader_refused <= 60 + 5 * handled_s + 1
    assert len(applied & set(quiet_ids)) == len(quiet_ids)
    assert figures["quiet reader refused"] == 0
