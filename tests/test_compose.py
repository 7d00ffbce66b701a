"""The deployment files agree with the code, and the shipped Mosquitto ACL really fences devices in."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode
from test_broker_tls import start_shipped_broker

from smartstore.kernel.contract import topics
from smartstore.kernel.contract.topics import SignalType, TelemetryType
from smartstore.kernel.mqtt import MqttSettings
from smartstore.launcher.cli import COMMANDS, build_parser

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
MOSQUITTO_DIR = ROOT / "deploy" / "mosquitto"
STORE = "store-berlin-01"


def conf_options(path: Path) -> dict[str, list[str]]:
    options: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.strip().partition(" ")
            options.setdefault(key, []).append(value.strip())
    return options


def bind_mounts(service: dict[str, Any]) -> dict[str, Path]:
    """Container path -> host path of a service's bind mounts (named volumes left out)."""
    mounts: dict[str, Path] = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith((".", "/")):
            mounts[target] = (ROOT / source).resolve()
    return mounts


def smartstore_services() -> list[str]:
    return [name for name, service in SERVICES.items() if "build" in service]


# --- docker-compose.yml and Dockerfile against the code ----------------------------------------


def test_compose_runs_the_whole_stack() -> None:
    assert {"mosquitto", "postgres", "gateway", "edge", "sim"} <= set(SERVICES)
    assert set(smartstore_services()) == {"gateway", "edge", "sim"}
    assert SERVICES["mosquitto"]["image"].startswith("eclipse-mosquitto:2")
    assert SERVICES["postgres"]["image"] == "postgres:16"
    assert "healthcheck" in SERVICES["postgres"]
    assert SERVICES["gateway"]["depends_on"]["postgres"]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", smartstore_services())
def test_service_commands_are_accepted_by_the_cli(name: str) -> None:
    command = [str(part) for part in SERVICES[name]["command"]]
    subcommand = command[0]
    assert subcommand in COMMANDS
    module = COMMANDS[subcommand][0]
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not written yet")
    parser, chosen = build_parser(command)
    assert chosen is not None
    args = parser.parse_args(command)  # SystemExit (a failure) on any unknown flag or bad value
    assert args.command == subcommand
    if subcommand in ("gateway", "edge", "sim"):
        assert "--store=/config/store.yaml" in command
        assert any(part.startswith("--mqtt-url=mqtt://") and "@mosquitto:" in part for part in command), (
            "connects to the broker with a username"
        )
        assert not any(re.match(r"--mqtt-url=mqtt://[^@/]*:[^@/]*@", part) for part in command), (
            "the MQTT password belongs in the environment, not the command line"
        )


def test_every_mounted_host_file_exists() -> None:
    for name, service in SERVICES.items():
        for target, source in bind_mounts(service).items():
            assert source.exists(), f"{name}: {source} (mounted at {target}) does not exist"


def test_store_file_is_the_example_and_valid() -> None:
    for name in smartstore_services():
        assert (
            bind_mounts(SERVICES[name])["/config/store.yaml"]
            == ROOT / "smartstore/kernel/data/example-store.yaml"
        )


def test_secrets_come_from_the_environment() -> None:
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    for variable in (
        "SMARTSTORE_PG_PASSWORD",
        "SMARTSTORE_MQTT_GATEWAY_PASSWORD",
        "SMARTSTORE_MQTT_EDGE_PASSWORD",
    ):
        assert f"${{{variable}:?" in text
        assert re.search(rf"^{variable}=", (ROOT / "deploy/.env.example").read_text(encoding="utf-8"), re.M)
    gateway_env = SERVICES["gateway"]["environment"]
    assert gateway_env["SMARTSTORE_DB_URL"].startswith("postgresql://")


