"""A code typed at the test store's locker kiosk, for the order and throttling tests."""

from __future__ import annotations

from datetime import datetime

from locker_helpers import LOCKER, SECRET, STORE, now

from smartstore.gateway.lockers.code_entry import PickupAttempt, pickup_with_code
from smartstore.gateway.runtime import GatewayRuntime


def attempt(
    runtime: GatewayRuntime,
    code: str,
    source: str | None = None,
    *,
    at: datetime | None = None,
    order: str | None = None,
) -> PickupAttempt:
    """Type `code` at the locker's kiosk (as `source`, default the kiosk itself; `order`: the order number
    typed with it) and commit what it changed."""
    with runtime.sessions() as session:
        result = pickup_with_code(
            session,
            runtime.stores[STORE],
            LOCKER,
            code,
            by="kiosk 1",
            at=at or now(),
            secret=SECRET,
            source=source,
            order_hint=order,
        )
        session.commit()
        return result
