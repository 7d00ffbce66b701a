"""A token bucket's arithmetic, shared by every rate limit: refill by the time elapsed, take one token."""

from __future__ import annotations


def take_token(
    tokens: float, counted_at: float, now: float, rate_per_s: float, burst: float
) -> tuple[float, float]:
    """(tokens left, seconds to wait) for one more request: a wait of 0.0 means a token was taken.

    The bucket refills at `rate_per_s` up to `burst`; a clock stepping back refills nothing.
    """
    tokens = min(burst, tokens + max(0.0, now - counted_at) * rate_per_s)
    if tokens >= 1.0:
        return tokens - 1.0, 0.0
    return tokens, (1.0 - tokens) / rate_per_s
