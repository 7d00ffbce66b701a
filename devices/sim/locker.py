"""A simulated locker bank: the real controller core on a simulated lock board, with people and faults."""

from __future__ import annotations

import logging
import random
from collections import deque
from dataclasses import dataclass
from enum import StrEnum

from smartstore.devices.locker.controller import (
    CommandReply,
    ControllerSettings,
    DoorEvent,
    KeypadPress,
    LockerController,
    LockerOutput,
    Sensors,
)
from smartstore.devices.sim.scheduler import EventQueue, Timer
from smartstore.devices.sim.settings import LockerSettings
from smartstore.devices.sim.world import Reason, World
from smartstore.kernel.contract.payloads import LockerRequestPurpose, parse_locker_request
from smartstore.kernel.storeconfig import Locker

logger = logging.getLogger(__name__)

OUTBOX_LIMIT = 1000

__all__ = ["CommandReply", "DoorEvent", "Fault", "KeypadPress", "LockerBank", "LockerOutput", "SimBoard"]


class Fault(StrEnum):
    """Injectable misbehaviour of one compartment (kept until cleared)."""

    JAMMED = "jammed"  # the latch does not release
    LEAVE_OPEN = "leave_open"  # whoever opens the door walks away; an associate closes it much later
    LEAVE_ITEM = "leave_item"  # the customer opens the door but does not take the parcel


@dataclass(slots=True)
class CompartmentState:
    """The physical compartment: what the board's sensors read."""

    id: str
    size: str
    occupied: bool = False
    door_open: bool = False
    item: int | None = None
    pickup: Timer | None = None


class SimBoard:
    """A lock board whose latches and sensors are simulated compartments (the LockBoard protocol)."""

    def __init__(self, locker: Locker) -> None:
        self.compartments = {c.id: CompartmentState(c.id, c.size.value) for c in locker.compartments}
        self.faults: dict[str, set[Fault]] = {c: set() for c in self.compartments}

    def unlock(self, compartment: str) -> bool:
        state = self.compartments[compartment]
        if Fault.JAMMED in self.faults[compartment]:
            return False
        state.door_open = True  # a released door springs ajar
        return True

    def read(self, compartment: str) -> Sensors:
        state = self.compartments[compartment]
        return Sensors(state.door_open, state.occupied)


