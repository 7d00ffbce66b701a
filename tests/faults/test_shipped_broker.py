"""The shipped Mosquitto configuration (deploy/mosquitto/mosquitto.conf) keeps what it acknowledged
across a kill -9 once its autosave has passed, and refuses oversized payloads (issue #25)."""

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from fault_helpers import REPO
from paho.mqtt.enums import CallbackAPIVersion

from smartstore.launcher.broker import free_port, wait_for_listener

pytestmark = pytest.mark.slow
SHIPPED = REPO / "deploy" / "mosquitto" / "mosquitto.conf"


class ShippedBroker:
    """The shipped file with only what a test machine must change: listener, data dir, no credentials."""

    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        text = SHIPPED.read_text()
        text = re.sub(r"(?m)^(password_file|acl_file) .*$", "", text)
        text = text.replace("allow_anonymous false", "allow_anonymous true")
        text = re.sub(r"(?m)^listener 1883 .*$", f"listener {self.port} 127.0.0.1", text)
        # The TLS listener needs certificates (tests/test_broker_tls.py runs it with them); not this test's.
        tls_lines = "protocol|certfile|keyfile|cafile|tls_version|require_certificate"
        text = re.sub(rf"(?m)^listener 8883 .*\n(?:(?:{tls_lines}) .*\n)*", "", text)
        text = text.replace("/mosquitto/data/", f"{tmp_path}/")
        self.config = tmp_path / "shipped.conf"
        self.config.write_text("user root\n" + text)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(["mosquitto", "-c", str(self.config)], stderr=subprocess.DEVNULL)
        assert wait_for_listener("127.0.0.1", self.port, 10)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def shipped(tmp_path: Path) -> Iterator[ShippedBroker]:
    broker = ShippedBroker(tmp_path)
    broker.start()
    yield broker
    broker.kill()


def client(port: int, name: str, persistent: bool, received: list[bytes] | None = None) -> paho.Client:
    mqtt = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=name, protocol=paho.MQTTv311, clean_session=not persistent
    )
    subscribed = threading.Event()
    if received is not None:
        mqtt.on_message = lambda c, u, message: received.append(bytes(message.payload))
        mqtt.on_subscribe = lambda *_: subscribed.set()
        mqtt.on_connect = lambda c, *_: c.subscribe("t/#", qos=1)
    mqtt.connect("127.0.0.1", port)
    mqtt.loop_start()
    if received is not None:
        assert subscribed.wait(5)
    return mqtt


def test_what_it_acknowledged_before_an_autosave_survives_kill_9(shipped: ShippedBroker) -> None:
    consumer = client(shipped.port, "consumer", persistent=True, received=[])
    consumer.disconnect()
    consumer.loop_stop()  # away: the broker queues for its session
    producer = client(shipped.port, "producer", persistent=False)
    for n in range(200):
        producer.publish("t/x", str(n).encode(), qos=1).wait_for_publish(5)
    producer.disconnect()
    producer.loop_stop()
    time.sleep(11.5)  # the shipped autosave_interval is 10 s
    shipped.kill()
    shipped.start()
    received: list[bytes] = []
    back = client(shipped.port, "consumer", persistent=True, received=received)
    deadline = time.monotonic() + 10
    while len(received) < 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    back.disconnect()
    back.loop_stop()
    assert sorted(int(m) for m in received) == list(range(200))


def test_payloads_beyond_the_limit_are_not_passed_on(shipped: ShippedBroker) -> None:
    received: list[bytes] = []
    consumer = client(shipped.port, "consumer2", persistent=False, received=received)
    producer = client(shipped.port, "producer2", persistent=False)
    gone = threading.Event()
    producer.on_disconnect = lambda *_: gone.set()
    # Over message_size_limit (4 MiB): acknowledged and dropped.
    producer.publish("t/big", b"x" * (4 * 1024 * 1024 + 1024), qos=1).wait_for_publish(5)
    producer.publish("t/ok", b"y" * (1024 * 1024), qos=1).wait_for_publish(5)
    # Over max_packet_size: the sender is disconnected before the broker buffers the rest.
    producer.publish("t/huge", b"z" * (16 * 1024 * 1024), qos=1)
    assert gone.wait(5)
    time.sleep(0.5)
    assert [len(m) for m in received] == [1024 * 1024]
    for mqtt in (producer, consumer):
        mqtt.disconnect()
        mqtt.loop_stop()
