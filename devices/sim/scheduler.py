"""A deterministic sim-time event queue: actions run in (time, insertion order), never wall-clock order."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

Action = Callable[[], None]


@dataclass(order=True, slots=True)
class _Entry:
    at: float
    order: int
    action: Action = field(compare=False)
    cancelled: bool = field(default=False, compare=False)


class Timer:
    """Handle of a scheduled action; cancel() keeps it from running."""

    __slots__ = ("_entry",)

    def __init__(self, entry: _Entry) -> None:
        self._entry = entry

    @property
    def at(self) -> float:
        return self._entry.at

    def cancel(self) -> None:
        self._entry.cancelled = True


class EventQueue:
    """Sim clock plus pending actions; the one place sim time moves forward."""

    def __init__(self) -> None:
        self.now = 0.0
        self._heap: list[_Entry] = []
        self._order = itertools.count()

    def at(self, when: float, action: Action) -> Timer:
        # Scheduling in the past would make the result depend on how big the caller's steps are.
        entry = _Entry(max(when, self.now), next(self._order), action)
        heapq.heappush(self._heap, entry)
        return Timer(entry)

    def after(self, delay: float, action: Action) -> Timer:
        return self.at(self.now + max(delay, 0.0), action)

    def run_until(self, until: float) -> int:
        """Run every action due up to `until` in time order, then set the clock to `until`."""
        ran = 0
        while self._heap and self._heap[0].at <= until:
            entry = heapq.heappop(self._heap)
            if entry.cancelled:
                continue
            self.now = entry.at
            entry.action()
            ran += 1
        self.now = max(self.now, until)
        return ran

    def __len__(self) -> int:
        return sum(1 for entry in self._heap if not entry.cancelled)
