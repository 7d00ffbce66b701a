"""Pure locker domain: compartment best fit, code throttling, what a reported pickup does.

The order lifecycle itself (states, the transition table of each way of fulfilling) is states.py,
next to lifecycle.py, the one door of state changes; its names are re-exported here. A pickup reported
by the locker after an order expired or was cancelled still ends it as `picked_up` (the customer has
the goods), but the reservation it held was released already, so only the stock is taken.

No I/O here: gateway.lockers.order_store and .compartments apply these rules to the database.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from smartstore.gateway.lockers.states import (
    FINAL,
    GOODS_LEFT,
    HOLDS_RESERVATION,
    IN_COMPARTMENT,
    FulfilmentType,
    OrderState,
    TransitionError,
    can_transition,
    check_transition,
)
from smartstore.gateway.lockers.states import TRANSITIONS as _TABLES
from smartstore.kernel.storeconfig import CompartmentSize

__all__ = [
    "FINAL",
    "GOODS_LEFT",
    "HOLDS_RESERVATION",
    "IN_COMPARTMENT",
    "TRANSITIONS",
    "OrderState",
    "TransitionError",
    "can_transition",
    "check_transition",
]


S = OrderState
TRANSITIONS = _TABLES[FulfilmentType.LOCKER_PICKUP]
_SIZE_ORDER = {CompartmentSize.S: 0, CompartmentSize.M: 1, CompartmentSize.L: 2}
# Crockford base32 without I, L, O, U: order ids read aloud over a counter are not misheard.
_ID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_DOOR_NUMBER = re.compile(r"(\d+)$")


def new_order_id() -> str:
    """`ORD-` and 8 random base32 characters (40 bits): not guessable, short enough to read out."""
    return "ORD-" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(8))


def door_number(compartment: str) -> int | None:
    """The number printed on a door: the trailing digits of its id ('c12' -> 12)."""
    match = _DOOR_NUMBER.search(compartment)
    return int(match.group(1)) if match else None


def expiry(start: datetime, hours: float) -> datetime:
    return start + timedelta(hours=hours)


# --- compartments ------------------------------------------------------------------------------


def order_size(sizes: Iterable[CompartmentSize]) -> CompartmentSize:
    """The compartment size an order needs: its largest line decides."""
    return max(sizes, key=_SIZE_ORDER.__getitem__, default=CompartmentSize.S)


def fits(compartment: CompartmentSize, needed: CompartmentSize) -> bool:
    return _SIZE_ORDER[compartment] >= _SIZE_ORDER[needed]


@dataclass(frozen=True, slots=True)
class Compartment:
    locker: str
    compartment: str
    size: CompartmentSize
    in_service: bool = True
    occupied: bool | None = None
    door_open: bool = False
    order: str | None = None
    needs_attention: str | None = None

    @property
    def free(self) -> bool:
        """Can take a new order: in service, empty as far as we know, closed, nobody to look at it."""
        return (
            self.in_service
            and self.order is None
            and self.needs_attention is None
            and self.occupied is not True
            and not self.door_open
        )


def best_fit(
    compartments: Iterable[Compartment], needed: CompartmentSize, locker: str | None = None
) -> Compartment | None:
    """The smallest free compartment the order fits in (S < M < L); None when none is free.

    Ties go to the first in store-file order, so allocation is predictable for the associate.
    """
    candidates = [
        c for c in compartments if c.free and fits(c.size, needed) and (locker is None or c.locker == locker)
    ]
    if not candidates:
        return None
    return min(enumerate(candidates), key=lambda item: (_SIZE_ORDER[item[1].size], item[0]))[1]


# --- wrong-code throttling ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ThrottleRule:
    """`max_failures` wrong codes within `window` lock the scope for `lockout` (NIST SP 800-63B 5.2.2).

    A scope is one source (a kiosk session or API client), one order, or the whole bank (a ceiling far
    above what one source can reach before its own lockout).
    """

    max_failures: int = 5
    lockout: timedelta = timedelta(minutes=15)

    @property
    def window(self) -> timedelta:
        # Failures older than one lockout period are forgotten: a typo in the morning does not count
        # towards a lockout in the afternoon.
        return self.lockout


@dataclass(frozen=True, slots=True)
class Lockout:
    failures: int = 0
    last_failure_at: datetime | None = None
    locked_until: datetime | None = None


def retry_after(state: Lockout, now: datetime) -> float | None:
    """Seconds until the scope may try again; None when it is not locked."""
    if state.locked_until is None or state.locked_until <= now:
        return None
    return (state.locked_until - now).total_seconds()


def _current(state: Lockout, rule: ThrottleRule, now: datetime) -> Lockout:
    """The state with expired locks and stale failures forgotten."""
    if state.locked_until is not None and state.locked_until <= now:
        return Lockout()
    if state.last_failure_at is not None and now - state.last_failure_at > rule.window:
        return replace(state, failures=0, last_failure_at=None)
    return state


def tries_left(state: Lockout, rule: ThrottleRule, now: datetime) -> int:
    current = _current(state, rule, now)
    if retry_after(current, now) is not None:
        return 0
    return max(0, rule.max_failures - current.failures)


def after_refusal(state: Lockout, rule: ThrottleRule, now: datetime) -> Lockout:
    """Count a try refused because the scope is locked: it adds to the window's count, never to the lock.

    Such a try was not checked, so it is no guess: it must not push a wider scope (the bank) towards
    its ceiling, nor make the lockout longer (one person hammering a locked kiosk locks out nobody).
    """
    current = _current(state, rule, now)
    if retry_after(current, now) is None:
        return current
    return replace(current, failures=current.failures + 1)


def after_failure(state: Lockout, rule: ThrottleRule, now: datetime) -> Lockout:
    """Count one wrong code; reaching the limit starts a lockout (and the count starts over after it)."""
    current = _current(state, rule, now)
    if retry_after(current, now) is not None:
        return current  # already locked: attempts are refused before they are checked
    failures = current.failures + 1
    if failures >= rule.max_failures:
        return Lockout(failures, now, now + rule.lockout)
    return Lockout(failures, now, None)


# --- pickups reported by the locker ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PickupEffect:
    """What a PickupSignal for an order in some state does to the order and the stock."""

    transition: bool  # the order becomes picked_up
    release: bool  # its reservation is released
    take: bool  # the units leave the stock (untagged products; RFID counts tagged ones out)
    note: str


def pickup_effect(state: OrderState) -> PickupEffect:
    if state in IN_COMPARTMENT:
        return PickupEffect(True, True, True, "collected")
    if state in (S.EXPIRED, S.CANCELLED):
        return PickupEffect(True, False, True, f"collected after the order was {state.value}")
    if state in GOODS_LEFT:
        return PickupEffect(False, False, False, f"already {state.value}: repeated pickup ignored")
    # Never in a compartment: nothing could have been taken; the signal is wrong.
    return PickupEffect(False, False, False, f"pickup reported for an order that is {state.value}")
