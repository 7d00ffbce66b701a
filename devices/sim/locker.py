"""A locker bank controller: compartment locks, door sensors and occupancy, driven by commands and people."""

from __future__ import annotations

import logging
import random
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Literal

from devices.sim.scheduler import EventQueue, Timer
from devices.sim.settings import LockerSettings
from devices.sim.world import Reason, World
from smartstore.contract.payloads import LockerEventType
from smartstore.storeconfig import Locker

logger = logging.getLogger(__name__)

OUTBOX_LIMIT = 1000
REMEMBERED_REQUESTS = 500


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


LockerOutput = DoorEvent | CommandReply


@dataclass(slots=True)
class CompartmentState:
    id: str
    size: str
    occupied: bool = False
    door_open: bool = False
    jammed: bool = False
    item: int | None = None
    pickup: Timer | None = None


class LockerBank:
    """One controller; outputs queue in `outbox` until the device is online to publish them."""

    def __init__(
        self,
        locker: Locker,
        world: World,
        queue: EventQueue,
        rng: random.Random,
        settings: LockerSettings,
    ) -> None:
        self.id = locker.id
        self.zone = locker.zone
        self.world = world
        self.queue = queue
        self.rng = rng
        self.settings = settings
        self.compartments = {c.id: CompartmentState(c.id, c.size.value) for c in locker.compartments}
        for key in settings.jammed:
            bank, _, compartment = key.partition("/")
            if bank == self.id and compartment in self.compartments:
                self.compartments[compartment].jammed = True
        self.outbox: deque[LockerOutput] = deque(maxlen=OUTBOX_LIMIT)
        self._replies: OrderedDict[str, CommandReply] = OrderedDict()

    def start(self) -> None:
        self._schedule_load()

    def jam(self, compartment: str, jammed: bool = True) -> None:
        self.compartments[compartment].jammed = jammed

    # --- commands ---------------------------------------------------------------------------------

    def command(self, request: str, compartment: str) -> CommandReply:
        """Open a compartment on request; a repeated request is answered again but acted on once."""
        previous = self._replies.get(request)
        if previous is not None:
            self.outbox.append(previous)
            return previous
        state = self.compartments.get(compartment)
        if state is None:
            reply = CommandReply(request, "failed", f"unknown compartment {compartment!r}")
        elif state.jammed:
            reply = CommandReply(request, "failed", f"door of {compartment} is jammed")
            self.outbox.append(DoorEvent(compartment, LockerEventType.DOOR_JAMMED, state.occupied, request))
        elif state.door_open:
            reply = CommandReply(request, "done", "door already open")
        else:
            reply = CommandReply(request, "done")
        self._remember(reply)
        # The ack goes first: a consumer should learn the command worked before seeing its effects.
        self.outbox.append(reply)
        if state is not None and reply.result == "done" and not state.door_open:
            self._open(state, request)
        return reply

    def _remember(self, reply: CommandReply) -> None:
        self._replies[reply.request] = reply
        while len(self._replies) > REMEMBERED_REQUESTS:
            self._replies.popitem(last=False)

    # --- doors ------------------------------------------------------------------------------------

    def _open(self, state: CompartmentState, request: str | None) -> None:
        """Unlock; whoever opened it loads an empty compartment or takes what is inside."""
        state.door_open = True
        loading = not state.occupied
        self.outbox.append(DoorEvent(state.id, LockerEventType.DOOR_OPENED, state.occupied, request))
        low, high = self.settings.door_open_s
        self.queue.after(self.rng.uniform(low, high), lambda: self._close(state, request, loading))

    def _close(self, state: CompartmentState, request: str | None, loading: bool) -> None:
        if loading:
            self._load(state)
        else:
            self._take(state)
        state.door_open = False
        self.outbox.append(DoorEvent(state.id, LockerEventType.DOOR_CLOSED, state.occupied, request))

    def _load(self, state: CompartmentState) -> None:
        stocked = [gtin for gtin, units in self.world.backroom.items() if units]
        if stocked:
            item = self.world.take_from_backroom(self.rng.choice(stocked))
            if item is not None:
                self.world.move(item, self.zone, f"{self.id}/{state.id}", Reason.LOCKER_LOAD)
                state.item = item.id
        # Without backroom stock the parcel is something outside the catalog: occupied, but no item.
        state.occupied = True
        low, high = self.settings.pickup_delay_s
        state.pickup = self.queue.after(self.rng.uniform(low, high), lambda: self._customer_pickup(state))

    def _take(self, state: CompartmentState) -> None:
        if state.pickup is not None:
            state.pickup.cancel()
            state.pickup = None
        if state.item is not None and state.item in self.world.items:
            self.world.to_exit(self.world.items[state.item], Reason.PICKUP, self.rng)
        state.item = None
        state.occupied = False

    def _customer_pickup(self, state: CompartmentState) -> None:
        state.pickup = None
        if state.occupied and not state.door_open and not state.jammed:
            self._open(state, None)

    # --- associates loading orders on their own ---------------------------------------------------

    def _schedule_load(self) -> None:
        rate = self.settings.loads_per_hour / 3600.0
        if rate > 0:
            self.queue.after(self.rng.expovariate(rate), self._associate_load)

    def _associate_load(self) -> None:
        self._schedule_load()
        free = [c for c in self.compartments.values() if not (c.occupied or c.door_open or c.jammed)]
        if not free:
            logger.debug("locker %s is full; the associate comes back later", self.id)
            return
        self._open(self.rng.choice(free), None)