def test_dockerfile_installs_the_package_as_non_root() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11-slim", dockerfile, re.M)
    assert "pyproject.toml" in dockerfile
    users = re.findall(r"^USER (\S+)", dockerfile, re.M)
    assert users
    assert users[-1] not in ("root", "0")
    assert re.search(r'^ENTRYPOINT \["smartstore"\]', dockerfile, re.M)
    for source in re.findall(r"^COPY (\S+(?: \S+)*) \S+$", dockerfile, re.M):
        for part in source.split():
            assert (ROOT / part).exists(), f"Dockerfile copies {part}, which does not exist"
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert ".venv" in ignored
    assert ".env" in ignored


def test_mosquitto_conf_requires_credentials_and_the_acl() -> None:
    options = conf_options(MOSQUITTO_DIR / "mosquitto.conf")
    assert options["allow_anonymous"] == ["false"]
    assert options["persistence"] == ["true"]
    assert int(options["max_queued_messages"][0]) >= 100_000
    assert int(options["max_inflight_messages"][0]) >= 20
    mounts = bind_mounts(SERVICES["mosquitto"])
    assert mounts[options["acl_file"][0]] == MOSQUITTO_DIR / "acl"
    assert mounts["/mosquitto/config/mosquitto.conf"] == MOSQUITTO_DIR / "mosquitto.conf"
    # The password file is generated onto a volume by deploy/mosquitto/make-passwd.sh.
    password_file = options["password_file"][0]
    generator = SERVICES["mqtt-passwd"]
    assert generator["entrypoint"][-1] == password_file
    assert bind_mounts(generator)[generator["entrypoint"][1]] == MOSQUITTO_DIR / "make-passwd.sh"
    assert SERVICES["mosquitto"]["depends_on"]["mqtt-passwd"]["condition"] == "service_completed_successfully"
    assert (MOSQUITTO_DIR / "README.md").exists()


def compose_default(value: str) -> str:
    """What compose substitutes for `${VAR:-default}` when VAR is unset."""
    return re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", value)


def test_compose_makes_the_certificates_before_mosquitto_serves_tls() -> None:
    options = conf_options(MOSQUITTO_DIR / "mosquitto.conf")
    assert "8883 0.0.0.0" in options["listener"]
    cert_dirs = {str(Path(options[key][0]).parent) for key in ("certfile", "keyfile", "cafile")}
    assert cert_dirs == {"/mosquitto/config/certs"}
    certs, mosquitto = SERVICES["certs"], SERVICES["mosquitto"]
    # One-shot, idempotent: make-certs.sh (bind-mounted from deploy/) into a named volume.
    assert certs["restart"] == "no"
    assert certs["image"].startswith("alpine/openssl")  # openssl and /bin/sh
    shell, script, out_dir = certs["entrypoint"]
    assert shell == "/bin/sh"
    assert bind_mounts(certs)[script] == MOSQUITTO_DIR / "make-certs.sh"
    volume = {target: source for source, target, *_ in (v.split(":") for v in certs["volumes"])}[out_dir]
    assert volume in COMPOSE["volumes"]
    assert (
        compose_default(certs["environment"]["SMARTSTORE_MQTT_TLS_NAMES"]) == "mosquitto localhost 127.0.0.1"
    )
    assert str(certs["environment"]["SMARTSTORE_MQTT_KEY_OWNER"]) == "1883"  # the image's mosquitto user
    # mosquitto starts after it, reads the same volume read-only where the conf looks, publishes 8883.
    assert mosquitto["depends_on"]["certs"]["condition"] == "service_completed_successfully"
    assert f"{volume}:{cert_dirs.pop()}:ro" in mosquitto["volumes"]
    assert "8883:8883" in mosquitto["ports"]
    # Plain MQTT stays on the compose network (and the host's loopback): the services use it by name.
    assert [p for p in mosquitto["ports"] if p.endswith(":1883:1883")] == [
        "${SMARTSTORE_MQTT_BIND:-127.0.0.1}:1883:1883"
    ]


