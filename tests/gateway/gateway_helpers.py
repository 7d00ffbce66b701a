"""Helpers for gateway tests: a QoS 1 publisher, signal builders, polling, well-known catalog entries."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from datetime import datetime
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from smartstore.gateway.events import EventBus, LiveEvent
from smartstore.gateway.ingest.consumer import SignalConsumer
from smartstore.gateway.runtime import GatewayRuntime
from smartstore.kernel.contract import payloads as p
from smartstore.kernel.contract import topics
from smartstore.kernel.mqtt import MqttSettings

STORE = "store-berlin-01"
AGENT = "edge-1"
MILK = "09506000100005"  # RFID-tagged
RICE = "09506000100098"  # not RFID-tagged
UNREACHABLE_BROKER = MqttSettings(url="mqtt://127.0.0.1:1")


class Publisher:
    """A plain paho client publishing QoS 1, standing in for an edge agent or a device."""

    def __init__(
        self, url: str, client_id: str | None = None, protocol: MQTTProtocolVersion = paho.MQTTv5
    ) -> None:
        settings = MqttSettings(url=url)
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"pub-{uuid.uuid4().hex[:8]}",
            protocol=protocol,
        )
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.settings = settings
        self.seq = 0

    def connect(self) -> Publisher:
        self.client.connect(self.settings.host, self.settings.port)
        self.client.loop_start()
        return self

    def publish(
        self, topic: str, payload: bytes, retain: bool = False, wait: bool = True
    ) -> paho.MQTTMessageInfo:
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        if wait:
            info.wait_for_publish(5)
        return info

    def signal(self, signal_type: topics.SignalType, payload: bytes, store: str = STORE) -> None:
        self.publish(topics.signal(store, AGENT, signal_type), payload)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class RuntimeConsumer(SignalConsumer):
    """A signal consumer that remembers the runtime it was built from: tests read its database."""

    def __init__(self, runtime: GatewayRuntime) -> None:
        super().__init__(runtime.settings, runtime.stores, runtime.engine, runtime.bus, runtime.metrics)
        self.runtime = runtime


class Signals:
    """Signal payloads with a fresh id and a running seq, as an edge agent would send them."""

    def __init__(self) -> None:
        self.seq = 0

    def _envelope(self, ts: datetime | None = None, seq: int | None = None) -> dict[str, object]:
        self.seq = self.seq + 1 if seq is None else seq
        return p.envelope(self.seq, ts)

    def stock(
        self,
        counts: list[tuple[str, str, int]],
        *,
        snapshot: bool = False,
        zones: list[str] | None = None,
        source: p.StockSource = p.StockSource.RFID,
        **env: Any,
    ) -> p.StockSignal:
        return p.StockSignal(
            **self._envelope(**env),
            source=source,
            counts=[p.ZoneCount(zone=z, gtin=g, count=c) for z, g, c in counts],
            snapshot=snapshot,
            zones=zones or [],
        )

    def shelf(self, camera: str, slots: list[tuple[str, str, str, float]], **env: Any) -> p.ShelfSignal:
        observations = [
            p.SlotObservation(slot=s, gtin=g, state=p.ShelfState(state), fill=fill)
            for s, g, state, fill in slots
        ]
        return p.ShelfSignal(**self._envelope(**env), camera=camera, slots=observations)

    def pickup(
        self, lines: list[tuple[str, int]], locker: str = "locker-1", compartment: str = "c01", **env: Any
    ) -> p.PickupSignal:
        return p.PickupSignal(
            **self._envelope(**env),
            locker=locker,
            compartment=compartment,
            order="order-1",
            lines=[p.PickupLine(gtin=g, quantity=q) for g, q in lines],
        )

    def alert(self, cause: str, action: str = "raise", **env: Any) -> p.AlertSignal:
        return p.AlertSignal(
            **self._envelope(**env),
            cause=cause,
            action=action,
            severity=p.Severity.WARNING,
            message="m",
        )


def signal_topic(payload: p.WireModel, store: str = STORE, agent: str = AGENT) -> str:
    signal_type = {
        p.StockSignal: topics.SignalType.STOCK,
        p.ShelfSignal: topics.SignalType.SHELF,
        p.PickupSignal: topics.SignalType.PICKUP,
        p.AlertSignal: topics.SignalType.ALERT,
    }[type(payload)]
    return topics.signal(store, agent, signal_type)


def send(publisher: Publisher, payload: p.WireModel, store: str = STORE) -> str:
    """Publish a signal on its contract topic; returns its event id."""
    publisher.publish(signal_topic(payload, store), p.encode(payload))
    return str(payload.id)  # type: ignore[attr-defined]


class BusRecorder:
    """Collects everything published on a gateway EventBus, from a private asyncio loop thread."""

    def __init__(self, bus: EventBus) -> None:
        self.events: list[LiveEvent] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._task: asyncio.Task[None] | None = None
        self._thread = threading.Thread(target=self._run, args=(bus,), name="bus-recorder", daemon=True)
        self._thread.start()
        assert self._ready.wait(5), "bus recorder did not subscribe"

    def _run(self, bus: EventBus) -> None:
        self._task = self._loop.create_task(self._collect(bus))
        with contextlib.suppress(asyncio.CancelledError):
            self._loop.run_until_complete(self._task)
        self._loop.close()

    async def _collect(self, bus: EventBus) -> None:
        stream = bus.subscribe()
        first = asyncio.ensure_future(anext(stream))
        await asyncio.sleep(0)  # the generator registers its queue before waiting on it
        self._ready.set()
        self.events.append(await first)
        async for event in stream:
            self.events.append(event)

    def of(self, type_: str) -> list[dict[str, Any]]:
        return [event.data for event in list(self.events) if event.type == type_]

    def close(self) -> None:
        if self._task is not None:
            self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(5)
