"""A local MQTT broker for demos and tests: amqtt in a background thread, or the system mosquitto."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import random
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from concurrent.futures import TimeoutError as FutureTimeoutError
from pathlib import Path
from typing import Any, Literal, Protocol

logger = logging.getLogger(__name__)

BrokerKind = Literal["amqtt", "mosquitto"]
# amqtt and its state machine library log every connection and state change at INFO.
_CHATTY_LOGGERS = ("amqtt", "transitions")


class BrokerStartError(RuntimeError):
    """The local broker could not be started."""


class LocalBroker(Protocol):
    """What the demo needs of a broker it runs itself."""

    host: str
    port: int
    protocol: Literal["5", "3.1.1"]

    @property
    def url(self) -> str: ...

    def start(self, timeout: float = 10.0) -> None: ...

    def stop(self, timeout: float = 10.0) -> None: ...


_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
# How far below the ephemeral range free ports are drawn from (ports under 1024 are never used).
_BELOW_EPHEMERAL = 12_000


def ephemeral_port_floor() -> int | None:
    """The lowest port Linux gives outgoing connections, or None where the kernel does not say."""
    try:
        return int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing uses right now, for a broker or server started next.

    Drawn below the kernel's ephemeral range where Linux tells it: a port the OS picks (bind to port 0) comes
    from that range, and an outgoing connection made before the server starts may take it as its local port
    (seen in CI: the demo's gateway could not bind its port).
    """
    floor = ephemeral_port_floor()
    if floor is not None and floor > 2048:
        rng = random.Random()
        for _ in range(200):
            port = rng.randint(max(1024, floor - _BELOW_EPHEMERAL), floor - 1)
            with socket.socket() as sock:
                try:
                    sock.bind((host, port))
                except OSError:
                    continue
                return port
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(host: str, port: int) -> bool:
    """Whether a server could listen on host:port now (bound the way uvicorn and the brokers bind)."""
    with socket.socket() as sock:
        # As servers do: a port left in TIME_WAIT by a previous run is free, one with a listener is not.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def wait_for_listener(host: str, port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class EmbeddedBroker:
    """amqtt on HOST:PORT, served by its own asyncio loop in a daemon thread.

    amqtt speaks MQTT 3.1.1 only, so every client must connect with protocol "3.1.1". It honours
    QoS 1, retained messages and the Last Will, which is all the contract relies on. Anonymous
    clients are accepted: bind it to loopback only.
    """

    protocol: Literal["5", "3.1.1"] = "3.1.1"

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._broker: Any = None
        self._started = threading.Event()
        self._start_error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def _config(self) -> dict[str, Any]:
        return {
            "listeners": {
                "default": {"type": "tcp", "bind": f"{self.host}:{self.port}", "max_connections": 0}
            },
            # Only the auth plugin: amqtt's default packet/event loggers cost a log line per message.
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }

    def start(self, timeout: float = 10.0) -> None:
        if self._thread is not None:
            raise BrokerStartError("embedded broker already started")
        if importlib.util.find_spec("amqtt") is None:
            raise BrokerStartError("amqtt is not installed")
        for name in _CHATTY_LOGGERS:
            chatty = logging.getLogger(name)
            if chatty.level == logging.NOTSET:
                chatty.setLevel(logging.WARNING)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name=f"amqtt-{self.port}", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout):
            self.stop()
            raise BrokerStartError(f"embedded broker did not start within {timeout:.0f} s")
        if self._start_error is not None:
            error = self._start_error
            self._join(timeout)
            raise BrokerStartError(f"embedded broker on {self.host}:{self.port}: {error}") from error
        logger.info("embedded MQTT 3.1.1 broker (amqtt) listening on %s", self.url)

    def _serve(self) -> None:
        assert self._loop is not None
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._start_broker())
        except BaseException as error:  # reported to start(), which raises it in the caller's thread
            self._start_error = error
            self._started.set()
            self._loop.close()
            return
        self._started.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._cancel_leftover_tasks())
        self._loop.close()

    async def _start_broker(self) -> None:
        from amqtt.broker import Broker

        self._broker = Broker(self._config(), loop=self._loop)
        await self._broker.start()

    async def _cancel_leftover_tasks(self) -> None:
        # Per-connection tasks of clients that never disconnected would otherwise warn at exit.
        current = asyncio.current_task()
        tasks = [task for task in asyncio.all_tasks() if task is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def stop(self, timeout: float = 10.0) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or not thread.is_alive():
            return
        if self._broker is not None:
            future = asyncio.run_coroutine_threadsafe(self._broker.shutdown(), loop)
            try:
                future.result(timeout)
            except FutureTimeoutError:
                logger.warning("embedded broker did not shut down within %.0f s; stopping its loop", timeout)
            except Exception:
                logger.exception("embedded broker shutdown failed; stopping its loop")
        loop.call_soon_threadsafe(loop.stop)
        self._join(timeout)
        logger.info("embedded broker on %s stopped", self.url)

    def _join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)


