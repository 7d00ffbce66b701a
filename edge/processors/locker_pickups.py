"""Locker door/occupancy events -> PickupSignal when an occupied compartment is emptied; door alerts."""

from __future__ import annotations

from dataclasses import dataclass

from edge.processors.base import Message, Processor, Rejection, draft
from smartstore.contract.payloads import (
    AlertSignal,
    LockerEvent,
    LockerEventType,
    PickupSignal,
    Severity,
    Signal,
)
from smartstore.contract.topics import Channel, Kind, Topic
from smartstore.contract.validation import Decoded, RejectReason
from smartstore.storeconfig import StoreConfig

_DOOR_ALERTS = {
    LockerEventType.DOOR_LEFT_OPEN: (Severity.WARNING, "door left open"),
    LockerEventType.DOOR_JAMMED: (Severity.CRITICAL, "door jammed"),
}


def door_alert_cause(locker: str, compartment: str) -> str:
    return f"locker.door:{locker}:{compartment}"


@dataclass(slots=True)
class _Compartment:
    occupied: bool | None = None  # None until a sensor reading says; unknown never counts as a pickup
    opened_while_occupied: bool = False
    alert_raised: bool = False


class LockerPickups(Processor):
    """First honest version; the locker issue replaces it with order-aware pickups."""

    name = "locker_pickups"

    def __init__(self, store: StoreConfig) -> None:
        super().__init__()
        self._compartments = {
            (locker.id, compartment.id): _Compartment()
            for locker in store.devices.lockers
            for compartment in locker.compartments
        }

    def accepts(self, topic: Topic) -> bool:
        return topic.kind is Kind.LOCKER and topic.channel == (Channel.EVENT,)

    def handle(self, message: Message, now: float) -> list[Signal]:
        if not isinstance(message, Decoded) or not isinstance(message.payload, LockerEvent):
            raise Rejection(RejectReason.INVALID_PAYLOAD, "locker event topic without a LockerEvent")
        locker, event = message.topic.device, message.payload
        state = self._compartments.get((locker, event.compartment))
        if state is None:
            raise Rejection(
                RejectReason.UNKNOWN_REFERENCE,
                f"compartment {locker}/{event.compartment} is not in the store",
            )
        signals: list[Signal] = []
        kind = event.event
        if kind is LockerEventType.DOOR_OPENED:
            if event.occupied is not None:
                state.occupied = event.occupied
            state.opened_while_occupied = state.occupied is True
        elif kind in _DOOR_ALERTS:
            severity, what = _DOOR_ALERTS[kind]
            state.alert_raised = True
            signals.append(
                AlertSignal(
                    **draft(now),
                    cause=door_alert_cause(locker, event.compartment),
                    action="raise",
                    severity=severity,
                    message=f"locker {locker} compartment {event.compartment}: {what}",
                    device=locker,
                )
            )
        if kind is LockerEventType.DOOR_CLOSED and state.alert_raised:
            state.alert_raised = False
            signals.append(
                AlertSignal(
                    **draft(now),
                    cause=door_alert_cause(locker, event.compartment),
                    action="clear",
                    device=locker,
                )
            )
        if event.occupied is not None:
            signals.extend(self._occupancy(locker, event.compartment, state, event.occupied, now))
        return signals

    def _occupancy(
        self, locker: str, compartment: str, state: _Compartment, occupied: bool, now: float
    ) -> list[Signal]:
        picked_up = state.occupied is True and not occupied and state.opened_while_occupied
        state.occupied = occupied
        if not occupied:
            state.opened_while_occupied = False
        if not picked_up:
            return []
        self.counters["pickups"] += 1
        return [PickupSignal(**draft(now), locker=locker, compartment=compartment)]
