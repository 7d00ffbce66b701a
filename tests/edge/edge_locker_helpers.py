"""Helpers for the edge locker tests: manifests with real scrypt hashes, keypad entries, acks."""

from __future__ import annotations

from datetime import UTC, datetime

from smartstore.kernel.contract import topics
from smartstore.kernel.contract.payloads import (
    KeypadEntry,
    LockerAck,
    LockerEvent,
    LockerEventType,
    LockerManifest,
    ManifestOrder,
    PickupLine,
    encode,
    envelope,
)
from smartstore.kernel.pickup_codes import hash_code

STORE = "store-berlin-01"
LOCKER = "locker-1"
MILK = "09506000100005"


def order(
    order_id: str, compartment: str, code: str, expires_at: float, lines: list[tuple[str, int]] | None = None
) -> ManifestOrder:
    return ManifestOrder(
        order=order_id,
        compartment=compartment,
        code_hash=hash_code(code),
        expires_at=datetime.fromtimestamp(expires_at, UTC),
        lines=[PickupLine(gtin=g, quantity=q) for g, q in (lines or [(MILK, 1)])],
    )


def manifest_message(
    orders: list[ManifestOrder], seq: int, now: float, locker: str = LOCKER
) -> tuple[str, bytes]:
    payload = LockerManifest(**envelope(seq, datetime.fromtimestamp(now, UTC)), locker=locker, orders=orders)
    return topics.locker_manifest(STORE, LOCKER), encode(payload)


def keypad_message(code: str, seq: int = 1) -> tuple[str, bytes]:
    return topics.locker_keypad(STORE, LOCKER), encode(
        KeypadEntry(**envelope(seq), request=f"kp-{seq}", code=code)
    )


def door_message(
    compartment: str, event: LockerEventType, occupied: bool | None, request: str | None = None
) -> tuple[str, bytes]:
    payload = LockerEvent(
        **envelope(1), compartment=compartment, event=event, occupied=occupied, request=request
    )
    return topics.locker_event(STORE, LOCKER), encode(payload)


def ack_message(request: str, result: str, reason: str | None = None) -> tuple[str, bytes]:
    payload = LockerAck(**envelope(1), request=request, result=result, reason=reason)  # type: ignore[arg-type]
    return topics.locker_ack(STORE, LOCKER), encode(payload)