MOSQUITTO_CONFIG = """\
# Generated by smartstore: a loopback-only, anonymous broker for a demo or a test.
listener {port} {host}
allow_anonymous true
persistence true
persistence_location {directory}/
max_inflight_messages 1000
max_queued_messages 200000
"""
# Benchmarks: nothing on disk and no queue limits, so a QoS 1 backlog is never dropped or throttled.
MOSQUITTO_BENCH_CONFIG = """\
# Generated by smartstore: a loopback-only, anonymous, in-memory broker for a benchmark.
listener {port} {host}
allow_anonymous true
persistence false
max_inflight_messages 0
max_queued_messages 0
max_queued_bytes 0
set_tcp_nodelay true
"""


class MosquittoProcess:
    """The system `mosquitto` binary with a generated loopback-only config; speaks MQTT 5 and 3.1.1."""

    protocol: Literal["5", "3.1.1"] = "5"

    def __init__(
        self,
        port: int,
        host: str = "127.0.0.1",
        directory: Path | None = None,
        config_template: str = MOSQUITTO_CONFIG,
    ) -> None:
        self.host = host
        self.port = port
        self.directory = directory
        self.config_template = config_template  # formatted with port, host and directory
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    @staticmethod
    def available() -> bool:
        return shutil.which("mosquitto") is not None

    def start(self, timeout: float = 10.0) -> None:
        binary = shutil.which("mosquitto")
        if binary is None:
            raise BrokerStartError("the mosquitto binary is not installed")
        directory = self.directory or Path(tempfile.mkdtemp(prefix="smartstore-mosquitto-"))
        directory.mkdir(parents=True, exist_ok=True)
        config = directory / "mosquitto.conf"
        config.write_text(self.config_template.format(port=self.port, host=self.host, directory=directory))
        log = (directory / "mosquitto.log").open("ab")
        self._process = subprocess.Popen([binary, "-c", str(config)], stdout=log, stderr=subprocess.STDOUT)
        log.close()
        if not wait_for_listener(self.host, self.port, timeout) or self._process.poll() is not None:
            self.stop()
            raise BrokerStartError(f"mosquitto did not listen on {self.host}:{self.port}; see {directory}")
        logger.info("mosquitto listening on %s (config %s)", self.url, config)

    def stop(self, timeout: float = 10.0) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


def start_local_broker(
    port: int, host: str = "127.0.0.1", *, prefer: BrokerKind = "amqtt", directory: Path | None = None
) -> LocalBroker:
    """Start the preferred broker, falling back to the other one when it cannot start."""
    order: list[BrokerKind] = ["amqtt", "mosquitto"] if prefer == "amqtt" else ["mosquitto", "amqtt"]
    failures: list[str] = []
    for kind in order:
        broker: LocalBroker = (
            EmbeddedBroker(port, host) if kind == "amqtt" else MosquittoProcess(port, host, directory)
        )
        try:
            broker.start()
        except BrokerStartError as error:
            logger.warning("could not start %s broker: %s", kind, error)
            failures.append(f"{kind}: {error}")
            continue
        return broker
    raise BrokerStartError("no local broker could start: " + "; ".join(failures))
