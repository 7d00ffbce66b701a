"""Reconnect delays: exponential growth, a cap, and jitter so many bridges do not retry in lockstep."""

from __future__ import annotations

import random

from smartstore.devices.llrp.settings import BackoffSettings


class Backoff:
    """`next_delay()` after each failure; `reset()` once a session proved stable."""

    def __init__(self, settings: BackoffSettings, rng: random.Random | None = None) -> None:
        self.settings = settings
        self._rng = rng or random.Random()
        self._attempt = 0

    @property
    def attempt(self) -> int:
        return self._attempt

    def next_delay(self) -> float:
        settings = self.settings
        base = min(settings.max_s, settings.initial_s * settings.multiplier**self._attempt)
        # Stop growing the exponent once capped, so it cannot overflow on a reader that is gone for weeks.
        if base < settings.max_s:
            self._attempt += 1
        spread = self._rng.uniform(-settings.jitter, settings.jitter)
        return min(settings.max_s, base * (1.0 + spread))

    def reset(self) -> None:
        self._attempt = 0
