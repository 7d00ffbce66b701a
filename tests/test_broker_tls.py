"""The shipped TLS listener (deploy/mosquitto/mosquitto.conf + make-certs.sh) with a real Mosquitto.

MqttLink connects over mqtts:// with the CA from make-certs.sh, is refused without it, and with
`require_certificate true` a device needs its client certificate as well as its password.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from smartstore.kernel.contract import topics
from smartstore.kernel.mqtt import MqttLink, MqttSettings
from smartstore.launcher.broker import free_port

ROOT = Path(__file__).resolve().parent.parent
MOSQUITTO_DIR = ROOT / "deploy" / "mosquitto"
STORE = "store-berlin-01"
READER = f"{STORE}/rfid/reader-aisle-1"
PASSWORDS = {"gateway-1": "gw-secret", READER: "r1-secret"}
TLS_KEYS = (
    "listener 8883",
    "protocol",
    "certfile",
    "keyfile",
    "cafile",
    "tls_version",
    "require_certificate",
)


@dataclass
class TlsBroker:
    plain_port: int
    tls_port: int
    certs: Path


def shipped_config(tmp_path: Path, certs: Path, plain: int, tls: int, *, require_certificate: bool) -> str:
    """The shipped mosquitto.conf with its TLS block switched on and paths moved to tmp."""
    text = (MOSQUITTO_DIR / "mosquitto.conf").read_text(encoding="utf-8")
    block = text[text.index("# --- TLS listener") :]
    assert all(f"\n#{key}" in block for key in TLS_KEYS), "the TLS block is missing from mosquitto.conf"
    text = re.sub(rf"(?m)^#({'|'.join(TLS_KEYS)})", r"\1", text)
    text = text.replace("/mosquitto/config/certs/", f"{certs}/")
    text = re.sub(r"(?m)^listener 1883 .*$", f"listener {plain} 127.0.0.1", text)
    text = re.sub(r"(?m)^listener 8883 .*$", f"listener {tls} 127.0.0.1", text)
    text = re.sub(
        r"(?m)^require_certificate .*$", f"require_certificate {str(require_certificate).lower()}", text
    )
    text = re.sub(r"(?m)^password_file .*$", f"password_file {tmp_path / 'passwd'}", text)
    text = re.sub(r"(?m)^acl_file .*$", f"acl_file {MOSQUITTO_DIR / 'acl'}", text)
    text = text.replace("/mosquitto/data/", f"{tmp_path}/")
    return ("user root\n" if os.geteuid() == 0 else "") + text


def start_tls_broker(tmp_path: Path, *, require_certificate: bool) -> Iterator[TlsBroker]:
    if not all(shutil.which(tool) for tool in ("mosquitto", "mosquitto_passwd", "openssl")):
        pytest.skip("mosquitto, mosquitto_passwd or openssl is not installed")
    certs = tmp_path / "certs"
    made = subprocess.run(
        ["sh", str(MOSQUITTO_DIR / "make-certs.sh"), str(certs), "localhost", "127.0.0.1"],
        env={**os.environ, "SMARTSTORE_MQTT_CLIENT_CERTS": READER},
        capture_output=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    env = {
        **os.environ,
        "SMARTSTORE_MQTT_GATEWAY_PASSWORD": PASSWORDS["gateway-1"],
        "SMARTSTORE_MQTT_EDGE_PASSWORD": "edge-secret",
        "SMARTSTORE_MQTT_DEVICE_PASSWORDS": f"{READER}:{PASSWORDS[READER]}",
    }
    made = subprocess.run(
        ["sh", str(MOSQUITTO_DIR / "make-passwd.sh"), str(tmp_path / "passwd")], env=env, capture_output=True
    )
    assert made.returncode == 0, made.stderr
    plain, tls = free_port(), free_port()
    config = tmp_path / "mosquitto.conf"
    config.write_text(shipped_config(tmp_path, certs, plain, tls, require_certificate=require_certificate))
    log = (tmp_path / "mosquitto.log").open("wb")
    process = subprocess.Popen(["mosquitto", "-c", str(config)], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and process.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", tls), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.05)
    assert process.poll() is None, (tmp_path / "mosquitto.log").read_text()
    yield TlsBroker(plain, tls, certs)
    process.terminate()
    process.wait(10)
    log.close()


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[TlsBroker]:
    yield from start_tls_broker(tmp_path, require_certificate=False)


@pytest.fixture
def mutual_tls_broker(tmp_path: Path) -> Iterator[TlsBroker]:
    yield from start_tls_broker(tmp_path, require_certificate=True)


def link(url: str, ca_file: Path | None) -> MqttLink:
    settings = MqttSettings(url=url, ca_file=None if ca_file is None else str(ca_file))
    status = topics.status(STORE, topics.Kind.GATEWAY, "gateway-1")
    mqtt = MqttLink(settings, f"tls-{time.monotonic_ns()}", status_topic=status)
    mqtt.start()
    return mqtt


def test_mqtt_link_talks_tls_with_the_shipped_ca(
    tls_broker: TlsBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMARTSTORE_MQTT_PASSWORD", PASSWORDS["gateway-1"])
    received: queue.Queue[bytes] = queue.Queue()
    gateway = link(f"mqtts://gateway-1@localhost:{tls_broker.tls_port}", tls_broker.certs / "ca.crt")
    try:
        assert gateway.wait_connected(10), "MqttLink did not connect over TLS with the CA"
        gateway.subscribe(topics.status_filter(), 1, lambda message: received.put(bytes(message.payload)))
        assert gateway.wait_subscribed(5)
        gateway.publish(topics.status(STORE, topics.Kind.GATEWAY, "gateway-1"), b"over-tls").wait_for_publish(
            5
        )
        payloads = [received.get(timeout=5)]
        while payloads[-1] != b"over-tls":
            payloads.append(received.get(timeout=5))  # its retained "online" status comes first
    finally:
        gateway.stop()


def test_without_the_ca_or_in_clear_the_tls_port_refuses(
    tls_broker: TlsBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMARTSTORE_MQTT_PASSWORD", PASSWORDS["gateway-1"])
    untrusted = link(f"mqtts://gateway-1@localhost:{tls_broker.tls_port}", None)  # system CAs only
    clear = link(f"mqtt://gateway-1@localhost:{tls_broker.tls_port}", None)
    try:
        assert not untrusted.wait_connected(3), "connected to a broker whose CA it does not trust"
        assert not clear.connected.is_set(), "MQTT in clear accepted on the TLS port"
    finally:
        untrusted.stop()
        clear.stop()
    # The same credentials over the same CA do connect: the refusal above is the certificate's.
    trusted = link(f"mqtts://gateway-1@localhost:{tls_broker.tls_port}", tls_broker.certs / "ca.crt")
    try:
        assert trusted.wait_connected(10)
    finally:
        trusted.stop()


def device_connects(broker: TlsBroker, *, client_cert: bool) -> bool:
    """A reader over TLS with its password, with or without its client certificate: CONNACK success?"""
    answers: queue.Queue[bool] = queue.Queue()
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"reader-{client_cert}", protocol=paho.MQTTv5)
    client.username_pw_set(READER, PASSWORDS[READER])
    stem = broker.certs / "clients" / READER.replace("/", "_")
    client.tls_set(
        ca_certs=str(broker.certs / "ca.crt"),
        certfile=str(stem.with_suffix(".crt")) if client_cert else None,
        keyfile=str(stem.with_suffix(".key")) if client_cert else None,
        cert_reqs=ssl.CERT_REQUIRED,
    )
    client.on_connect = lambda _c, _u, _f, reason, _p: answers.put(not reason.is_failure)
    client.on_disconnect = lambda *_: answers.put(False)
    try:
        client.connect("localhost", broker.tls_port)
    except (ssl.SSLError, OSError):
        return False
    client.loop_start()
    try:
        return answers.get(timeout=5)
    except queue.Empty:
        return False
    finally:
        client.disconnect()
        client.loop_stop()


def test_require_certificate_makes_devices_show_their_client_certificate(
    mutual_tls_broker: TlsBroker,
) -> None:
    assert not device_connects(mutual_tls_broker, client_cert=False)
    assert device_connects(mutual_tls_broker, client_cert=True)
