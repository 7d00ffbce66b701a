"""The shipped broker serves TLS out of the box: deploy/mosquitto/mosquitto.conf + make-certs.sh, for real.

The config is the shipped file itself, with only its /mosquitto/... paths moved under a tmp dir and its
two ports moved to free ones. Authenticated clients that trust the CA made by make-certs.sh connect on
the TLS port; clients in clear or that do not trust that CA are refused; make-certs.sh never rewrites
a file it made. With `require_certificate true` a device needs its client certificate as well.
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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from smartstore.kernel.contract import topics
from smartstore.kernel.mqtt import MqttLink, MqttSettings
from smartstore.launcher.broker import free_port

ROOT = Path(__file__).resolve().parent.parent
MOSQUITTO_DIR = ROOT / "deploy" / "mosquitto"
SHIPPED_CONF = MOSQUITTO_DIR / "mosquitto.conf"
STORE = "store-berlin-01"
READER = f"{STORE}/rfid/reader-aisle-1"
PASSWORDS = {"gateway-1": "gw-secret", READER: "r1-secret"}
DEFAULT_NAMES = "DNS:mosquitto, DNS:localhost, IP Address:127.0.0.1"


@dataclass
class ShippedBroker:
    """A real Mosquitto running the shipped mosquitto.conf; `root` stands in for the image's /mosquitto."""

    plain_port: int
    tls_port: int
    root: Path
    process: subprocess.Popen[bytes]

    @property
    def certs(self) -> Path:
        return self.root / "config" / "certs"


def conf_options(text: str) -> dict[str, list[str]]:
    options: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.strip().partition(" ")
            options.setdefault(key, []).append(value.strip())
    return options


