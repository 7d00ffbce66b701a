"""What the edge knows of one compartment: occupancy, the door cycle in progress, its open alerts.

The edge owns these facts (docs/lockers.md, "Who owns what"): only the methods below change them,
from the locker's own reports; the gateway's allocation reaches the edge read-only, in manifests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from smartstore.kernel.contract.payloads import LockerRequestPurpose, parse_locker_request


@dataclass(slots=True)
class DoorCycle:
    """From door_opened to door_closed: who opened it and for what."""

    request: str | None
    purpose: LockerRequestPurpose | None
    order: str | None
    occupied_at_open: bool | None
    taken: bool = False  # the occupancy sensor went empty while it was open

    @classmethod
    def opened(cls, request: str | None, occupied: bool | None) -> DoorCycle:
        parsed = parse_locker_request(request)
        return cls(
            request=request,
            purpose=parsed.purpose if parsed else None,
            order=parsed.order if parsed else None,
            occupied_at_open=occupied,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "request": self.request,
            "occupied_at_open": self.occupied_at_open,
            "taken": self.taken,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DoorCycle:
        cycle = cls.opened(data.get("request"), data.get("occupied_at_open"))
        cycle.taken = bool(data.get("taken", False))
        return cycle


@dataclass(slots=True)
class Compartment:
    occupied: bool | None = None  # None until a sensor reading says; unknown never counts as a pickup
    opened_while_occupied: bool = False
    cycle: DoorCycle | None = None
    alerts: set[str] = field(default_factory=set)  # causes raised and not yet cleared

    def door_opened(self, request: str | None, occupied: bool | None) -> DoorCycle:
        """A door cycle starts; a reading that comes with the event counts."""
        if occupied is not None:
            self.occupied = occupied
        self.opened_while_occupied = self.occupied is True
        self.cycle = DoorCycle.opened(request, occupied)
        return self.cycle

    def door_closed(self) -> DoorCycle | None:
        """The cycle in progress ends; it is handed back to decide whether it was a pickup."""
        cycle, self.cycle = self.cycle, None
        return cycle

    def sensed(self, occupied: bool) -> bool:
        """Record an occupancy reading; True when it empties a compartment that was opened while
        occupied outside any order's cycle (someone with a key: the old, order-less pickup)."""
        outside_orders = self.cycle is None or self.cycle.purpose is None
        emptied = outside_orders and self.occupied is True and not occupied and self.opened_while_occupied
        self.occupied = occupied
        if not occupied:
            self.opened_while_occupied = False
        return emptied

    def as_json(self) -> dict[str, Any]:
        return {
            "occupied": self.occupied,
            "opened_while_occupied": self.opened_while_occupied,
            "cycle": self.cycle.as_json() if self.cycle else None,
            "alerts": sorted(self.alerts),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Compartment:
        cycle = data.get("cycle")
        return cls(
            occupied=data.get("occupied"),
            opened_while_occupied=bool(data.get("opened_while_occupied", False)),
            cycle=DoorCycle.from_json(cycle) if isinstance(cycle, dict) else None,
            alerts=set(data.get("alerts", [])),
        )
