"""The ingest receiver process: paho only, forwarding raw messages in chunks and acking what was committed.

It runs in its own process so that paho's network work (about as costly per message as applying
it) does not share a GIL with the writer. It never acknowledges anything on its own: the gateway
process sends back the message ids of each committed batch, and only those are acked.

Wire between the two processes, one duplex `multiprocessing` connection:
    receiver -> gateway: a list of `RawMessage` tuples per chunk; `None` once drained after "stop".
    gateway -> receiver: `("ack", generation, mids, done)`, `("stop",)`, `("bye",)`.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import os
import signal
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event as ProcessEvent
from typing import Any

import paho.mqtt.client as paho

from smartstore.gateway.ingest.limits import SizeLimits
from smartstore.kernel.mqtt import MqttLink, MqttSettings

logger = logging.getLogger(__name__)

RawMessage = tuple[str, bytes, int, int, int] | tuple[str, bytes, int, int, int, tuple[int, str]]
"""(topic, payload, mid, qos, generation[, (size, sha256)]): the fields of `decode.Inbound`, in its
order; the last only for a payload over its topic's limit, of which only an excerpt travels."""

_CHUNK_MAX = 2000  # messages per pickled chunk at most
_BACKPRESSURE_TICK_S = 0.002
_PUBACK_HEADER = bytes((paho.PUBACK, 2))  # fixed header: packet type, remaining length


@dataclass(frozen=True)
class ReceiverSettings:
    """Everything the receiver process needs; picklable, since it crosses a spawn."""

    mqtt: MqttSettings
    client_id: str
    status_topic: str
    subscriptions: list[tuple[str, int]]
    receive_maximum: int
    outstanding_max: int  # messages forwarded but not yet reported done, at most
    generation_base: int  # distinct per receiver incarnation, so acks never reach the wrong one
    log_level: int
    limits: SizeLimits = field(default_factory=SizeLimits)
    excerpt_bytes: int = 1024


@dataclass
class ReceiverShared:
    """State the gateway reads without asking: connected for /healthz, subscribed for wait_ready."""

    connected: ProcessEvent
    subscribed: ProcessEvent
    received: Any  # a RawValue("q"): messages taken from the broker by this incarnation


