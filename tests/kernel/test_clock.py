"""The kernel's clock: aware UTC datetimes, the one `utc_now` of the gateway and the wire contract."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from smartstore.gateway.db import util
from smartstore.kernel.clock import utc_now


def test_utc_now_is_aware_utc_and_current() -> None:
    before = datetime.now(UTC)
    now = utc_now()
    assert now.tzinfo is UTC
    assert before <= now <= before + timedelta(seconds=5)


def test_the_gateway_uses_the_kernel_clock() -> None:
    assert util.utc_now is utc_now
