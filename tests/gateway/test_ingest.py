"""Signal ingest against a real Mosquitto and real databases: apply, deduplicate, reject, survive restarts."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from gateway_helpers import (
    AGENT,
    MILK,
    RICE,
    STORE,
    BusRecorder,
    Publisher,
    RuntimeConsumer,
    Signals,
    send,
    signal_topic,
)
from polling import wait_until
from sqlalchemy import func, select

from smartstore.gateway.api.routes.system import mqtt_connected
from smartstore.gateway.db.models import Alert, DeadLetter, Device, Inventory, SlotState, SourceSequence
from smartstore.gateway.db.util import utc_now
from smartstore.gateway.ingest.decode import Inbound
from smartstore.gateway.inventory.store import apply_movement, apply_reservation
from smartstore.gateway.monitoring.alerts import raise_alert
from smartstore.gateway.runtime import GatewayRuntime
from smartstore.kernel.contract import payloads as p
from smartstore.kernel.contract import topics
from smartstore.kernel.mqtt import MqttLink, MqttSettings

ConsumerFactory = Callable[..., RuntimeConsumer]
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _row(runtime: GatewayRuntime, gtin: str) -> Inventory:
    with runtime.sessions() as session:
        row = session.get(Inventory, (STORE, gtin), populate_existing=True)
        assert row is not None
        return row


def _count(runtime: GatewayRuntime, model: type[Any], **where: object) -> int:
    with runtime.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model).filter_by(**where)) or 0)


def _metric(runtime: GatewayRuntime, name: str, **labels: str) -> float:
    return runtime.metrics.registry.get_sample_value(name, labels) or 0.0


def _set_stock(runtime: GatewayRuntime, gtin: str, zone: str, count: int) -> None:
    with runtime.sessions() as session:
        apply_movement(
            session,
            runtime.stores[STORE],
            gtin=gtin,
            type="count",
            quantity=count,
            zone=zone,
            source="manual",
            at=utc_now() - timedelta(hours=1),
        )
        session.commit()


@pytest.fixture
def recorder_for() -> Iterator[Callable[[GatewayRuntime], BusRecorder]]:
    recorders: list[BusRecorder] = []

    def attach(runtime: GatewayRuntime) -> BusRecorder:
        recorders.append(BusRecorder(runtime.bus))
        return recorders[-1]

    yield attach
    for recorder in recorders:
        recorder.close()


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_stock_signals_set_zone_counts_and_figures(
    consumer_factory: ConsumerFactory,
    publisher: Publisher,
    signals: Signals,
    recorder_for: Callable[[GatewayRuntime], BusRecorder],
    protocol: str,
) -> None:
    consumer = consumer_factory(protocol=protocol)
    runtime = consumer.runtime
    bus = recorder_for(runtime)
    send(publisher, signals.stock([("backroom", MILK, 5), ("aisle-1", MILK, 3), ("exit", MILK, 2)]))
    wait_until(lambda: consumer.stats.applied == 1, what="the stock signal")
    row = _row(runtime, MILK)
    safety = runtime.stores[STORE].products[MILK].safety_stock
    assert (row.backroom, row.salesfloor, row.on_hand, row.available_to_promise) == (5, 3, 8, 8 - safety)
    assert row.sources["on_hand"]["source"] == "rfid"
    wait_until(lambda: bus.of("inventory"), what="the inventory event")
    assert bus.of("inventory")[-1]["on_hand"] == 8

    # A snapshot of aisle-1 that lists only rice: milk there is gone; other zones are untouched.
    snapshot = signals.stock([("aisle-1", RICE, 4)], snapshot=True, zones=["aisle-1"])
    send(publisher, snapshot)
    wait_until(lambda: consumer.stats.applied == 2, what="the snapshot")
    assert (_row(runtime, MILK).salesfloor, _row(runtime, MILK).backroom) == (0, 5)
    assert _row(runtime, RICE).salesfloor == 4
    assert _metric(runtime, "smartstore_signals_applied_total", type="stock") == 2


def test_an_rfid_snapshot_leaves_untagged_products_counted_by_hand(
    consumer_factory: ConsumerFactory, publisher: Publisher, signals: Signals
) -> None:
    consumer = consumer_factory()
    runtime = consumer.runtime
    _set_stock(runtime, RICE, "aisle-1", 6)
    _set_stock(runtime, MILK, "aisle-1", 2)
    # RFID sees no milk left in aisle-1 and cannot see rice at all.
    send(publisher, signals.stock([("aisle-1", MILK, 0)], snapshot=True, zones=["aisle-1"]))
    wait_until(lambda: consumer.stats.applied == 1, what="the snapshot")
    assert _row(runtime, MILK).salesfloor == 0
    assert _row(runtime, RICE).salesfloor == 6


def test_out_of_date_counts_do_not_overwrite_newer_ones(
    consumer_factory: ConsumerFactory, publisher: Publisher, signals: Signals
) -> None:
    consumer = consumer_factory()
    now = utc_now()
    send(publisher, signals.stock([("aisle-2", MILK, 7)], ts=now))
    send(publisher, signals.stock([("aisle-2", MILK, 1)], ts=now - timedelta(seconds=30)))
    wait_until(lambda: consumer.stats.applied == 2, what="both signals")
    assert _row(consumer.runtime, MILK).salesfloor == 7


def test_shelf_signals_keep_slot_states_and_the_product_shelf_state(
    consumer_factory: ConsumerFactory,
    publisher: Publisher,
    signals: Signals,
    recorder_for: Callable[[GatewayRuntime], BusRecorder],
) -> None:
    consumer = consumer_factory()
    runtime = consumer.runtime
    bus = recorder_for(runtime)
    t0 = utc_now()
    send(publisher, signals.shelf("cam-1l", [("1l-1-1", MILK, "low", 0.3)], ts=t0))
    send(publisher, signals.shelf("cam-1l", [("1l-1-1", MILK, "low", 0.25)], ts=t0 + timedelta(seconds=5)))
    wait_until(lambda: consumer.stats.applied == 2, what="two shelf signals")
    row = _row(runtime, MILK)
    assert (row.shelf_state, row.shelf_fill) == ("low", 0.25)
    assert row.sources["shelf_state"]["source"] == "camera"
    with runtime.sessions() as session:
        slot = session.get(SlotState, (STORE, "1l-1-1"))
        assert slot is not None
        assert (slot.state, slot.camera_id) == ("low", "cam-1l")
        assert slot.since.replace(tzinfo=None) == t0.replace(tzinfo=None)  # same state: still since t0

    send(publisher, signals.shelf("cam-1l", [("1l-1-1", MILK, "empty", 0.0)], ts=t0 + timedelta(seconds=10)))
    wait_until(lambda: _row(runtime, MILK).shelf_state == "empty", what="the empty shelf")
    with runtime.sessions() as session:
        slot = session.get(SlotState, (STORE, "1l-1-1"))
        assert slot is not None
        assert slot.since.replace(tzinfo=None) == (t0 + timedelta(seconds=10)).replace(tzinfo=None)
    # One event per slot and batch: the first two observations may have shared a batch.
    wait_until(lambda: bus.of("slot") and bus.of("slot")[-1]["state"] == "empty", what="the empty slot event")
    assert {event["state"] for event in bus.of("slot")} == {"low", "empty"}


def test_pickups_release_reservations_and_take_untagged_units(
    consumer_factory: ConsumerFactory, publisher: Publisher, signals: Signals
) -> None:
    consumer = consumer_factory()
    runtime = consumer.runtime
    _set_stock(runtime, RICE, "aisle-1", 5)
    _set_stock(runtime, RICE, "locker-bay", 1)
    _set_stock(runtime, MILK, "locker-bay", 1)
    with runtime.sessions() as session:
        for gtin in (RICE, MILK):
            apply_reservation(
                session, runtime.stores[STORE], gtin=gtin, delta=2, source="pickup", at=utc_now()
            )
        session.commit()
    send(publisher, signals.pickup([(RICE, 2), (MILK, 1)]))
    wait_until(lambda: consumer.stats.applied == 1, what="the pickup")
    rice, milk = _row(runtime, RICE), _row(runtime, MILK)
    # Untagged rice leaves the locker first, then the salesfloor; tagged milk waits for RFID.
    assert (rice.reserved, rice.on_hand, rice.salesfloor) == (0, 4, 4)
    assert (milk.reserved, milk.on_hand) == (1, 1)
    assert rice.sources["reserved"]["source"] == "pickup"


def test_alert_signals_raise_and_clear(
    consumer_factory: ConsumerFactory,
    publisher: Publisher,
    signals: Signals,
    recorder_for: Callable[[GatewayRuntime], BusRecorder],
) -> None:
    consumer = consumer_factory()
    runtime = consumer.runtime
    bus = recorder_for(runtime)
    send(publisher, signals.alert("rfid.zone_low:aisle-1"))
    send(publisher, signals.alert("rfid.zone_low:aisle-1"))
    wait_until(lambda: consumer.stats.applied == 2, what="two raises")
    assert _count(runtime, Alert) == 1
    send(publisher, signals.alert("rfid.zone_low:aisle-1", action="clear"))
    wait_until(lambda: _count(runtime, Alert, state="cleared") == 1, what="the clear")
    wait_until(lambda: len(bus.of("alert")) == 3, what="three alert events")
    assert [event["state"] for event in bus.of("alert")] == ["open", "open", "cleared"]


def test_the_same_event_id_is_applied_once(
    consumer_factory: ConsumerFactory, publisher: Publisher, signals: Signals
) -> None:
    consumer = consumer_factory()
    runtime = consumer.runtime
    _set_stock(runtime, RICE, "aisle-1", 10)
    pickup = signals.pickup([(RICE, 1)])
    send(publisher, pickup)
    send(publisher, pickup)
    wait_until(lambda: consumer.stats.applied + consumer.stats.duplicates == 2, what="both copies")
    assert (consumer.stats.applied, consumer.stats.duplicates) == (1, 1)
    assert _row(runtime, RICE).on_hand == 9
    assert _metric(runtime, "smartstore_signals_duplicate_total") == 1


def test_bad_input_is_dead_lettered_and_ingest_goes_on(
    consumer_factory: ConsumerFactory,
    publisher: Publisher,
    signals: Signals,
    recorder_for: Callable[[GatewayRuntime], BusRecorder],
) -> None:
    consumer = consumer_factory()
    runtime = consumer.runtime
    bus = recorder_for(runtime)
    stock_topic = topics.signal(STORE, AGENT, topics.SignalType.STOCK)
    good = json.loads(p.encode(signals.stock([("aisle-1", MILK, 1)])))
    bad_gtin = {
        **good,
        "id": uuid.uuid4().hex,
        "counts": [{"zone": "aisle-1", "gtin": "09506000100006", "count": 1}],
    }
    unknown_zone = {**good, "id": uuid.uuid4().hex, "counts": [{"zone": "attic", "gtin": MILK, "count": 1}]}
    cases = [
        (stock_topic, b"{not json", "invalid_json"),
        (stock_topic, json.dumps({**good, "v": 2}).encode(), "unsupported_version"),
        (stock_topic, json.dumps(bad_gtin).encode(), "invalid_payload"),
        (stock_topic, json.dumps(unknown_zone).encode(), "unknown_reference"),
        (
            topics.signal("store-elsewhere", AGENT, topics.SignalType.STOCK),
            json.dumps(good).encode(),
            "unknown_store",
        ),
        (f"smartstore/v1/{STORE}/edge/{AGENT}/signal/weather", json.dumps(good).encode(), "bad_topic"),
        (
            signal_topic(signals.shelf("cam-1l", [("9z-9-9", MILK, "ok", 1.0)])),
            p.encode(signals.shelf("cam-1l", [("9z-9-9", MILK, "ok", 1.0)])),
            "unknown_reference",
        ),
        (
            signal_topic(signals.pickup([(MILK, 1)], locker="locker-9")),
            p.encode(signals.pickup([(MILK, 1)], locker="locker-9")),
            "unknown_reference",
        ),
    ]
    for topic, payload, _reason in cases:
        publisher.publish(topic, payload)
    send(publisher, signals.stock([("aisle-3", MILK, 6)]))
    wait_until(
        lambda: consumer.stats.applied == 1 and consumer.stats.rejected == len(cases), what="all messages"
    )
    assert _row(runtime, MILK).salesfloor == 6

    with runtime.sessions() as session:
        letters = list(session.scalars(select(DeadLetter).order_by(DeadLetter.id)))
    assert [(letter.topic, letter.reason) for letter in letters] == [(t, r) for t, _, r in cases]
    assert [letter.payload for letter in letters] == [payload for _, payload, _ in cases]
    assert "check digit" in letters[2].detail
    assert "attic" in letters[3].detail
    for reason in {r for _, _, r in cases}:
        expected = sum(1 for _, _, r in cases if r == reason)
        assert _metric(runtime, "smartstore_messages_rejected_total", reason=reason) == expected
    wait_until(lambda: len(bus.of("dead_letter")) == len(cases), what="dead-letter events")


def test_a_message_that_breaks_the_writer_is_isolated(
    consumer_factory: ConsumerFactory, publisher: Publisher, signals: Signals, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug hit by one message must not stop the others: the batch is retried one by one."""
    consumer = consumer_factory()
    poison = signals.stock([("aisle-1", RICE, 1)])
    writer_apply = consumer._writer.apply

    def apply_with_bug(session: Any, batch: list[Inbound], now: Any, **options: Any) -> Any:
        if any(poison.id.encode() in message.payload for message in batch):
            raise RuntimeError("simulated bug")
        return writer_apply(session, batch, now, **options)

    monkeypatch.setattr(consumer._writer, "apply", apply_with_bug)
    before = signals.stock([("aisle-1", MILK, 2)])
    after = signals.stock([("aisle-2", MILK, 3)])
    for payload in (before, poison, after):
        send(
            publisher,
            payload,
        )
    wait_until(lambda: consumer.stats.applied == 2 and consumer.stats.rejected == 1, what="isolation")
    with consumer.runtime.sessions() as session:
        letter = session.scalars(select(DeadLetter)).one()
    assert letter.reason == "invalid_payload"
    assert "simulated bug" in letter.detail
    assert _row(consumer.runtime, MILK).salesfloor == 5