def test_the_compose_certs_command_keeps_existing_files(tmp_path: Path) -> None:
    """The `certs` service's own command and environment, run twice: the second run changes no byte."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    certs = SERVICES["certs"]
    _shell, script, out_dir = certs["entrypoint"]
    env = {key: compose_default(str(value)) for key, value in certs["environment"].items()}
    if os.geteuid() != 0:
        env["SMARTSTORE_MQTT_KEY_OWNER"] = str(os.geteuid())  # only root may give the key to uid 1883
    out = tmp_path / out_dir.lstrip("/")
    command = ["sh", str(bind_mounts(certs)[script]), str(out)]

    def run() -> dict[str, bytes]:
        made = subprocess.run(command, env={**os.environ, **env}, capture_output=True, timeout=60)
        assert made.returncode == 0, made.stderr
        return {str(path.relative_to(out)): path.read_bytes() for path in out.rglob("*") if path.is_file()}

    first = run()
    assert {"ca.crt", "ca.key", "server.crt", "server.key"} <= set(first)
    assert (out / "server.key").stat().st_uid == int(env["SMARTSTORE_MQTT_KEY_OWNER"])
    assert run() == first


def test_compose_usernames_are_the_acl_users_and_carry_the_store() -> None:
    acl_users = set(re.findall(r"(?m)^user (\S+)$", (MOSQUITTO_DIR / "acl").read_text(encoding="utf-8")))
    make_passwd = (MOSQUITTO_DIR / "make-passwd.sh").read_text(encoding="utf-8")
    generator_env = SERVICES["mqtt-passwd"]["environment"]
    for name in ("gateway", "edge", "sim"):
        [url] = [
            part.split("=", 1)[1] for part in SERVICES[name]["command"] if part.startswith("--mqtt-url=")
        ]
        username = MqttSettings(url=url).username
        assert username is not None
        assert username in acl_users, f"{name}: {username} has no block in the ACL"
        if name != "gateway":  # the gateway's is the only credential that spans stores
            assert username.startswith(f"{STORE}/"), username
            assert generator_env[f"SMARTSTORE_MQTT_{name.upper()}_USER"] == username
            assert f"{username}}}" in make_passwd  # make-passwd.sh's default, for use without compose


# --- the shipped ACL, enforced by a real Mosquitto -----------------------------------------------

OTHER = "store-hamburg-02"  # a second store on the same broker, with the same device ids
EDGE = f"{STORE}/edge/edge-1"
SIM = f"{STORE}/sim"
PASSWORDS = {"gateway-1": "gw-secret-1", EDGE: "edge-secret-1", SIM: "sim-secret-1"}
DEVICES = {
    f"{STORE}/rfid/reader-aisle-1": "r1-secret",
    f"{STORE}/rfid/reader-aisle-2": "r2-secret",
    f"{STORE}/camera/cam-1l": "cam-secret",
    f"{STORE}/locker/locker-1": "l1-secret",
    f"{OTHER}/rfid/reader-aisle-1": "b-r1-secret",
    f"{OTHER}/locker/locker-1": "b-l1-secret",
}
READER = f"{STORE}/rfid/reader-aisle-1"


@dataclass
class SecuredBroker:
    port: int
    process: subprocess.Popen[bytes]


@pytest.fixture
def secured_broker(tmp_path: Path) -> Iterator[SecuredBroker]:
    """The shipped mosquitto.conf and ACL (TLS listener included), password file made by make-passwd.sh."""
    env = {
        "SMARTSTORE_MQTT_GATEWAY_PASSWORD": PASSWORDS["gateway-1"],
        "SMARTSTORE_MQTT_EDGE_PASSWORD": PASSWORDS[EDGE],
        "SMARTSTORE_MQTT_SIM_PASSWORD": PASSWORDS[SIM],
        "SMARTSTORE_MQTT_DEVICE_PASSWORDS": " ".join(f"{d}:{p}" for d, p in DEVICES.items()),
    }
    for broker in start_shipped_broker(tmp_path, env):
        passwd = (broker.root / "secrets" / "passwd").read_text()
        assert len(passwd.splitlines()) == len(PASSWORDS) + len(DEVICES)
        assert "gw-secret-1" not in passwd  # hashed, not stored
        yield SecuredBroker(broker.plain_port, broker.process)


class Client:
    """A paho MQTT 5 client that records CONNACK, PUBACK reason codes and received messages."""

    def __init__(self, port: int, username: str | None, password: str | None = None) -> None:
        self.connack: ReasonCode | None = None
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.granted: list[ReasonCode] = []
        self.pubacks: dict[int, ReasonCode] = {}
        self.received: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=f"t-{username}", protocol=paho.MQTTv5
        )
        if username is not None:
            self.client.username_pw_set(username, password)
        self.client.on_connect = self._on_connect
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_connect(self, _c: paho.Client, _u: object, _f: object, reason: ReasonCode, _p: object) -> None:
        self.connack = reason
        self.connected.set()

    def _on_subscribe(
        self, _c: paho.Client, _u: object, _mid: int, reasons: list[ReasonCode], _p: object
    ) -> None:
        self.granted = list(reasons)
        self.subscribed.set()

    def _on_publish(self, _c: paho.Client, _u: object, mid: int, reason: ReasonCode, _p: object) -> None:
        with self.lock:
            self.pubacks[mid] = reason

    def _on_message(self, _c: paho.Client, _u: object, message: paho.MQTTMessage) -> None:
        with self.lock:
            self.received.append((message.topic, bytes(message.payload)))

    def wait_connack(self) -> ReasonCode:
        assert self.connected.wait(5), "no CONNACK"
        assert self.connack is not None
        return self.connack

    def subscribe(self, topic_filter: str) -> ReasonCode:
        """Subscribe at QoS 1 and return the broker's SUBACK reason code."""
        self.subscribed.clear()
        self.client.subscribe(topic_filter, qos=1)
        assert self.subscribed.wait(5)
        [granted] = self.granted
        return granted

    def publish(self, topic: str, payload: bytes) -> ReasonCode:
        """Publish at QoS 1 and return the broker's PUBACK reason code."""
        info = self.client.publish(topic, payload, qos=1)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with self.lock:
                if info.mid in self.pubacks:
                    return self.pubacks[info.mid]
            time.sleep(0.01)
        raise AssertionError(f"no PUBACK for {topic}")

    def wait_for(self, payload: bytes) -> list[bytes]:
        """Wait for `payload`, then return every payload received so far, in order."""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with self.lock:
                if any(p == payload for _, p in self.received):
                    return [p for _, p in self.received]
            time.sleep(0.01)
        raise AssertionError(f"{payload!r} never arrived; got {self.received}")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def connect(port: int, username: str | None, password: str | None = None) -> Client:
    client = Client(port, username, password)
    assert not client.wait_connack().is_failure, f"{username} was refused: {client.connack}"
    return client


