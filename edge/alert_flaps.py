"""Flapping alert causes held back at the source: once cleared, a cause is raised again only after a while."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class FlapGuard:
    """Remembers when each cause was last cleared; `may_raise` refuses a new raise within `min_interval_s`.

    A cause that flaps (raised, cleared, raised, ...) then sends one raise and one clear per interval at
    most instead of a stream of both. The caller keeps judging the condition and asks again later: a
    cause still true when its interval has passed is raised then, so nothing real is lost, only delayed.
    `held` counts the raises held back: once per episode of the condition, however often the caller
    asks while it lasts (`calm` tells that an episode ended).
    """

    min_interval_s: float
    max_causes: int = 100_000
    held: int = 0
    _cleared_at: dict[str, float] = field(default_factory=dict)
    _holding: set[str] = field(default_factory=set)

    def may_raise(self, cause: str, now: float) -> bool:
        cleared_at = self._cleared_at.get(cause)
        if cleared_at is not None and now - cleared_at < self.min_interval_s:
            if cause not in self._holding:
                self._holding.add(cause)
                self.held += 1
            return False
        self._cleared_at.pop(cause, None)
        self._holding.discard(cause)
        return True

    def calm(self, cause: str) -> None:
        """The condition went away while held: its next raise is another one held back."""
        self._holding.discard(cause)

    def cleared(self, cause: str, now: float) -> None:
        if len(self._cleared_at) >= self.max_causes:
            self.forget(now)
            if len(self._cleared_at) >= self.max_causes:
                self._cleared_at.clear()  # a bound on memory: forgotten causes may raise at once
                self._holding.clear()
        self._cleared_at[cause] = now

    def forget(self, now: float) -> None:
        """Drop causes whose interval has passed (they may be raised at once anyway)."""
        self._cleared_at = {c: t for c, t in self._cleared_at.items() if now - t < self.min_interval_s}
        self._holding &= set(self._cleared_at)

    def export(self) -> dict[str, float]:
        """When each remembered cause was cleared, for a state file (a restart keeps holding them)."""
        return dict(self._cleared_at)

    def restore(self, cleared_at: dict[str, float]) -> None:
        self._cleared_at = dict(list(cleared_at.items())[-self.max_causes :])
        self._holding.clear()
