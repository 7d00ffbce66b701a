"""The token bucket's arithmetic: a burst at once, then the rate; a clock stepping back refills nothing."""

from __future__ import annotations

import pytest

from smartstore.kernel.token_bucket import take_token


def test_a_burst_then_the_rate() -> None:
    tokens, now, waits = 3.0, 0.0, []
    for _ in range(4):
        tokens, wait = take_token(tokens, now, now, rate_per_s=2.0, burst=3.0)
        waits.append(wait)
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3] == pytest.approx(0.5)  # one token at 2/s
    tokens, wait = take_token(tokens, now, now + 0.5, rate_per_s=2.0, burst=3.0)
    assert (wait, tokens) == (0.0, pytest.approx(0.0))


def test_refill_stops_at_the_burst_and_never_runs_backwards() -> None:
    assert take_token(0.0, 0.0, 1000.0, rate_per_s=5.0, burst=4.0) == (3.0, 0.0)
    tokens, wait = take_token(0.5, 10.0, 9.0, rate_per_s=5.0, burst=4.0)  # the clock stepped back
    assert tokens == 0.5
    assert wait == pytest.approx(0.1)