def test_acl_fences_each_device_into_its_own_topics(secured_broker: SecuredBroker) -> None:
    port = secured_broker.port
    edge = connect(port, EDGE, PASSWORDS[EDGE])
    edge.subscribe(topics.device_data_filters(STORE)[0])
    gateway = connect(port, "gateway-1", PASSWORDS["gateway-1"])
    gateway.subscribe(topics.signals_filter())
    reader = connect(port, READER, DEVICES[READER])
    camera = connect(port, f"{STORE}/camera/cam-1l", DEVICES[f"{STORE}/camera/cam-1l"])

    own_reads = topics.rfid_reads(STORE, "reader-aisle-1")
    assert not reader.publish(own_reads, b"own-1").is_failure
    # Another reader's reads, another kind's topic, and every signal topic are refused (PUBACK 135)...
    forbidden = [
        topics.rfid_reads(STORE, "reader-aisle-2"),
        topics.signal(STORE, "edge-1", SignalType.STOCK),
        topics.signal(STORE, "reader-aisle-1", SignalType.STOCK),
        topics.status(STORE, topics.Kind.GATEWAY, "gateway-1"),
        topics.edge_telemetry(STORE, "edge-1", TelemetryType.RFID),
    ]
    for topic in forbidden:
        assert reader.publish(topic, b"forged").value == 135, topic
    assert camera.publish(own_reads, b"forged").value == 135
    # ...and none of them reaches a subscriber: the marker published after them arrives alone.
    assert not reader.publish(own_reads, b"own-2").is_failure
    assert edge.wait_for(b"own-2") == [b"own-1", b"own-2"]
    edge_signal = topics.signal(STORE, "edge-1", SignalType.STOCK)
    assert not edge.publish(edge_signal, b"edge-signal").is_failure
    assert gateway.wait_for(b"edge-signal") == [b"edge-signal"]
    assert not edge.publish(topics.edge_telemetry(STORE, "edge-1", TelemetryType.RFID), b"t").is_failure
    # The edge agent may only sign its own signals, too.
    assert edge.publish(topics.signal(STORE, "edge-2", SignalType.STOCK), b"forged").value == 135
    for client in (edge, gateway, reader, camera):
        client.close()