def test_movements_posted_between_batches_are_not_overwritten(
    consumer_factory: ConsumerFactory, publisher: Publisher, signals: Signals
) -> None:
    """The writer remembers rows between batches; another writer's commit must invalidate that."""
    consumer = consumer_factory()
    runtime = consumer.runtime
    send(publisher, signals.stock([("aisle-1", RICE, 5)]))
    wait_until(lambda: consumer.stats.applied == 1, what="the first count")
    _set_stock(runtime, RICE, "backroom", 50)  # the API, on its own connection
    send(publisher, signals.pickup([(RICE, 1)]))
    wait_until(lambda: consumer.stats.applied == 2, what="the pickup")
    row = _row(runtime, RICE)
    assert (row.salesfloor, row.backroom, row.on_hand) == (4, 50, 54)


def test_sequence_gaps_are_counted_and_restarts_are_not(
    consumer_factory: ConsumerFactory, publisher: Publisher, signals: Signals
) -> None:
    consumer = consumer_factory()
    for seq in (1, 2, 5, 1, 2):  # 3 and 4 lost; then the agent restarted
        send(publisher, signals.alert("edge.test", seq=seq))
    wait_until(lambda: consumer.stats.applied == 5, what="five signals")
    with consumer.runtime.sessions() as session:
        sequence = session.get(SourceSequence, f"{STORE}/edge/{AGENT}/alert")
        assert sequence is not None
        assert (sequence.last_seq, sequence.gaps) == (2, 2)
    assert _metric(consumer.runtime, "smartstore_sequence_gaps_total") == 2


