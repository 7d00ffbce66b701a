"""Token buckets in memory, one per caller, bounded: what `ApiGuard` answers 429 from."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from smartstore.kernel.token_bucket import take_token


class TokenBuckets:
    """`burst` requests at once, then `rate_per_s`; at most `max_buckets` callers remembered.

    Used from the event loop only, so no lock. The least recently seen bucket is dropped first, which
    grants that caller a full bucket again: the bound is on memory, not on what a caller may do.
    """

    def __init__(
        self,
        rate_per_s: float,
        burst: int,
        max_buckets: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.max_buckets = max_buckets
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, when counted

    def take(self, caller: str) -> float:
        """0.0 when `caller` may go now (a token is taken), else the seconds until a token is there."""
        now = self._clock()
        tokens, counted_at = self._buckets.pop(caller, (float(self.burst), now))
        tokens, wait = take_token(tokens, counted_at, now, self.rate_per_s, float(self.burst))
        self._buckets[caller] = (tokens, now)
        while len(self._buckets) > self.max_buckets:
            self._buckets.popitem(last=False)
        return wait

    def __len__(self) -> int:
        return len(self._buckets)