def test_anonymous_and_wrong_passwords_are_refused(secured_broker: SecuredBroker) -> None:
    anonymous = Client(secured_broker.port, None)
    assert anonymous.wait_connack().is_failure
    wrong = Client(secured_broker.port, READER, "guess")
    assert wrong.wait_connack().is_failure
    unknown = Client(secured_broker.port, f"{STORE}/rfid/reader-aisle-9", "r1-secret")
    assert unknown.wait_connack().is_failure
    for client in (anonymous, wrong, unknown):
        client.client.loop_stop()


def test_devices_may_announce_themselves_with_a_last_will(secured_broker: SecuredBroker) -> None:
    gateway = connect(secured_broker.port, "gateway-1", PASSWORDS["gateway-1"])
    gateway.subscribe(topics.status_filter(STORE))
    status_topic = topics.status(STORE, topics.Kind.RFID, "reader-aisle-2")
    device = paho.Client(CallbackAPIVersion.VERSION2, client_id="reader-2", protocol=paho.MQTTv5)
    device.username_pw_set(f"{STORE}/rfid/reader-aisle-2", DEVICES[f"{STORE}/rfid/reader-aisle-2"])
    device.will_set(status_topic, b"offline", qos=1, retain=True)
    device.connect("127.0.0.1", secured_broker.port)
    device.loop_start()
    time.sleep(0.2)
    device.loop_stop()
    sock = device.socket()
    assert isinstance(sock, socket.socket)
    sock.close()  # vanish without DISCONNECT: the broker publishes the Will to the gateway
    assert gateway.wait_for(b"offline") == [b"offline"]
    gateway.close()