def test_device_last_will_raises_one_alert_and_online_clears_it(
    consumer_factory: ConsumerFactory,
    mosquitto: Any,
    recorder_for: Callable[[GatewayRuntime], BusRecorder],
) -> None:
    consumer = consumer_factory()
    runtime = consumer.runtime
    bus = recorder_for(runtime)
    status_topic = topics.status(STORE, topics.Kind.LOCKER, "locker-1")
    locker = MqttLink(MqttSettings(url=mosquitto.url), "locker-1", status_topic=status_topic)
    locker.start()
    assert locker.wait_connected(5)

    def device_state() -> str | None:
        with runtime.sessions() as session:
            device = session.get(Device, (STORE, "locker", "locker-1"), populate_existing=True)
            return device.state if device else None

    wait_until(lambda: device_state() == "online", what="the locker online")
    # The connection dies without DISCONNECT: the broker publishes the Last Will.
    locker.client.loop_stop()
    sock = locker.client.socket()
    assert sock is not None
    sock.close()
    wait_until(lambda: device_state() == "offline", what="the locker offline")
    wait_until(lambda: _count(runtime, Alert) == 1, what="one alert")
    with runtime.sessions() as session:
        alert = session.scalars(select(Alert)).one()
        assert (alert.cause, alert.severity, alert.state) == (
            "device_offline:locker:locker-1",
            "critical",
            "open",
        )

    back = MqttLink(MqttSettings(url=mosquitto.url), "locker-1", status_topic=status_topic)
    back.start()
    try:
        wait_until(lambda: _count(runtime, Alert, state="cleared") == 1, what="the alert cleared")
    finally:
        back.stop()
    wait_until(lambda: device_state() == "offline", what="the clean offline status")
    assert _count(runtime, Alert) == 2  # the clean stop is an outage too; it opened a new alert
    assert {event["state"] for event in bus.of("device")} == {"online", "offline"}


