"""The processor interface: device messages and clock ticks in, contract signals out, no network I/O."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from smartstore.kernel.contract.payloads import DeviceStatus, Signal, WireModel, envelope
from smartstore.kernel.contract.topics import Topic
from smartstore.kernel.contract.validation import Decoded, Image

Message = Decoded | Image


class Rejection(Exception):  # noqa: N818 - a rejected message, not an error of ours
    """Raised by a processor for input it cannot use; the agent dead-letters it with `reason`."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class DeviceCommand:
    """A message for a device (e.g. a LockerCommand on locker/{id}/cmd) that a processor wants sent.

    The agent publishes it at once, QoS 1, and never through the outbox: a door that opens minutes
    later, after a reconnect, is worse than one that does not open.
    """

    topic: str
    payload: WireModel


def draft(now: float) -> dict[str, Any]:
    """Envelope fields of a signal a processor emits; the outbox stamps the real `seq` when it stores it."""
    return envelope(0, datetime.fromtimestamp(now, UTC))


class Processor(ABC):
    """One device kind's logic. All calls come from the agent's single dispatcher thread, so no locks.

    `now` is wall-clock seconds (time.time()), passed in so tests drive time by hand.
    """

    name: str = "processor"

    def __init__(self) -> None:
        # Input that was partly unusable (garbage EPCs, weak reads) is counted here, not dead-lettered.
        self.counters: Counter[str] = Counter()

    @abstractmethod
    def accepts(self, topic: Topic) -> bool:
        """Whether `handle` wants messages of this topic."""

    @abstractmethod
    def handle(self, message: Message, now: float) -> list[Signal]:
        """Apply one decoded message; raise Rejection for input that is unusable as a whole."""

    def on_status(self, topic: Topic, status: DeviceStatus, now: float) -> list[Signal]:
        """A device's retained online/offline status changed or was (re)delivered."""
        return []

    def tick(self, now: float) -> list[Signal]:
        """Timers: periodic publishes, snapshots, timeouts."""
        return []

    def save(self) -> None:  # noqa: B027 - optional hook, most processors keep nothing
        """Persist state that must survive a restart; the agent calls it at stop."""