def make_certs(out: Path, *names: str, env: Mapping[str, str] | None = None) -> str:
    """Run the shipped make-certs.sh; its stdout."""
    made = subprocess.run(
        ["sh", str(MOSQUITTO_DIR / "make-certs.sh"), str(out), *names],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    return made.stdout


def shipped_config(root: Path, plain: int, tls: int) -> str:
    """The shipped mosquitto.conf with its /mosquitto/ paths under `root` and its ports moved."""
    text = SHIPPED_CONF.read_text(encoding="utf-8")
    text = text.replace(" /mosquitto/", f" {root}/")
    text, plain_listeners = re.subn(r"(?m)^listener 1883 \S+$", f"listener {plain} 127.0.0.1", text)
    text, tls_listeners = re.subn(r"(?m)^listener 8883 \S+$", f"listener {tls} 127.0.0.1", text)
    assert (plain_listeners, tls_listeners) == (1, 1), "the shipped conf lost its 1883 or 8883 listener"
    paths = [value for values in conf_options(text).values() for value in values if value.startswith("/")]
    assert paths
    assert all(path.startswith(f"{root}/") for path in paths), paths
    # As root (CI), mosquitto would switch to user "mosquitto", which cannot enter pytest's private tmp dir.
    return ("user root\n" if os.geteuid() == 0 else "") + text


def start_shipped_broker(
    tmp_path: Path,
    passwords: Mapping[str, str],
    *,
    require_certificate: bool = False,
    client_certs: str = "",
) -> Iterator[ShippedBroker]:
    """Lay out `root` as compose does (acl, make-passwd.sh's secrets, make-certs.sh's certs), start it."""
    if not all(shutil.which(tool) for tool in ("mosquitto", "mosquitto_passwd", "openssl")):
        pytest.skip("mosquitto, mosquitto_passwd or openssl is not installed")
    root = tmp_path / "broker-root"
    (root / "config").mkdir(parents=True)
    (root / "data").mkdir()
    (root / "secrets").mkdir()  # a volume in compose
    (root / "config" / "acl").symlink_to(MOSQUITTO_DIR / "acl")
    # Compose's `certs` service: the shipped script with its default broker names.
    make_certs(root / "config" / "certs", env={"SMARTSTORE_MQTT_CLIENT_CERTS": client_certs})
    made = subprocess.run(
        ["sh", str(MOSQUITTO_DIR / "make-passwd.sh"), str(root / "secrets" / "passwd")],
        env={**os.environ, **passwords},
        capture_output=True,
        timeout=30,
    )
    assert made.returncode == 0, made.stderr
    plain, tls = free_port(), free_port()
    text = shipped_config(root, plain, tls)
    if require_certificate:
        text, flipped = re.subn(r"(?m)^require_certificate false$", "require_certificate true", text)
        assert flipped == 1
    config = tmp_path / "mosquitto.conf"
    config.write_text(text, encoding="utf-8")
    log_path = tmp_path / "mosquitto.log"
    log = log_path.open("wb")
    process = subprocess.Popen(["mosquitto", "-c", str(config)], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    listening: set[int] = set()
    while time.monotonic() < deadline and process.poll() is None and listening != {plain, tls}:
        for port in {plain, tls} - listening:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                listening.add(port)
            except OSError:
                time.sleep(0.05)
    assert process.poll() is None, f"mosquitto refused the shipped config: {log_path.read_text()}"
    assert listening == {plain, tls}, log_path.read_text()
    try:
        yield ShippedBroker(plain, tls, root, process)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        log.close()


BROKER_PASSWORDS = {
    "SMARTSTORE_MQTT_GATEWAY_PASSWORD": PASSWORDS["gateway-1"],
    "SMARTSTORE_MQTT_EDGE_PASSWORD": "edge-secret",
    "SMARTSTORE_MQTT_DEVICE_PASSWORDS": f"{READER}:{PASSWORDS[READER]}",
}


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[ShippedBroker]:
    yield from start_shipped_broker(tmp_path, BROKER_PASSWORDS)


@pytest.fixture
def mutual_tls_broker(tmp_path: Path) -> Iterator[ShippedBroker]:
    yield from start_shipped_broker(tmp_path, BROKER_PASSWORDS, require_certificate=True, client_certs=READER)


def try_connect(
    port: int,
    *,
    ca_certs: Path | None,
    tls: bool = True,
    host: str = "localhost",
    password: str = PASSWORDS[READER],
    client_cert: Path | None = None,
) -> str:
    """A reader's MQTT 5 connection attempt: "accepted", "refused <reason>", "untrusted", "closed", ..."""
    answers: queue.Queue[str] = queue.Queue()
    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=f"t-{time.monotonic_ns()}", protocol=paho.MQTTv5
    )
    client.username_pw_set(READER, password)
    if tls:
        client.tls_set(
            ca_certs=None if ca_certs is None else str(ca_certs),  # None: the system's trust store
            certfile=None if client_cert is None else str(client_cert.with_suffix(".crt")),
            keyfile=None if client_cert is None else str(client_cert.with_suffix(".key")),
            cert_reqs=ssl.CERT_REQUIRED,
        )
    client.on_connect = lambda _c, _u, _f, reason, _p: answers.put(
        f"refused {reason}" if reason.is_failure else "accepted"
    )
    client.on_disconnect = lambda *_: answers.put("closed")
    try:
        client.connect(host, port)
    except ssl.SSLCertVerificationError:
        return "untrusted"
    except (ssl.SSLError, OSError) as error:
        return f"tls error {error}"
    client.loop_start()
    try:
        return answers.get(timeout=5)
    except queue.Empty:
        return "no answer"
    finally:
        client.disconnect()
        client.loop_stop()


def file_bytes(directory: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(path.relative_to(directory)): (path.read_bytes(), path.stat().st_mode)
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def subject_alt_names(certificate: Path) -> str:
    shown = subprocess.run(
        ["openssl", "x509", "-in", str(certificate), "-noout", "-ext", "subjectAltName"],
        capture_output=True,
        text=True,
        check=True,
    )
    return shown.stdout.splitlines()[-1].strip()


# --- the shipped files --------------------------------------------------------------------------------


def test_the_shipped_conf_has_tls_on() -> None:
    options = conf_options(SHIPPED_CONF.read_text(encoding="utf-8"))
    assert options["per_listener_settings"] == ["false"]  # one password file and ACL for both listeners
    assert options["allow_anonymous"] == ["false"]
    assert options["listener"] == ["1883 0.0.0.0", "8883 0.0.0.0"]
    assert options["certfile"] == ["/mosquitto/config/certs/server.crt"]
    assert options["keyfile"] == ["/mosquitto/config/certs/server.key"]
    assert options["cafile"] == ["/mosquitto/config/certs/ca.crt"]
    assert options["tls_version"] == ["tlsv1.2"]
    assert options["require_certificate"] == ["false"]  # the option for devices, documented next to it


def test_make_certs_never_rewrites_a_file(tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    made = make_certs(certs, env={"SMARTSTORE_MQTT_CLIENT_CERTS": READER})
    assert "CA" in made
    assert subject_alt_names(certs / "server.crt") == DEFAULT_NAMES
    assert (certs / "server.key").stat().st_mode & 0o077 == 0
    assert (certs / "ca.key").stat().st_mode & 0o077 == 0
    before = file_bytes(certs)
    assert {"ca.crt", "ca.key", "server.crt", "server.key"} <= set(before)
    # Again, even with other names: every file byte-identical (compose runs it at every `up`).
    again = make_certs(
        certs, env={"SMARTSTORE_MQTT_CLIENT_CERTS": READER, "SMARTSTORE_MQTT_TLS_NAMES": "other"}
    )
    assert "kept" in again
    assert "CA" not in again
    assert file_bytes(certs) == before
    # A new device's certificate is added, signed by the same CA; nothing else changes.
    other_reader = f"{STORE}/rfid/reader-aisle-2"
    make_certs(certs, env={"SMARTSTORE_MQTT_CLIENT_CERTS": f"{READER} {other_reader}"})
    after = file_bytes(certs)
    added = set(after) - set(before)
    assert added == {
        "clients/store-berlin-01_rfid_reader-aisle-2.crt",
        "clients/store-berlin-01_rfid_reader-aisle-2.key",
    }
    assert {name: after[name] for name in before} == before
    verified = subprocess.run(
        ["openssl", "verify", "-CAfile", str(certs / "ca.crt"), str(certs / sorted(added)[0])],
        capture_output=True,
        check=False,
    )
    assert verified.returncode == 0, verified.stderr


def test_make_certs_takes_the_broker_names_from_the_environment(tmp_path: Path) -> None:
    make_certs(tmp_path / "env", env={"SMARTSTORE_MQTT_TLS_NAMES": "mqtt.store.lan 192.168.10.2"})
    assert subject_alt_names(tmp_path / "env" / "server.crt") == "DNS:mqtt.store.lan, IP Address:192.168.10.2"
    make_certs(tmp_path / "args", "broker.example", env={"SMARTSTORE_MQTT_TLS_NAMES": "ignored"})
    assert subject_alt_names(tmp_path / "args" / "server.crt") == "DNS:broker.example"


def test_make_certs_refuses_a_new_ca_under_an_existing_broker_certificate(tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    make_certs(certs)
    (certs / "ca.crt").unlink()
    before = file_bytes(certs)
    made = subprocess.run(
        ["sh", str(MOSQUITTO_DIR / "make-certs.sh"), str(certs)], capture_output=True, text=True, timeout=60
    )
    assert made.returncode == 1
    assert "ca.crt is missing" in made.stderr
    assert file_bytes(certs) == before


# --- a real Mosquitto with the shipped conf --------------------------------------------------------------


def test_an_authenticated_client_that_trusts_the_ca_connects(tls_broker: ShippedBroker) -> None:
    ca = tls_broker.certs / "ca.crt"
    # The default names: the certificate is valid for localhost and 127.0.0.1 (hostname checked).
    assert try_connect(tls_broker.tls_port, ca_certs=ca) == "accepted"
    assert try_connect(tls_broker.tls_port, ca_certs=ca, host="127.0.0.1") == "accepted"
    # The TLS listener shares the password file: a wrong password is refused there too.
    assert try_connect(tls_broker.tls_port, ca_certs=ca, password="guess").startswith("refused")


def test_the_tls_port_refuses_clear_text_and_clients_that_do_not_trust_the_ca(
    tls_broker: ShippedBroker, tmp_path: Path
) -> None:
    port = tls_broker.tls_port
    assert try_connect(port, ca_certs=None, tls=False) in ("closed", "no answer")
    # Another CA made by the same script, and the system's trust store: the broker's certificate fails.
    make_certs(tmp_path / "other-ca")
    assert try_connect(port, ca_certs=tmp_path / "other-ca" / "ca.crt") == "untrusted"
    assert try_connect(port, ca_certs=None) == "untrusted"
    # The plain listener (compose network) still serves the same credentials.
    assert try_connect(tls_broker.plain_port, ca_certs=None, tls=False) == "accepted"


def link(url: str, ca_file: Path | None, status_topic: str) -> MqttLink:
    settings = MqttSettings(url=url, ca_file=None if ca_file is None else str(ca_file))
    mqtt = MqttLink(settings, f"tls-{time.monotonic_ns()}", status_topic=status_topic)
    mqtt.start()
    return mqtt


GATEWAY_STATUS = topics.status(STORE, topics.Kind.GATEWAY, "gateway-1")
READER_STATUS = topics.status(STORE, topics.Kind.RFID, "reader-aisle-1")


def test_mqtt_link_talks_tls_with_the_shipped_ca(
    tls_broker: ShippedBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gateway's MqttLink receives, over TLS, what a reader's MqttLink publishes over TLS."""
    monkeypatch.setenv("SMARTSTORE_MQTT_PASSWORD", PASSWORDS["gateway-1"])
    ca = tls_broker.certs / "ca.crt"
    received: queue.Queue[bytes] = queue.Queue()
    gateway = link(f"mqtts://gateway-1@localhost:{tls_broker.tls_port}", ca, GATEWAY_STATUS)
    reader_url = f"mqtts://{quote(READER, safe='')}:{PASSWORDS[READER]}@localhost:{tls_broker.tls_port}"
    reader: MqttLink | None = None
    try:
        assert gateway.wait_connected(10), "MqttLink did not connect over TLS with the CA"
        gateway.subscribe(READER_STATUS, 1, lambda message: received.put(bytes(message.payload)))
        assert gateway.wait_subscribed(5)
        reader = link(reader_url, ca, READER_STATUS)
        assert reader.wait_connected(10)
        reader.publish(READER_STATUS, b"over-tls").wait_for_publish(5)
        payloads = [received.get(timeout=5)]
        while payloads[-1] != b"over-tls":
            payloads.append(received.get(timeout=5))  # its retained "online" status comes first
    finally:
        gateway.stop()
        if reader is not None:
            reader.stop()


def test_mqtt_link_without_the_ca_or_in_clear_is_refused(
    tls_broker: ShippedBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMARTSTORE_MQTT_PASSWORD", PASSWORDS["gateway-1"])
    untrusted = link(f"mqtts://gateway-1@localhost:{tls_broker.tls_port}", None, GATEWAY_STATUS)  # system CAs
    clear = link(f"mqtt://gateway-1@localhost:{tls_broker.tls_port}", None, GATEWAY_STATUS)
    try:
        assert not untrusted.wait_connected(3), "connected to a broker whose CA it does not trust"
        assert not clear.connected.is_set(), "MQTT in clear accepted on the TLS port"
    finally:
        untrusted.stop()
        clear.stop()


def test_require_certificate_makes_devices_show_their_client_certificate(
    mutual_tls_broker: ShippedBroker,
) -> None:
    ca = mutual_tls_broker.certs / "ca.crt"
    stem = mutual_tls_broker.certs / "clients" / READER.replace("/", "_")
    assert try_connect(mutual_tls_broker.tls_port, ca_certs=ca) != "accepted"
    assert try_connect(mutual_tls_broker.tls_port, ca_certs=ca, client_cert=stem) == "accepted"
