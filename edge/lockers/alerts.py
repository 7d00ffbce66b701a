"""The locker processor's alerts: stable causes per locker or compartment, raise and clear signals."""

from __future__ import annotations

from smartstore.edge.drafts import draft
from smartstore.edge.lockers.doors import Compartment
from smartstore.kernel.contract.payloads import AlertSignal, Severity


def door_alert_cause(locker: str, compartment: str) -> str:
    return f"locker.door:{locker}:{compartment}"


def item_left_cause(locker: str, compartment: str) -> str:
    return f"locker.item_not_removed:{locker}:{compartment}"


def unexpected_item_cause(locker: str, compartment: str) -> str:
    return f"locker.unexpected_item:{locker}:{compartment}"


def empty_cause(locker: str, compartment: str) -> str:
    return f"locker.empty_at_pickup:{locker}:{compartment}"


def lockout_cause(locker: str) -> str:
    return f"locker.keypad_locked:{locker}"


def raise_alert(
    cause: str, locker: str, severity: Severity, message: str, now: float, state: Compartment | None = None
) -> AlertSignal:
    """Raise `cause`; a compartment remembers it so that emptying or closing can clear it."""
    if state is not None:
        state.alerts.add(cause)
    return AlertSignal(
        **draft(now), cause=cause, action="raise", severity=severity, message=message, device=locker
    )


def clear_alert(cause: str, locker: str, now: float, state: Compartment | None) -> AlertSignal:
    if state is not None:
        state.alerts.discard(cause)
    return AlertSignal(**draft(now), cause=cause, action="clear", device=locker)