def test_retained_status_is_reapplied_without_new_alerts(
    consumer_factory: ConsumerFactory, publisher: Publisher
) -> None:
    """A restarted gateway gets every retained status again: known states change nothing."""
    status = p.DeviceStatus(**p.envelope(1), state=p.DeviceState.OFFLINE)
    publisher.publish(
        topics.status(STORE, topics.Kind.RFID, "reader-backroom"), p.encode(status), retain=True
    )
    first = consumer_factory()
    runtime = first.runtime
    wait_until(lambda: _count(runtime, Alert) == 1, what="the offline alert")
    first.stop()
    second = consumer_factory(runtime=runtime)
    wait_until(lambda: second.stats.batches >= 1, what="the retained status again")
    assert second.wait_idle(5)
    assert _count(runtime, Alert) == 1
    with runtime.sessions() as session:
        alert = session.scalars(select(Alert)).one()
        assert len(alert.history) == 1


def test_ingest_and_direct_writers_share_alert_causes(
    consumer_factory: ConsumerFactory, publisher: Publisher, signals: Signals
) -> None:
    consumer = consumer_factory()
    runtime = consumer.runtime
    with runtime.sessions() as session:
        raise_alert(
            session,
            store_id=STORE,
            cause="shelf.empty:1l-1-1",
            severity="warning",
            message="api",
            device_id=None,
            at=utc_now(),
        )
        session.commit()
    send(publisher, signals.alert("shelf.empty:1l-1-1"))
    wait_until(lambda: consumer.stats.applied == 1, what="the raise")
    assert _count(runtime, Alert) == 1


def test_broker_link_state_follows_the_receiver_process(
    consumer_factory: ConsumerFactory, mosquitto: Any, signals: Signals
) -> None:
    consumer = consumer_factory()
    runtime = consumer.runtime
    runtime.consumer = consumer
    assert mqtt_connected(runtime) is True
    mosquitto.stop()
    wait_until(lambda: mqtt_connected(runtime) is False, what="the link to read as down")
    mosquitto.start()
    wait_until(lambda: mqtt_connected(runtime) is True, what="the link to come back")
    assert consumer.wait_ready(10)
    publisher = Publisher(mosquitto.url).connect()
    try:
        send(publisher, signals.stock([("aisle-1", MILK, 3)]))
        wait_until(lambda: consumer.stats.applied == 1, what="a signal after the reconnect")
    finally:
        publisher.close()
