"""Helpers for the LLRP bridge tests: llrpkit's emulator on its own loop, a freezable proxy, MQTT watching."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any, TypeVar

import paho.mqtt.client as paho
from llrpkit.emulator import EmulatedTag, LLRPEmulator
from llrpkit.protocol import LLRPMessage, impinj, messages

from smartstore.devices.llrp import ReaderBridge, ReaderBridgeSettings
from smartstore.kernel.contract import topics
from smartstore.kernel.contract.payloads import DeviceStatus, ReadBatch
from smartstore.kernel.contract.validation import Decoded, decode
from smartstore.kernel.mqtt import MqttLink, MqttSettings

T = TypeVar("T")

READER = "reader-backroom"  # antennas 1 and 2 in the example store


def wait_for(condition: Callable[[], bool], timeout: float = 5.0, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


def epc(index: int) -> bytes:
    return bytes.fromhex("E28011700000020A") + index.to_bytes(4, "big")


class ExtensionsRefusingEmulator(LLRPEmulator):
    """An Impinj reader whose firmware refuses the Octane extensions, as one recorded in the field did:
    IMPINJ_ENABLE_EXTENSIONS answered with an ERROR_MESSAGE, status 112, standard LLRP otherwise."""

    async def _handle_message(self, msg: LLRPMessage) -> None:
        if isinstance(msg, impinj.IMPINJ_ENABLE_EXTENSIONS):
            refusal = messages.ERROR_MESSAGE(llrp_status=self._status_error(112, "message type unsupported"))
            await self._send(refusal, message_id=msg.message_id)
            return
        await super()._handle_message(msg)


class EmulatorThread:
    """llrpkit's LLRPEmulator (the reader) on a private event loop thread, driven from test code."""

    def __init__(
        self,
        tags: list[EmulatedTag],
        *,
        antenna_count: int = 4,
        reads_per_sec: float = 200.0,
        emulator_class: type[LLRPEmulator] = LLRPEmulator,
    ) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="llrp-emulator", daemon=True)
        self.emulator = emulator_class(tags=tags, antenna_count=antenna_count, reads_per_sec=reads_per_sec)
        self.proxy: FreezingProxy | None = None

    def call(self, job: Coroutine[Any, Any, T], timeout: float = 5.0) -> T:
        return asyncio.run_coroutine_threadsafe(job, self.loop).result(timeout)

    def start(self) -> EmulatorThread:
        self._thread.start()
        self.call(self.emulator.start())
        return self

    @property
    def port(self) -> int:
        return self.emulator.port

    def stop_listening(self) -> None:
        """Close the reader's listening socket and its client connection: the reader is gone."""
        self.call(self.emulator.stop())

    def restart(self) -> None:
        """Listen again on the same port, as a rebooted reader would."""
        self.call(self.emulator.start())

    def remove_tag(self, tag_epc: bytes) -> None:
        async def _remove() -> None:
            self.emulator.tags = [tag for tag in self.emulator.tags if tag.epc != tag_epc]

        self.call(_remove())

    def set_antenna(self, port: int, connected: bool) -> None:
        self.call(self.emulator.set_antenna_connected(port, connected))

    def start_proxy(self) -> FreezingProxy:
        self.proxy = FreezingProxy(self.port)
        self.call(self.proxy.start())
        return self.proxy

    def close(self) -> None:
        if self.proxy is not None:
            self.call(self.proxy.stop())
        with contextlib.suppress(Exception):
            self.call(self.emulator.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)


class FreezingProxy:
    """A TCP relay to the emulator that can go silent without closing: a half-open link, no keepalives."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self.frozen = False
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _relay(self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter) -> None:
        try:
            upstream_in, upstream_out = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            client_out.close()
            return
        self._writers += [client_out, upstream_out]
        await asyncio.gather(self._pipe(client_in, upstream_out), self._pipe(upstream_in, client_out))

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await source.read(65536):
                if not self.frozen:  # frozen: swallow everything, keep the sockets open
                    sink.write(data)
                    await sink.drain()
        sink.close()

    async def thaw(self) -> None:
        """Drop the frozen connections (both ends) and relay new ones again."""
        for writer in self._writers:
            writer.close()
        self._writers.clear()
        self.frozen = False

    async def stop(self) -> None:
        await self.thaw()
        if self._server is not None:
            self._server.close()


class BridgeThread:
    """A ReaderBridge on its own event loop thread, stopped the way SIGTERM stops it."""

    def __init__(self, settings: ReaderBridgeSettings) -> None:
        self.bridge = ReaderBridge(settings)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(
            target=asyncio.run, args=(self._main(),), name="llrp-bridge", daemon=True
        )

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._ready.set()
        await self.bridge.run(self._stop)

    def start(self) -> BridgeThread:
        self._thread.start()
        assert self._ready.wait(5)
        return self

    def stop(self, timeout: float = 10.0) -> bool:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)
        return not self._thread.is_alive()


class ReaderWatcher:
    """Subscribes to one reader's reads and status topics and keeps what arrives, decoded via the contract."""

    def __init__(self, settings: MqttSettings, store: str, reader: str) -> None:
        self.reads_topic = topics.rfid_reads(store, reader)
        self.status_topic = topics.status(store, topics.Kind.RFID, reader)
        self.batches: list[tuple[float, ReadBatch]] = []
        self.statuses: list[tuple[float, DeviceStatus, bool]] = []
        self.rejected: list[str] = []
        self._lock = threading.Lock()
        self.link = MqttLink(settings, f"test-llrp-{uuid.uuid4().hex[:8]}")
        for topic_filter in (self.reads_topic, self.status_topic):
            self.link.subscribe(topic_filter, 1, self._record)

    def _record(self, message: paho.MQTTMessage) -> None:
        result = decode(message.topic, bytes(message.payload))
        with self._lock:
            if not isinstance(result, Decoded):
                self.rejected.append(str(result))
            elif isinstance(result.payload, ReadBatch):
                self.batches.append((time.monotonic(), result.payload))
            elif isinstance(result.payload, DeviceStatus):
                self.statuses.append((time.monotonic(), result.payload, bool(message.retain)))

    def start(self) -> ReaderWatcher:
        self.link.start()
        assert self.link.wait_connected(5.0)
        return self

    def stop(self) -> None:
        self.link.stop()

    def batches_since(self, since: float) -> list[ReadBatch]:
        with self._lock:
            return [batch for at, batch in self.batches if at >= since]

    def epcs_since(self, since: float) -> set[str]:
        return {read.epc for batch in self.batches_since(since) for read in batch.reads}

    def latest_status(self) -> DeviceStatus | None:
        with self._lock:
            return self.statuses[-1][1] if self.statuses else None

    def status_is(self, **info: object) -> bool:
        status = self.latest_status()
        return status is not None and all(status.info.get(key) == value for key, value in info.items())

    def first_status_since(self, since: float, **info: object) -> tuple[float, DeviceStatus] | None:
        with self._lock:
            for at, status, _ in self.statuses:
                if at >= since and all(status.info.get(key) == value for key, value in info.items()):
                    return at, status
        return None


def hex_of(tag: EmulatedTag) -> str:
    return tag.epc.hex().upper()


def aware_now() -> datetime:
    return datetime.now().astimezone()


BridgeFactory = Callable[..., BridgeThread]
