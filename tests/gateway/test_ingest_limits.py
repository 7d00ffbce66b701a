"""Hostile input at the ingest: size limits per topic, bounded dead letters, values the database refuses,
signals from agents the store file does not name (real broker, SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import json
import math
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from gateway_helpers import AGENT, MILK, STORE, Publisher, RuntimeConsumer, Signals, send, signal_topic
from polling import wait_until
from sqlalchemy import func, select

from smartstore.gateway.api.app import create_app
from smartstore.gateway.db.models import Alert, DeadLetter, Device, Inventory
from smartstore.gateway.db.util import utc_now
from smartstore.gateway.ingest.commit import BatchCommitter
from smartstore.gateway.ingest.deadletters import DeadLetterPolicy, prune_dead_letters
from smartstore.gateway.ingest.decode import Inbound
from smartstore.gateway.ingest.guarded_link import SizeGuardedLink
from smartstore.gateway.ingest.writer import BatchWriter
from smartstore.gateway.runtime import GatewayRuntime
from smartstore.gateway.security import Role, create_api_key
from smartstore.kernel.contract import payloads as p
from smartstore.kernel.contract import topics
from smartstore.kernel.contract.validation import JPEG_MAGIC
from smartstore.kernel.mqtt import MqttSettings

ConsumerFactory = Callable[..., RuntimeConsumer]
RuntimeFactory = Callable[..., GatewayRuntime]
STATUS_EDGE = topics.status(STORE, topics.Kind.EDGE, AGENT)


def _metric(runtime: GatewayRuntime, name: str, **labels: str) -> float:
    return runtime.metrics.registry.get_sample_value(name, labels) or 0.0


def _letters(runtime: GatewayRuntime) -> list[DeadLetter]:
    with runtime.sessions() as session:
        return list(session.scalars(select(DeadLetter).order_by(DeadLetter.id)))


def _status(**fields: Any) -> bytes:
    return json.dumps({**p.envelope(1), "state": "online", **fields}, default=str).encode()


def test_oversized_messages_are_refused_unparsed_and_kept_as_an_excerpt_with_size_and_hash(
    consumer_factory: ConsumerFactory, publisher: Publisher, signals: Signals
) -> None:
    consumer = consumer_factory(max_signal_bytes=4096, max_status_bytes=2048)
    runtime = consumer.runtime
    stock_topic = topics.signal(STORE, AGENT, topics.SignalType.STOCK)
    # Not even JSON: refused for its size, so it was never parsed.
    huge = b"{" + b"x" * 200_000
    status = _status(info={"pad": "y" * 3000})  # under the signal limit, over the status limit
    publisher.publish(stock_topic, huge)
    publisher.publish(STATUS_EDGE, status)
    send(publisher, signals.stock([("aisle-1", MILK, 4)]))
    wait_until(lambda: consumer.stats.applied == 1 and consumer.stats.rejected == 2, what="all three")

    letters = _letters(runtime)
    assert [(letter.topic, letter.reason) for letter in letters] == [
        (stock_topic, "too_large"),
        (STATUS_EDGE, "too_large"),
    ]
    for letter, sent in zip(letters, (huge, status), strict=True):
        assert letter.payload == sent[:1024]
        assert (letter.payload_size, letter.payload_sha256) == (len(sent), hashlib.sha256(sent).hexdigest())
    assert "200001 bytes > 4096" in letters[0].detail
    assert f"{len(status)} bytes > 2048" in letters[1].detail
    assert _metric(runtime, "smartstore_messages_rejected_total", reason="too_large") == 2
    with runtime.sessions() as session:
        assert session.get(Inventory, (STORE, MILK)).salesfloor == 4  # type: ignore[union-attr]


def test_a_flood_of_bad_messages_leaves_a_bounded_dead_letter_table(
    consumer_factory: ConsumerFactory, publisher: Publisher, signals: Signals
) -> None:
    consumer = consumer_factory(dead_letter_max_rows=50)
    runtime = consumer.runtime
    topic = topics.signal(STORE, AGENT, topics.SignalType.STOCK)
    flood = 1500
    for n in range(flood):
        publisher.publish(topic, b"not json %d" % n + b" " * 2000, wait=False)
    send(publisher, signals.stock([("aisle-1", MILK, 7)]))
    wait_until(
        lambda: consumer.stats.rejected == flood and consumer.stats.applied == 1, timeout=30, what="flood"
    )

    with runtime.sessions() as session:
        kept = session.scalar(select(func.count()).select_from(DeadLetter)) or 0
        longest = session.scalar(select(func.max(func.length(DeadLetter.payload))))
    assert 50 <= kept <= 50 + 5  # max_rows + its slack (a tenth)
    assert longest == 1024
    assert _metric(runtime, "smartstore_dead_letters_pruned_total") == flood - kept
    assert _metric(runtime, "smartstore_messages_rejected_total", reason="invalid_json") == flood
    newest = _letters(runtime)[-1]
    assert newest.payload.startswith(b"not json %d" % (flood - 1))


def test_dead_letters_are_pruned_by_age_and_by_count(runtime: GatewayRuntime) -> None:
    now = utc_now()
    with runtime.sessions() as session:
        for n in range(30):
            age = timedelta(days=10) if n < 5 else timedelta(minutes=30 - n)
            session.add(
                DeadLetter(
                    received_at=now - age, topic="t", reason="invalid_json", detail=str(n), payload=b""
                )
            )
        session.commit()
        policy = DeadLetterPolicy(max_rows=20, max_age=timedelta(days=7))
        assert prune_dead_letters(session, policy, now) == 10  # 5 too old, then 5 beyond the newest 20
        session.commit()
        kept = [int(d) for d in session.scalars(select(DeadLetter.detail).order_by(DeadLetter.id))]
    assert kept == list(range(10, 30))


POISON: list[tuple[str, bytes, str]] = [
    (STATUS_EDGE, _status(firmware="1.0\u0000evil"), "firmware: NUL character"),
    (
        STATUS_EDGE,
        b'{"v":1,"id":"poison-nan-1","ts":"2025-01-01T00:00:00Z","seq":2,"state":"online",'
        b'"info":{"temp":NaN}}',
        "info.temp: nan is not a finite number",
    ),
    (STATUS_EDGE, _status(info={"temp": 1e999}), "not a finite number"),
    (STATUS_EDGE, _status(info={"bad\u0000key": 1}), "NUL character"),
]


def test_values_the_database_refuses_are_dead_lettered_before_the_batch(
    consumer_factory: ConsumerFactory, publisher: Publisher, signals: Signals
) -> None:
    consumer = consumer_factory()
    runtime = consumer.runtime
    alert = signals.alert("cause-1")
    nul_alert = json.loads(p.encode(alert))
    nul_alert.update(id="poison-nul-alert", message="door\u0000open")
    cases = [*POISON, (signal_topic(alert), json.dumps(nul_alert).encode(), "message: NUL character")]
    huge_count = json.loads(p.encode(signals.stock([("aisle-1", MILK, 1)])))
    huge_count["counts"][0]["count"] = 2**40
    cases.append(
        (
            signal_topic(signals.stock([])),
            json.dumps(huge_count).encode(),
            "counts.0.count: 1099511627776 is out of range",
        )
    )
    isolations: list[int] = []
    isolate = consumer._committer._isolate
    consumer._committer._isolate = lambda batch: isolations.append(len(batch)) or isolate(batch)  # type: ignore[method-assign]

    for n, (topic, payload, _) in enumerate(cases):
        publisher.publish(topic, payload)
        send(publisher, signals.stock([("aisle-1", MILK, n + 1)]))
    wait_until(
        lambda: consumer.stats.applied == len(cases) and consumer.stats.rejected == len(cases), what="all"
    )
    letters = _letters(runtime)
    assert [letter.reason for letter in letters] == ["invalid_payload"] * len(cases)
    for letter, (_, _, expected) in zip(letters, cases, strict=True):
        assert expected in letter.detail
    assert isolations == []  # refused by the check, not by a failed transaction
    with runtime.sessions() as session:
        assert session.get(Inventory, (STORE, MILK)).salesfloor == len(cases)  # type: ignore[union-attr]


def _inbound(topic: str, payload: bytes, mid: int) -> Inbound:
    return Inbound(topic, payload, mid, 1, 1)


def test_a_batch_the_database_refuses_is_bisected_not_replayed_one_by_one(
    runtime_factory: RuntimeFactory, signals: Signals, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the pre-check switched off, PostgreSQL itself refuses a NUL: the batch is bisected, the
    other messages applied in about 2·log2(n) transactions, the culprit dead-lettered."""
    runtime = runtime_factory()
    if runtime.engine.dialect.name != "postgresql":
        pytest.skip("SQLite stores NUL characters: nothing fails")
    monkeypatch.setattr("smartstore.gateway.ingest.decode.storage_problem", lambda raw, payload: None)
    writer = BatchWriter(runtime.stores)
    committer = BatchCommitter(runtime.engine, runtime.bus, writer, threading.Event())
    transactions = 0
    commit_once = committer._commit_once

    def counted(batch: Any) -> Any:
        nonlocal transactions
        transactions += 1
        return commit_once(batch)

    monkeypatch.setattr(committer, "_commit_once", counted)
    batch = [
        _inbound(signal_topic(alert), p.encode(alert), n)
        for n, alert in enumerate(signals.alert(f"cause-{n}") for n in range(64))
    ]
    poison = json.loads(batch[37].payload)
    poison["message"] = "nul\u0000here"
    batch[37] = _inbound(batch[37].topic, json.dumps(poison).encode(), 37)
    try:
        result = committer.commit(batch)
    finally:
        committer.close()
    assert result is not None
    assert (result.applied, result.rejected_total) == (63, 1)
    assert transactions <= 2 * math.ceil(math.log2(64)) + 1
    letter = _letters(runtime)[0]
    assert "could not be applied" in letter.detail
    assert letter.payload_sha256 is not None
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Alert)) == 63


