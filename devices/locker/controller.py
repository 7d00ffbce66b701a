"""Locker controller core: commands and lock-board sensor readings in, acks and door events out."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, NamedTuple, Protocol

from pydantic import BaseModel, ConfigDict, Field

from smartstore.kernel.contract.payloads import LockerEventType

logger = logging.getLogger(__name__)

# Machine-readable starts of `LockerAck.reason` (docs/protocol.md); words for people follow the colon.
UNKNOWN_COMPARTMENT = "unknown_compartment"
OUT_OF_SERVICE = "out_of_service"
JAMMED = "jammed"


class Sensors(NamedTuple):
    """One compartment's inputs as the board reads them."""

    door_open: bool
    occupied: bool


class LockBoard(Protocol):
    """The hardware edge of the world: latch outputs and door/occupancy inputs of one locker bank.

    A GPIO or RS-485 lock board implements this; the simulator and tests use a simulated board.
    """

    def unlock(self, compartment: str) -> bool:
        """Pulse the compartment's latch; False when its feedback says it did not release (jammed)."""
        ...

    def read(self, compartment: str) -> Sensors:
        """The compartment's door and occupancy sensors now."""
        ...


class ControllerSettings(BaseModel):
    """Behaviour of one locker controller, validated at start."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    door_left_open_s: float = Field(120.0, gt=0, description="A door open longer reports door_left_open.")
    unlock_window_s: float = Field(
        30.0, gt=0, description="A door opening this soon after an unlock belongs to that command."
    )
    out_of_service: list[str] = Field(default_factory=list, description="Compartments never opened.")
    remembered_requests: int = Field(500, ge=10, description="Request ids answered again, not re-run.")


@dataclass(frozen=True, slots=True)
class DoorEvent:
    """What the controller reports on locker/{id}/event."""

    compartment: str
    event: LockerEventType
    occupied: bool | None
    request: str | None


@dataclass(frozen=True, slots=True)
class CommandReply:
    """What the controller answers on locker/{id}/ack."""

    request: str
    result: Literal["done", "failed"]
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class KeypadPress:
    """A code typed on the bank's own keypad, for locker/{id}/keypad (the edge checks it)."""

    request: str
    code: str


ControllerOutput = DoorEvent | CommandReply
LockerOutput = ControllerOutput | KeypadPress


@dataclass(slots=True)
class _Seen:
    """What the controller last reported of a compartment, and which command its door belongs to."""

    sensors: Sensors
    opened_at: float | None = None
    left_open_reported: bool = False
    request: str | None = None  # the command an open door (or a pending unlock) belongs to
    unlocked_at: float | None = None


class LockerController:
    """One locker bank's controller logic; pure apart from the board, time comes in as `now`.

    Call `command` for each LockerCommand and `poll` often (the board's sensors are read and every
    change becomes an event). Not thread-safe: one owner loop drives it.
    """

    def __init__(
        self, compartments: Iterable[str], board: LockBoard, settings: ControllerSettings, now: float
    ) -> None:
        self.board = board
        self.settings = settings
        self._seen = {c: _Seen(board.read(c)) for c in compartments}
        for seen in self._seen.values():
            if seen.sensors.door_open:
                seen.opened_at = now
        unknown = sorted(set(settings.out_of_service) - set(self._seen))
        if unknown:
            raise ValueError(f"out_of_service: unknown compartment(s) {', '.join(unknown)}")
        self.out_of_service = set(settings.out_of_service)
        self._replies: OrderedDict[str, CommandReply] = OrderedDict()

    @property
    def compartments(self) -> list[str]:
        return list(self._seen)

    def set_in_service(self, compartment: str, in_service: bool) -> None:
        if compartment not in self._seen:
            raise KeyError(compartment)
        if in_service:
            self.out_of_service.discard(compartment)
        else:
            self.out_of_service.add(compartment)

    def command(self, request: str, compartment: str, now: float) -> list[ControllerOutput]:
        """Open a compartment; a repeated request is answered again but acted on once. Ack comes first."""
        previous = self._replies.get(request)
        if previous is not None:
            return [previous]
        seen = self._seen.get(compartment)
        outputs: list[ControllerOutput] = []
        if seen is None:
            reply = CommandReply(request, "failed", f"{UNKNOWN_COMPARTMENT}: no compartment {compartment!r}")
        elif compartment in self.out_of_service:
            reply = CommandReply(
                request, "failed", f"{OUT_OF_SERVICE}: compartment {compartment} is out of service"
            )
        elif seen.sensors.door_open:
            reply = CommandReply(request, "done", "door already open")
        elif not self.board.unlock(compartment):
            reply = CommandReply(request, "failed", f"{JAMMED}: the latch of {compartment} did not release")
            outputs.append(
                DoorEvent(compartment, LockerEventType.DOOR_JAMMED, seen.sensors.occupied, request)
            )
        else:
            reply = CommandReply(request, "done")
            seen.request, seen.unlocked_at = request, now
        self._remember(reply)
        # The ack goes first: a consumer should learn the command worked before seeing its effects.
        outputs.insert(0, reply)
        if seen is not None:
            outputs.extend(self._poll_one(compartment, seen, now))
        return outputs

    def poll(self, now: float) -> list[ControllerOutput]:
        """Read every compartment's sensors; report changes and doors left open too long."""
        outputs: list[ControllerOutput] = []
        for compartment, seen in self._seen.items():
            outputs.extend(self._poll_one(compartment, seen, now))
        return outputs

    def _poll_one(self, compartment: str, seen: _Seen, now: float) -> list[ControllerOutput]:
        current = self.board.read(compartment)
        before = seen.sensors
        events: list[ControllerOutput] = []
        unlocked = seen.unlocked_at
        if unlocked is not None and not before.door_open and now - unlocked > self.settings.unlock_window_s:
            # Unlocked but nobody opened it: the latch relocks and a later opening is someone else's.
            seen.request, seen.unlocked_at = None, None
        if current.door_open and not before.door_open:
            seen.opened_at, seen.left_open_reported, seen.unlocked_at = now, False, None
            events.append(DoorEvent(compartment, LockerEventType.DOOR_OPENED, before.occupied, seen.request))
        if current.occupied != before.occupied:
            events.append(
                DoorEvent(compartment, LockerEventType.OCCUPANCY_CHANGED, current.occupied, seen.request)
            )
        if before.door_open and not current.door_open:
            events.append(DoorEvent(compartment, LockerEventType.DOOR_CLOSED, current.occupied, seen.request))
            seen.opened_at, seen.request, seen.left_open_reported = None, None, False
        elif (
            current.door_open
            and seen.opened_at is not None
            and not seen.left_open_reported
            and now - seen.opened_at >= self.settings.door_left_open_s
        ):
            seen.left_open_reported = True
            events.append(
                DoorEvent(compartment, LockerEventType.DOOR_LEFT_OPEN, current.occupied, seen.request)
            )
        seen.sensors = current
        return events

    def _remember(self, reply: CommandReply) -> None:
        self._replies[reply.request] = reply
        while len(self._replies) > self.settings.remembered_requests:
            self._replies.popitem(last=False)
