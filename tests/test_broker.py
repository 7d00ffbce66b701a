"""The embedded amqtt broker honours what the contract relies on: QoS 1, retained status, Last Will."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from smartstore.kernel.clock import utc_now
from smartstore.kernel.contract import topics
from smartstore.kernel.contract.payloads import (
    DeviceState,
    DeviceStatus,
    ReadBatch,
    TagRead,
    encode,
    envelope,
)
from smartstore.kernel.contract.validation import Decoded, decode
from smartstore.kernel.mqtt import MqttLink, MqttSettings
from smartstore.launcher.broker import (
    BrokerStartError,
    EmbeddedBroker,
    MosquittoProcess,
    ephemeral_port_floor,
    free_port,
    start_local_broker,
)

STORE = "store-test"


@pytest.fixture
def broker() -> Iterator[EmbeddedBroker]:
    embedded = EmbeddedBroker(free_port())
    embedded.start()
    yield embedded
    embedded.stop()


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


class Collector:
    """A 3.1.1 subscriber that keeps every message it receives."""

    def __init__(self, broker: EmbeddedBroker, client_id: str, topic_filter: str) -> None:
        self.messages: list[paho.MQTTMessage] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv311)
        self.client.on_message = self._keep
        self.client.on_connect = lambda client, *_: client.subscribe(topic_filter, 1)
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        assert self._subscribed.wait(5), "subscription not acknowledged"

    def _keep(self, _client: paho.Client, _userdata: object, message: paho.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(message)

    def on(self, topic: str) -> list[paho.MQTTMessage]:
        with self._lock:
            return [m for m in self.messages if m.topic == topic]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_qos1_messages_arrive_once_acknowledged(broker: EmbeddedBroker) -> None:
    topic = topics.rfid_reads(STORE, "reader-1")
    collector = Collector(broker, "gateway-test", topic)
    publisher = MqttLink(MqttSettings(url=broker.url, protocol="3.1.1"), "reader-1")
    publisher.start()
    assert publisher.wait_connected(5)
    sent = []
    for seq in range(1, 51):
        read = TagRead(epc="3034257BF7194E4000001A85", antenna=1, rssi=-50.0, ts=utc_now())
        batch = ReadBatch(**envelope(seq), reads=[read])
        info = publisher.publish(topic, encode(batch), qos=1)
        info.wait_for_publish(5)
        assert info.is_published()  # the broker's PUBACK came back
        sent.append(batch.id)
    assert wait_until(lambda: len(collector.on(topic)) >= len(sent))
    received = [decode(m.topic, bytes(m.payload)) for m in collector.on(topic)]
    assert all(isinstance(r, Decoded) for r in received)
    assert [r.payload.id for r in received if isinstance(r, Decoded)] == sent
    assert {m.qos for m in collector.on(topic)} == {1}
    publisher.stop()
    collector.close()


def test_retained_status_reaches_late_subscribers(broker: EmbeddedBroker) -> None:
    status_topic = topics.status(STORE, topics.Kind.RFID, "reader-2")
    link = MqttLink(MqttSettings(url=broker.url, protocol="3.1.1"), "reader-2", status_topic=status_topic)
    link.start()
    assert link.wait_connected(5)
    time.sleep(0.2)  # the retained 'online' is published right after CONNACK
    late = Collector(broker, "late-subscriber", topics.status_filter(STORE))
    assert wait_until(lambda: bool(late.on(status_topic)))
    first = late.on(status_topic)[0]
    assert first.retain
    status = decode(first.topic, bytes(first.payload))
    assert isinstance(status, Decoded)
    assert isinstance(status.payload, DeviceStatus)
    assert status.payload.state is DeviceState.ONLINE
    late.close()
    link.stop()


def test_last_will_marks_a_vanished_device_offline(broker: EmbeddedBroker) -> None:
    status_topic = topics.status(STORE, topics.Kind.CAMERA, "cam-9")
    watcher = Collector(broker, "watcher", topics.status_filter(STORE))
    link = MqttLink(MqttSettings(url=broker.url, protocol="3.1.1"), "cam-9", status_topic=status_topic)
    link.start()
    assert link.wait_connected(5)
    assert wait_until(lambda: bool(watcher.on(status_topic)))
    # Vanish without DISCONNECT, as a device losing power does: the broker must publish the Will.
    link.client.loop_stop()
    sock = link.client.socket()
    assert isinstance(sock, socket.socket)
    sock.close()

    def last_state() -> DeviceState | None:
        messages = watcher.on(status_topic)
        decoded = decode(messages[-1].topic, bytes(messages[-1].payload)) if messages else None
        if isinstance(decoded, Decoded) and isinstance(decoded.payload, DeviceStatus):
            return decoded.payload.state
        return None

    assert wait_until(lambda: last_state() is DeviceState.OFFLINE)
    # ...and retain it, so whoever subscribes later also learns the camera is gone.
    late = Collector(broker, "late-watcher", status_topic)
    assert wait_until(lambda: bool(late.on(status_topic)))
    decoded = decode(status_topic, bytes(late.on(status_topic)[-1].payload))
    assert isinstance(decoded, Decoded)
    assert isinstance(decoded.payload, DeviceStatus)
    assert decoded.payload.state is DeviceState.OFFLINE
    watcher.close()
    late.close()


def test_stop_frees_the_port() -> None:
    port = free_port()
    broker = EmbeddedBroker(port)
    broker.start()
    broker.stop()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))  # raises if the listener were still open


def test_free_ports_lie_below_the_ports_outgoing_connections_take() -> None:
    """An OS-picked port (bind to 0) is an ephemeral one, which a client connection made before the server
    binds may take; free_port draws below that range."""
    floor = ephemeral_port_floor()
    if floor is None:
        pytest.skip("the kernel does not publish its ephemeral port range here")
    ports = {free_port() for _ in range(50)}
    assert all(1024 <= port < floor for port in ports)
    assert len(ports) > 40  # drawn, not one fixed port
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_busy_port_is_reported_not_hung() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(BrokerStartError):
            EmbeddedBroker(port).start(timeout=5)


def test_fallback_to_mosquitto_speaks_mqtt5(tmp_path: Path) -> None:
    if not MosquittoProcess.available():
        pytest.skip("mosquitto is not installed")
    broker = start_local_broker(free_port(), prefer="mosquitto", directory=tmp_path)
    try:
        assert isinstance(broker, MosquittoProcess)
        link = MqttLink(MqttSettings(url=broker.url, protocol="5"), "probe")
        link.start()
        assert link.wait_connected(5)
        link.stop()
    finally:
        broker.stop()