def test_signals_from_agents_the_store_file_does_not_name_are_refused_and_never_listed(
    consumer_factory: ConsumerFactory, publisher: Publisher, signals: Signals
) -> None:
    consumer = consumer_factory()
    runtime = consumer.runtime
    rogue = signals.stock([("aisle-1", MILK, 99)])
    publisher.publish(signal_topic(rogue, agent="edge-rogue"), p.encode(rogue))
    publisher.publish(topics.status(STORE, topics.Kind.EDGE, "edge-rogue"), _status())
    send(publisher, signals.stock([("aisle-1", MILK, 3)]))  # edge-1, named (by default), not yet announced
    wait_until(lambda: consumer.stats.applied == 1 and consumer.stats.rejected == 2, what="all three")

    letters = _letters(runtime)
    assert [letter.reason for letter in letters] == ["unknown_reference"] * 2
    assert "edge agent 'edge-rogue' is not named" in letters[0].detail
    with runtime.sessions() as session:
        assert session.get(Inventory, (STORE, MILK)).salesfloor == 3  # type: ignore[union-attr]
        edges = session.scalars(select(Device.device_id).where(Device.kind == "edge")).all()
    assert edges == []  # a signal alone makes no device, not even from a named agent

    publisher.publish(STATUS_EDGE, _status())
    wait_until(
        lambda: consumer.stats.rejected == 2 and _edge_devices(runtime) == [AGENT], what="edge-1 listed"
    )