def test_each_credential_is_bound_to_its_store(secured_broker: SecuredBroker) -> None:
    """Device ids repeat across stores; a credential of store A touches none of store B's topics.

    Mosquitto 2.0 grants a wildcard SUBSCRIBE and checks read access on each delivery, so reads are
    proven by what arrives: a marker sent after the forbidden message arrives alone.
    """
    port = secured_broker.port
    edge = connect(port, EDGE, PASSWORDS[EDGE])
    reader = connect(port, READER, DEVICES[READER])
    locker_a = connect(port, f"{STORE}/locker/locker-1", DEVICES[f"{STORE}/locker/locker-1"])
    locker_b = connect(port, f"{OTHER}/locker/locker-1", DEVICES[f"{OTHER}/locker/locker-1"])
    reader_b = connect(port, f"{OTHER}/rfid/reader-aisle-1", DEVICES[f"{OTHER}/rfid/reader-aisle-1"])
    gateway = connect(port, "gateway-1", PASSWORDS["gateway-1"])  # the one cross-store credential
    gateway.subscribe("smartstore/v1/+/locker/+/event")
    gateway.subscribe(topics.signals_filter())
    locker_a.subscribe(topics.locker_cmd(STORE, "locker-1"))
    locker_b.subscribe(topics.locker_cmd(OTHER, "locker-1"))
    reader.subscribe(topics.signals_filter())  # every store's signals, B's included
    reader.subscribe(topics.rfid_reads(OTHER, "reader-aisle-1"))
    edge.subscribe(topics.device_data_filters(STORE)[0])
    edge.subscribe(topics.device_data_filters(OTHER)[0])

    # Store A's reader-aisle-1 may not publish store B's reads (same device id)...
    assert reader.publish(topics.rfid_reads(OTHER, "reader-aisle-1"), b"forged-reads").value == 135
    # ...A's edge agent may not command B's lockers nor sign B's signals, B's locker-1 not speak for A's.
    assert edge.publish(topics.locker_cmd(OTHER, "locker-1"), b"forged-cmd").value == 135
    assert edge.publish(topics.signal(OTHER, "edge-1", SignalType.STOCK), b"forged-signal").value == 135
    assert locker_b.publish(topics.locker_event(STORE, "locker-1"), b"forged-event").value == 135

    # Each still does its own job; what the others were denied never arrives.
    assert not reader_b.publish(topics.rfid_reads(OTHER, "reader-aisle-1"), b"b-reads").is_failure
    assert not reader.publish(topics.rfid_reads(STORE, "reader-aisle-1"), b"own-reads").is_failure
    assert edge.wait_for(b"own-reads") == [b"own-reads"]  # B's reads did not reach A's edge
    assert not edge.publish(topics.signal(STORE, "edge-1", SignalType.STOCK), b"a-signal").is_failure
    assert gateway.wait_for(b"a-signal") == [b"a-signal"]
    assert not edge.publish(topics.locker_cmd(STORE, "locker-1"), b"own-cmd").is_failure
    assert locker_a.wait_for(b"own-cmd") == [b"own-cmd"]
    assert not locker_b.publish(topics.locker_event(OTHER, "locker-1"), b"b-event").is_failure
    assert gateway.wait_for(b"b-event") == [b"a-signal", b"b-event"]  # the forged event never arrived
    time.sleep(0.2)  # deliveries to the reader and to B's locker would have come in the same order
    assert reader.received == []  # neither B's reads nor any store's signals
    assert locker_b.received == []  # A's edge reached no locker of store B
    for client in (edge, reader, locker_a, locker_b, reader_b, gateway):
        client.close()


def test_only_the_gateway_announces_its_presence_and_every_edge_hears_it(
    secured_broker: SecuredBroker,
) -> None:
    """A gateway's presence lies outside every store (one Last Will for all the stores it serves):
    the gateway may write its own, every edge agent reads it, no device can forge it."""
    port = secured_broker.port
    edge = connect(port, EDGE, PASSWORDS[EDGE])
    assert not edge.subscribe(topics.gateway_presence_filter()).is_failure
    gateway = connect(port, "gateway-1", PASSWORDS["gateway-1"])
    reader = connect(port, READER, DEVICES[READER])
    try:
        assert reader.publish(topics.gateway_presence("gateway-1"), b"forged").value == 135
        assert edge.publish(topics.gateway_presence("gateway-1"), b"forged-by-edge").value == 135
        assert gateway.publish(topics.gateway_presence("gateway-2"), b"another gateway's").value == 135
        # ...nor a gateway status inside a store, the old place that reached one store's edges only.
        assert gateway.publish(topics.status(STORE, topics.Kind.GATEWAY, "gateway-1"), b"old").value == 135
        assert not gateway.publish(topics.gateway_presence("gateway-1"), b"online").is_failure
        assert edge.wait_for(b"online") == [b"online"]
    finally:
        for client in (edge, gateway, reader):
            client.close()