class Receiver:
    """Lives in the receiver process; owns the paho client."""

    def __init__(self, settings: ReceiverSettings, shared: ReceiverShared, channel: Connection) -> None:
        self._settings = settings
        self._shared = shared
        self._channel = channel
        self._buffer: deque[RawMessage] = deque()
        self._arrived = threading.Event()
        self._accepting = True
        self._drained = threading.Event()
        # Two counters, each written by one thread only, so neither needs a lock.
        self._taken = 0
        self._done = 0
        self._generation = settings.generation_base
        self._link = MqttLink(
            settings.mqtt,
            settings.client_id,
            status_topic=settings.status_topic,
            clean_start=False,
            manual_ack=True,
            receive_maximum=settings.receive_maximum,
        )
        for topic_filter, qos in settings.subscriptions:
            self._link.subscribe(topic_filter, qos, self._on_message)
        self._link.on_connected(self._connected)
        self._link.on_disconnected(shared.connected.clear)
        self._link.on_subscribed(self._subscribed)

    def run(self) -> None:
        sender = threading.Thread(target=self._forward, name="ingest-forward", daemon=True)
        sender.start()
        self._link.start()
        try:
            self._serve_gateway()
        finally:
            self._accepting = False
            self._link.stop()
            self._shared.connected.clear()

    # --- paho thread -----------------------------------------------------------------------------

    def _connected(self) -> None:
        # Packet ids belong to one connection; what arrived before is redelivered on this one. No
        # message of the new connection is handled before this returns (same paho thread).
        self._generation += 1
        self._shared.subscribed.clear()
        self._shared.connected.set()

    def _subscribed(self, topic_filter: str, granted: bool) -> None:
        if self._link.subscribed.is_set():
            self._shared.subscribed.set()

    def _on_message(self, message: paho.MQTTMessage) -> None:
        if not self._accepting:
            return  # not acknowledged: redelivered to the next session
        while self._taken - self._done >= self._settings.outstanding_max:
            # Only QoS 0 floods get here (receive maximum bounds QoS 1): holding the network thread
            # stops reading the socket, which is the backpressure.
            if not self._accepting:
                return
            time.sleep(_BACKPRESSURE_TICK_S)
        self._taken += 1
        self._shared.received.value = self._taken
        topic, payload = _topic_text(message), message.payload
        if len(payload) > self._settings.limits.for_topic(topic):
            # Never forwarded whole: the writer dead-letters an excerpt with the real size and hash.
            oversize = (len(payload), hashlib.sha256(payload).hexdigest())
            excerpt = bytes(payload[: self._settings.excerpt_bytes])
            self._buffer.append((topic, excerpt, message.mid, message.qos, self._generation, oversize))
        else:
            self._buffer.append((topic, bytes(payload), message.mid, message.qos, self._generation))
        if not self._arrived.is_set():
            self._arrived.set()

    # --- forward thread: buffer -> gateway -------------------------------------------------------

    def _forward(self) -> None:
        buffer, channel = self._buffer, self._channel
        try:
            while True:
                self._arrived.wait(0.1)
                self._arrived.clear()
                while buffer:
                    chunk = [buffer.popleft() for _ in range(min(_CHUNK_MAX, len(buffer)))]
                    channel.send(chunk)
                if not self._accepting and not buffer:
                    channel.send(None)
                    self._drained.set()
                    return
        except (OSError, EOFError):
            logger.error("ingest gateway went away; receiver exits without acknowledging")
            os._exit(3)

    # --- main thread: gateway -> acks ------------------------------------------------------------

    def _serve_gateway(self) -> None:
        client = self._link.client
        while True:
            try:
                request = self._channel.recv()
            except (OSError, EOFError):
                # The gateway died: exit at once, unacked messages are redelivered to its successor,
                # and the broker publishes our Last Will. Lingering would fight the successor for
                # the client id.
                os._exit(3)
            command = request[0]
            if command == "ack":
                _, generation, mids, done = request
                if generation > self._settings.generation_base:
                    self._done += done  # else the tail of a dead predecessor's work
                if mids and generation == self._generation:
                    ack_all(client, mids)
            elif command == "stop":
                self._accepting = False
                self._arrived.set()
            elif command == "bye":
                return


def receiver_main(settings: ReceiverSettings, shared: ReceiverShared, channel: Connection) -> None:
    """Entry point of the receiver process (spawned: it shares nothing with the gateway's threads)."""
    # Ctrl-C and a service manager's SIGTERM reach the whole process group: the gateway decides when
    # this process stops (it drains it first), and its death ends this one (see _serve_gateway).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    Receiver(settings, shared, channel).run()


def ack_all(client: paho.Client, mids: list[int]) -> None:
    """PUBACK every message id in one write.

    `client.ack` queues one packet per message, and paho then wakes its thread and makes one send()
    per packet: for a 2,000-message batch that is most of the cost of acknowledging. MQTT lets
    packets share a write, and a success PUBACK is the same four bytes in 3.1.1 and 5 (reason code
    and properties may be left out), so one queued buffer carries them all. Falls back to per-message
    acks should paho's internals ever change.
    """
    queue_packet = getattr(client, "_packet_queue", None)
    if queue_packet is None:
        for mid in mids:
            client.ack(mid, 1)
        return
    packets = b"".join(_PUBACK_HEADER + mid.to_bytes(2, "big") for mid in mids)
    queue_packet(paho.PUBACK, packets, 0, 0)


def _topic_text(message: paho.MQTTMessage) -> str:
    try:
        return message.topic
    except UnicodeDecodeError:
        return message._topic.decode("utf-8", "replace")