def _edge_devices(runtime: GatewayRuntime) -> list[str]:
    with runtime.sessions() as session:
        return list(session.scalars(select(Device.device_id).where(Device.kind == "edge")))


def test_get_dead_letters_pages_excerpts_even_of_rows_kept_whole_before(runtime: GatewayRuntime) -> None:
    whole = b"z" * 100_000  # a row from before the bound: the payload kept whole, no size column
    with runtime.sessions() as session:
        session.add_all(
            DeadLetter(received_at=utc_now(), topic="t", reason="too_large", detail="d" * 5000, payload=whole)
            for _ in range(3)
        )
        session.commit()
    key = create_api_key(runtime.sessions, Role.ADMIN, "ops")
    with TestClient(create_app(runtime)) as client:
        headers = {"Authorization": f"Bearer {key}"}
        page = client.get("/api/v1/dead-letters", params={"limit": 2, "offset": 1}, headers=headers)
        too_many = client.get("/api/v1/dead-letters", params={"limit": 10_000}, headers=headers)
    assert page.status_code == 200
    body = page.json()
    assert (body["total"], len(body["items"])) == (3, 2)
    for item in body["items"]:
        assert (item["payload"], item["payload_size"]) == ("z" * 1024, 100_000)
        assert len(item["detail"]) == 2000
    assert len(page.content) < 10_000
    assert too_many.status_code == 422


