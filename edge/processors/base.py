"""The processor interface: device messages and clock ticks in, contract signals out, no network I/O."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from smartstore.kernel.contract.payloads import DeviceStatus, Signal, WireModel
from smartstore.kernel.contract.topics import TelemetryType, Topic
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


# Optional capabilities: the agent looks for them on each processor (isinstance) and wires what it finds.


@runtime_checkable
class RawReadsHandler(Protocol):
    """A processor that parses RFID read batches from their wire bytes itself (the hot path)."""

    def handle_raw(self, topic: Topic, payload: bytes, now: float) -> list[Signal]: ...


@runtime_checkable
class TelemetrySource(Protocol):
    """A processor with a summary to publish retained on `edge/{agent}/telemetry/{type}`."""

    telemetry_type: TelemetryType

    def take_telemetry(self) -> WireModel | None: ...


@runtime_checkable
class SnapshotSource(Protocol):
    """A processor with annotated camera JPEGs to publish retained on `edge/{agent}/snapshot/{camera}`."""

    def take_snapshots(self) -> list[tuple[str, bytes]]: ...


@runtime_checkable
class Lifecycle(Protocol):
    """A processor with threads of its own (camera capture), started and stopped with the agent."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


@runtime_checkable
class CommandSource(Protocol):
    """A processor that asks devices to act (open a locker door); drained after every call."""

    def take_commands(self) -> list[DeviceCommand]: ...
