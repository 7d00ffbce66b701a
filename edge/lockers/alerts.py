"""The locker processor's alerts: stable causes per locker or compartment, raise, clear, flap holds."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from smartstore.edge.alert_flaps import FlapGuard
from smartstore.edge.drafts import draft
from smartstore.edge.lockers.doors import Compartment
from smartstore.kernel.contract.payloads import AlertSignal, Severity, Signal


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


@dataclass(slots=True)
class HeldRaise:
    """A raise held back because its cause was cleared a moment ago; sent by `due` if still true then."""

    locker: str
    compartment: str | None
    severity: Severity
    message: str

    def as_json(self) -> dict[str, Any]:
        return {
            "locker": self.locker,
            "compartment": self.compartment,
            "severity": self.severity.value,
            "message": self.message,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HeldRaise:
        compartment = data.get("compartment")
        return cls(
            locker=str(data["locker"]),
            compartment=None if compartment is None else str(compartment),
            severity=Severity(data["severity"]),
            message=str(data.get("message", "")),
        )


@dataclass(slots=True)
class AlertGate:
    """Every raise and clear of the locker alerts, with causes that flap held back at the source.

    A door bouncing open and closed would otherwise send a raise and a clear per bounce: a cause
    cleared less than `reraise_s` ago (FlapGuard) is not raised but held; its clear, while held,
    sends nothing (nothing was raised) and drops it; `due` raises it once the interval has passed if
    it is still held, i.e. still true. Door events, occupancy and pickups never pass through here.
    """

    reraise_s: float
    counters: Counter[str] = field(default_factory=Counter)
    guard: FlapGuard = field(init=False)
    held: dict[str, HeldRaise] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.guard = FlapGuard(self.reraise_s)

    def raise_(
        self,
        cause: str,
        locker: str,
        severity: Severity,
        message: str,
        now: float,
        state: Compartment | None = None,
        compartment: str | None = None,
    ) -> list[Signal]:
        if state is not None and cause in state.alerts:
            return [raise_alert(cause, locker, severity, message, now, state)]  # already raised: an update
        before = self.guard.held
        if self.guard.may_raise(cause, now):
            self.held.pop(cause, None)
            return [raise_alert(cause, locker, severity, message, now, state)]
        if self.guard.held > before:
            self.counters["alerts_held"] += 1
        self.held[cause] = HeldRaise(locker, compartment, severity, message)
        return []

    def clear(self, cause: str, locker: str, now: float, state: Compartment | None) -> list[Signal]:
        """Clear a raised cause (a compartment's: only if it raised it), or drop a held one silently."""
        if cause in self.held:
            del self.held[cause]
            self.guard.calm(cause)
            return []
        if state is not None and cause not in state.alerts:
            return []
        self.guard.cleared(cause, now)
        return [clear_alert(cause, locker, now, state)]

    def due(self, now: float, compartments: dict[tuple[str, str], Compartment]) -> list[Signal]:
        """Raise the held causes whose interval has passed: still true, so they are real."""
        signals: list[Signal] = []
        for cause, held in sorted(self.held.items()):
            if not self.guard.may_raise(cause, now):
                continue
            del self.held[cause]
            state = None if held.compartment is None else compartments.get((held.locker, held.compartment))
            self.counters["alerts_raised_late"] += 1
            signals.append(raise_alert(cause, held.locker, held.severity, held.message, now, state))
        return signals

    def as_json(self) -> dict[str, Any]:
        return {
            "cleared_at": self.guard.export(),
            "held": {cause: held.as_json() for cause, held in sorted(self.held.items())},
        }

    def restore(self, data: dict[str, Any]) -> None:
        self.guard.restore({str(c): float(t) for c, t in data.get("cleared_at", {}).items()})
        self.held = {str(c): HeldRaise.from_json(h) for c, h in data.get("held", {}).items()}