def _memory_mib(pid: int | str, field: str) -> float:
    """VmRSS (now) or VmHWM (peak) of a process, in MiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field} for {pid}")


@pytest.mark.slow
def test_a_flood_of_huge_messages_costs_the_gateway_an_excerpt_each(
    consumer_factory: ConsumerFactory, publisher: Publisher, signals: Signals
) -> None:
    """100 messages of 4 MiB (400 MiB sent): 100 KiB kept, the gateway's memory barely moves."""
    consumer = consumer_factory()
    runtime = consumer.runtime
    topic = topics.signal(STORE, AGENT, topics.SignalType.STOCK)
    before = _memory_mib("self", "VmRSS")
    huge = b"[" * (4 * 1024 * 1024)
    for _ in range(100):
        publisher.publish(topic, huge)
    send(publisher, signals.stock([("aisle-1", MILK, 2)]))
    wait_until(
        lambda: consumer.stats.rejected == 100 and consumer.stats.applied == 1, timeout=50, what="flood"
    )
    receiver_peak = _memory_mib(consumer._receiver.pid or 0, "VmHWM")
    grown = _memory_mib("self", "VmRSS") - before
    with runtime.sessions() as session:
        kept = session.scalar(select(func.sum(func.length(DeadLetter.payload)))) or 0
        sizes = set(session.scalars(select(DeadLetter.payload_size)))
    print(
        f"\nsent 100 x 4 MiB; kept {kept} B; gateway RSS +{grown:.1f} MiB; receiver {receiver_peak:.0f} MiB"
    )
    assert (kept, sizes) == (100 * 1024, {len(huge)})
    assert grown < 50
    assert receiver_peak < 200


def test_a_hostile_topic_is_dead_lettered_in_the_batch_on_any_database(
    runtime: GatewayRuntime, signals: Signals
) -> None:
    """A NUL in a topic (or in a detail quoting it) must not make the dead letter itself unstorable."""
    committer = BatchCommitter(runtime.engine, runtime.bus, BatchWriter(runtime.stores), threading.Event())
    good = signals.stock([("aisle-1", MILK, 5)])
    batch = [
        _inbound(f"smartstore/v1/{STORE}/edge/\x00/signal/stock", p.encode(good), 1),
        _inbound(signal_topic(good), p.encode(good), 2),
    ]
    try:
        result = committer.commit(batch)
    finally:
        committer.close()
    assert result is not None
    assert (result.applied, dict(result.rejected)) == (1, {"bad_topic": 1})
    assert "\\x00" in _letters(runtime)[0].topic


def test_the_side_links_handlers_never_see_an_oversized_message(
    runtime_factory: RuntimeFactory, mosquitto: Any, publisher: Publisher
) -> None:
    """Snapshots, locker events and telemetry: over its topic's limit a message is dead-lettered as
    an excerpt and counted; the handler behind the link gets only what fits."""
    runtime = runtime_factory(
        mqtt=MqttSettings(url=mosquitto.url), gateway_id="gw-side", max_snapshot_bytes=4096
    )
    runtime._build_services()
    side = runtime.services[-1]
    assert isinstance(side, SizeGuardedLink)
    side.start()
    try:
        assert side.wait_subscribed(10)
        snapshot = topics.edge_snapshot(STORE, AGENT, "cam-1l")
        too_big = {
            snapshot: JPEG_MAGIC + b"\0" * 10_000,
            topics.locker_event(STORE, "locker-1"): b"{" + b" " * 20_000,
            topics.edge_telemetry(STORE, AGENT, topics.TelemetryType.RFID): b"{" + b" " * 300_000,
        }
        for topic, payload in too_big.items():
            publisher.publish(topic, payload)
        small = JPEG_MAGIC + b"\0" * 100
        publisher.publish(snapshot, small)
        wait_until(lambda: runtime.snapshots.get(STORE, "cam-1l") is not None, what="the small snapshot")
    finally:
        side.stop()
    stored = runtime.snapshots.get(STORE, "cam-1l")
    assert stored is not None
    assert stored.jpeg == small
    letters = _letters(runtime)
    assert [(letter.topic, letter.reason, letter.payload_size) for letter in letters] == [
        (topic, "too_large", len(payload)) for topic, payload in too_big.items()
    ]
    assert all(len(letter.payload) == 1024 for letter in letters)
    assert _metric(runtime, "smartstore_messages_rejected_total", reason="too_large") == 3
