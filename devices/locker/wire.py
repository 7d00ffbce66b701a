"""Controller outputs as contract messages: (topic, payload) for locker/{id}/ack, event and keypad."""

from __future__ import annotations

from smartstore.devices.locker.controller import CommandReply, DoorEvent, KeypadPress, LockerOutput
from smartstore.kernel.contract import topics
from smartstore.kernel.contract.payloads import (
    KeypadEntry,
    LockerAck,
    LockerEvent,
    WireModel,
    encode,
    envelope,
)


def to_message(store: str, locker: str, output: LockerOutput, seq: int) -> tuple[str, bytes]:
    """The topic and JSON payload of one output, stamped with the controller's next `seq`."""
    payload: WireModel
    if isinstance(output, CommandReply):
        topic = topics.locker_ack(store, locker)
        payload = LockerAck(
            **envelope(seq), request=output.request, result=output.result, reason=output.reason
        )
    elif isinstance(output, DoorEvent):
        topic = topics.locker_event(store, locker)
        payload = LockerEvent(
            **envelope(seq),
            compartment=output.compartment,
            event=output.event,
            occupied=output.occupied,
            request=output.request,
        )
    elif isinstance(output, KeypadPress):
        topic = topics.locker_keypad(store, locker)
        payload = KeypadEntry(**envelope(seq), request=output.request, code=output.code)
    else:  # pragma: no cover - the union is closed
        raise TypeError(f"not a locker output: {output!r}")
    return topic, encode(payload)
