"""Pure restock rules: which slot changes open, update or close a task, its kind, rank and the KPIs.

A slot that turns empty or low opens one task; it stays the slot's live task until the camera sees
the slot ok again, which closes it (closed_by "camera") whatever state it is in. People move it
along in between: a manager acknowledges it, an associate resolves it (says it is refilled), but
only the camera's evidence closes the loop.

Ranking, most urgent first: empty before low, "restock from backroom" (the work can be done now)
before "no stock: reorder", then the longest empty first; resolved tasks (waiting for the camera)
go last.

No I/O here: `gateway.restock_store` applies these rules to the database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from smartstore.kernel.contract.payloads import ShelfState

CAMERA = "camera"


class TaskState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    CLOSED = "closed"


LIVE_STATES = (TaskState.OPEN, TaskState.ACKNOWLEDGED, TaskState.RESOLVED)


class TaskKind(StrEnum):
    RESTOCK_FROM_BACKROOM = "restock_from_backroom"
    REORDER = "reorder"


class TaskConflictError(ValueError):
    """A step the task's state does not allow (e.g. acknowledging a closed task)."""


NEEDS_TASK = frozenset({ShelfState.EMPTY.value, ShelfState.LOW.value})


@dataclass(frozen=True, slots=True)
class SlotChange:
    """A slot whose camera-observed state changed (before None: first observation)."""

    store: str
    slot: str
    gtin: str
    camera: str
    before: str | None
    after: str
    at: datetime


class Action(StrEnum):
    OPEN = "open"
    ESCALATE = "escalate"  # the live task's slot state changed between low and empty
    CLOSE = "close"


def decide(change: SlotChange, live_slot_state: str | None) -> Action | None:
    """What a slot change does to the slot's live task (`live_slot_state` None: there is none)."""
    if change.after in NEEDS_TASK:
        if live_slot_state is None:
            return Action.OPEN
        return Action.ESCALATE if live_slot_state != change.after else None
    if change.after == ShelfState.OK.value and live_slot_state is not None:
        return Action.CLOSE
    return None  # unknown says nothing: the task stays as it is


def task_kind(backroom_units: int) -> TaskKind:
    """Restock from the backroom when units are counted there, else there is nothing to fetch."""
    return TaskKind.RESTOCK_FROM_BACKROOM if backroom_units > 0 else TaskKind.REORDER


def acknowledged(state: str) -> TaskState:
    """The state after a manager acknowledges; acknowledging again changes nothing."""
    current = TaskState(state)
    if current is TaskState.OPEN:
        return TaskState.ACKNOWLEDGED
    if current is TaskState.ACKNOWLEDGED:
        return current
    raise TaskConflictError(f"a {current.value} task cannot be acknowledged")


def resolved(state: str) -> TaskState:
    """The state after an associate says the slot is refilled; resolving again changes nothing."""
    current = TaskState(state)
    if current in (TaskState.OPEN, TaskState.ACKNOWLEDGED, TaskState.RESOLVED):
        return TaskState.RESOLVED
    raise TaskConflictError("a closed task cannot be resolved")


_STATE_RANK = {ShelfState.EMPTY.value: 0, ShelfState.LOW.value: 1}
_KIND_RANK = {TaskKind.RESTOCK_FROM_BACKROOM.value: 0, TaskKind.REORDER.value: 1}


def rank_key(state: str, slot_state: str, kind: str, opened_at: str) -> tuple[int, int, int, str]:
    """Sort key of a task, most urgent first (see the module docstring); `opened_at` is UTC ISO 8601,
    which sorts like the instant it names."""
    waiting = 1 if state in (TaskState.RESOLVED.value, TaskState.CLOSED.value) else 0
    return (waiting, _STATE_RANK.get(slot_state, 2), _KIND_RANK.get(kind, 2), opened_at)


# --- KPIs ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Availability:
    planned: int
    ok: int
    low: int
    empty: int
    unknown: int

    @property
    def osa(self) -> float | None:
        """On-shelf availability: slots with product (ok or low) over the slots whose state is known.

        A slot no camera has reported yet is unknown, not empty: counting it as unavailable made a store
        read 37.5 % at start-up. None while no planned slot has been seen.
        """
        seen = self.ok + self.low + self.empty
        return None if seen == 0 else round((self.ok + self.low) / seen, 4)


def availability(planned_slots: Iterable[str], states: Mapping[str, str]) -> Availability:
    """Count the planogram's slots by their observed state; never observed counts as unknown."""
    counts = {ShelfState.OK.value: 0, ShelfState.LOW.value: 0, ShelfState.EMPTY.value: 0}
    planned = unknown = 0
    for slot in planned_slots:
        planned += 1
        state = states.get(slot)
        if state in counts:
            counts[state] += 1
        else:
            unknown += 1
    return Availability(
        planned,
        counts[ShelfState.OK.value],
        counts[ShelfState.LOW.value],
        counts[ShelfState.EMPTY.value],
        unknown,
    )


def start_of_day(now: datetime, timezone: str) -> datetime:
    """Midnight of `now`'s day in the store's time zone, in UTC.

    In UTC, like every time the gateway stores and compares: SQLite keeps datetimes as text without their
    offset, so a Berlin midnight compared as 00:00 came after the 23:xx UTC of that same first hour
    (`UtcDateTime` now converts every bound datetime too).
    """
    local = now.astimezone(ZoneInfo(timezone))
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


def mean_seconds(durations: Iterable[timedelta]) -> float | None:
    values = [d.total_seconds() for d in durations]
    return round(sum(values) / len(values), 1) if values else None
