"""In-process fan-out of live changes (inventory, slots, alerts, devices) to SSE subscribers."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import threading
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LiveEvent:
    id: int
    type: str  # "inventory", "slot", "alert", "device", "dead_letter", ...
    store: str | None
    data: Mapping[str, Any]  # a JSON object (the views are TypedDicts)

    def to_sse(self) -> str:
        return f"id: {self.id}\nevent: {self.type}\ndata: {json.dumps(self.data, default=str)}\n\n"


class EventBus:
    """Thread-safe publish (from the ingest thread) to bounded asyncio queues (one per SSE client).

    A slow client loses its oldest events rather than slowing the ingest down.
    """

    def __init__(self, queue_size: int = 1000) -> None:
        self._queue_size = queue_size
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._subscribers: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[LiveEvent]]] = set()

    def publish(self, type_: str, store: str | None, data: Mapping[str, Any]) -> None:
        event = LiveEvent(next(self._ids), type_, store, data)
        with self._lock:
            subscribers = list(self._subscribers)
        for loop, queue in subscribers:
            try:
                loop.call_soon_threadsafe(_put_dropping_oldest, queue, event)
            except RuntimeError:  # loop closed: the client is gone
                with self._lock:
                    self._subscribers.discard((loop, queue))

    async def subscribe(self, store: str | None = None) -> AsyncIterator[LiveEvent]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[LiveEvent] = asyncio.Queue(self._queue_size)
        entry = (loop, queue)
        with self._lock:
            self._subscribers.add(entry)
        try:
            while True:
                event = await queue.get()
                if store is None or event.store in (None, store):
                    yield event
        finally:
            with self._lock:
                self._subscribers.discard(entry)

    @property
    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._subscribers)


def _put_dropping_oldest(queue: asyncio.Queue[LiveEvent], event: LiveEvent) -> None:
    if queue.full():
        queue.get_nowait()
    queue.put_nowait(event)