class LockerBank:
    """One controller in sim time; outputs queue in `outbox` until the device is online to publish them."""

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
        self.board = SimBoard(locker)
        self.compartments = self.board.compartments
        for key, fault in (
            *((k, Fault.JAMMED) for k in settings.jammed),
            *((k, Fault.LEAVE_OPEN) for k in settings.leave_open),
            *((k, Fault.LEAVE_ITEM) for k in settings.leave_item),
        ):
            bank, _, compartment = key.partition("/")
            if bank == self.id and compartment in self.compartments:
                self.board.faults[compartment].add(fault)
        out_of_service = [
            c for bank, _, c in (k.partition("/") for k in settings.out_of_service) if bank == self.id
        ]
        self.controller = LockerController(
            self.compartments,
            self.board,
            ControllerSettings(
                door_left_open_s=settings.door_left_open_s,
                unlock_window_s=settings.unlock_window_s,
                out_of_service=out_of_service,
            ),
            queue.now,
        )
        self.outbox: deque[LockerOutput] = deque(maxlen=OUTBOX_LIMIT)
        self._keypad_seq = 0

    def start(self) -> None:
        for key in self.settings.phantom:
            bank, _, compartment = key.partition("/")
            if bank == self.id and compartment in self.compartments:
                self.phantom(compartment)
        self._schedule_load()

    # --- faults -----------------------------------------------------------------------------------

    def jam(self, compartment: str, jammed: bool = True) -> None:
        self.inject(compartment, Fault.JAMMED, jammed)

    def inject(self, compartment: str, fault: Fault, on: bool = True) -> None:
        faults = self.board.faults[compartment]
        if on:
            faults.add(fault)
        else:
            faults.discard(fault)

    def phantom(self, compartment: str) -> None:
        """Something sits in a closed compartment nobody loaded (or its sensor says so)."""
        self.compartments[compartment].occupied = True
        self._poll()

    # --- commands and the keypad ------------------------------------------------------------------

    def command(self, request: str, compartment: str) -> CommandReply:
        """Open a compartment on request; a repeated request is answered again but acted on once."""
        state = self.compartments.get(compartment)
        was_open = state is not None and state.door_open
        outputs = self.controller.command(request, compartment, self.queue.now)
        self.outbox.extend(outputs)
        reply = next(o for o in outputs if isinstance(o, CommandReply))
        if state is not None and state.door_open and not was_open:
            parsed = parse_locker_request(request)
            self._someone_opened(state, parsed.purpose if parsed else None)
        return reply

    def keypad(self, code: str) -> KeypadPress:
        """A customer types a code on the bank's keypad."""
        self._keypad_seq += 1
        press = KeypadPress(f"kp-{self.id}-{self._keypad_seq}", code)
        self.outbox.append(press)
        return press

    def _poll(self) -> None:
        self.outbox.extend(self.controller.poll(self.queue.now))

    # --- people at the doors ----------------------------------------------------------------------

    def _someone_opened(self, state: CompartmentState, purpose: LockerRequestPurpose | None) -> None:
        """The door is open: a person loads it or takes what is inside, then closes it (or not)."""
        faults = self.board.faults[state.id]
        # Without a purpose (a key, an unknown request) the person acts on what they find.
        loading = purpose is LockerRequestPurpose.LOAD or (purpose is None and not state.occupied)
        hands = self.rng.uniform(*self.settings.hands_s)
        low, high = self.settings.door_open_s
        close = max(hands + 0.5, self.rng.uniform(low, high))
        if loading:
            self.queue.after(hands, lambda: self._load(state, schedule_pickup=purpose is None))
        elif Fault.LEAVE_ITEM not in faults:
            self.queue.after(hands, lambda: self._take(state))
        if Fault.LEAVE_OPEN in faults:
            close = max(close, self.settings.door_left_open_s + self.settings.left_open_close_s)
        self.queue.after(close, lambda: self._close(state))
        # The controller reports a door left open on its own clock: make sure it looks then.
        self.queue.after(self.settings.door_left_open_s + 0.001, self._poll)

    def _close(self, state: CompartmentState) -> None:
        if state.door_open:
            state.door_open = False
            self._poll()

    def _load(self, state: CompartmentState, schedule_pickup: bool) -> None:
        if state.occupied or not state.door_open:
            return
        stocked = [gtin for gtin, units in self.world.backroom.items() if units]
        if stocked:
            item = self.world.take_from_backroom(self.rng.choice(stocked))
            if item is not None:
                self.world.move(item, self.zone, f"{self.id}/{state.id}", Reason.LOCKER_LOAD)
                state.item = item.id
        # Without backroom stock the parcel is something outside the catalog: occupied, but no item.
        state.occupied = True
        self._poll()
        if schedule_pickup:
            # Orders loaded without the gateway (an associate with a key) are fetched by a customer alone.
            low, high = self.settings.pickup_delay_s
            state.pickup = self.queue.after(self.rng.uniform(low, high), lambda: self._customer_pickup(state))

    def _take(self, state: CompartmentState) -> None:
        if not state.door_open:
            return
        if state.pickup is not None:
            state.pickup.cancel()
            state.pickup = None
        if state.item is not None and state.item in self.world.items:
            self.world.to_exit(self.world.items[state.item], Reason.PICKUP, self.rng)
        state.item = None
        if state.occupied:
            state.occupied = False
            self._poll()

    def _customer_pickup(self, state: CompartmentState) -> None:
        state.pickup = None
        if state.occupied and not state.door_open and Fault.JAMMED not in self.board.faults[state.id]:
            self._open_by_hand(state)

    def _open_by_hand(self, state: CompartmentState) -> None:
        state.door_open = True
        self._poll()
        self._someone_opened(state, None)

    # --- associates loading orders on their own ---------------------------------------------------

    def _schedule_load(self) -> None:
        rate = self.settings.loads_per_hour / 3600.0
        if rate > 0:
            self.queue.after(self.rng.expovariate(rate), self._associate_load)

    def _associate_load(self) -> None:
        self._schedule_load()
        free = [
            c
            for c in self.compartments.values()
            if not (c.occupied or c.door_open or Fault.JAMMED in self.board.faults[c.id])
        ]
        if not free:
            logger.debug("locker %s is full; the associate comes back later", self.id)
            return
        self._open_by_hand(self.rng.choice(free))
