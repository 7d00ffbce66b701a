"""Wrong-code throttling of one locker bank's keypad: N wrong in a row locks it for a while."""

from __future__ import annotations

import logging
from dataclasses import dataclass

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Verdict:
    """Whether a code may be tried now; when not, for how many more seconds."""

    allowed: bool
    retry_after_s: float = 0.0


@dataclass(slots=True)
class KeypadThrottle:
    """Counts wrong codes in a row; `max_wrong` of them lock the keypad for `lockout_s` seconds.

    NIST SP 800-63B treats short numeric codes as low-entropy secrets that must be rate limited: with
    5 tries per 15 minutes a 6-digit code takes on average years of guessing at one bank.
    """

    max_wrong: int
    lockout_s: float
    wrong: int = 0
    locked_until: float = 0.0

    def check(self, now: float) -> Verdict:
        if now < self.locked_until:
            # Clamped: locked_until - now can exceed the lockout by a rounding error of the clock's floats.
            return Verdict(False, min(self.locked_until - now, self.lockout_s))
        return Verdict(True)

    def failed(self, now: float) -> int:
        """Count a wrong code; returns the tries left before the lockout (0: locked now)."""
        self.wrong += 1
        if self.wrong >= self.max_wrong:
            self.wrong = 0
            self.locked_until = now + self.lockout_s
            return 0
        return self.max_wrong - self.wrong

    def succeeded(self) -> None:
        self.wrong = 0

    def lockout_ended(self, now: float) -> bool:
        """True once, when a lockout has just run out (the caller clears its alert)."""
        if self.locked_until and now >= self.locked_until:
            self.locked_until = 0.0
            return True
        return False

    def as_json(self) -> dict[str, float]:
        return {"wrong": self.wrong, "locked_until": self.locked_until}
