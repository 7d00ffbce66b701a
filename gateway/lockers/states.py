"""Pure fulfilment-order lifecycles: one state set, one transition table per way of fulfilling.

A customer order (``CO-…``) is fulfilled by one fulfilment order (``ORD-…``) per store it is sourced
from. Every fulfilment order walks one of these paths; every step is recorded with who and when::

    locker_pickup   created -> reserved -> picking -> loaded -> ready -> picked_up
    counter_pickup  created -> reserved -> picking -> staged -> picked_up
    delivery        created -> reserved -> picking -> staged | loaded (-> ready) -> handed_to_courier
                    -> delivered
    ship            created -> reserved -> picking -> staged -> shipped -> delivered

Until the goods leave the store any order may be ``cancelled`` (by a person) or ``expired`` (by the
clock); both release the reservation. The goods leave at ``picked_up``, ``handed_to_courier`` and
``shipped``: the reservation is released and the units are taken. A pickup after expiry or
cancellation still ends the order as ``picked_up`` (the customer has the goods).
"""

from __future__ import annotations

from enum import StrEnum


class OrderState(StrEnum):
    CREATED = "created"
    RESERVED = "reserved"
    PICKING = "picking"
    LOADED = "loaded"
    READY = "ready"
    STAGED = "staged"
    HANDED_TO_COURIER = "handed_to_courier"
    SHIPPED = "shipped"
    PICKED_UP = "picked_up"
    DELIVERED = "delivered"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class FulfilmentType(StrEnum):
    LOCKER_PICKUP = "locker_pickup"
    COUNTER_PICKUP = "counter_pickup"
    DELIVERY = "delivery"
    SHIP = "ship"


S = OrderState
F = FulfilmentType
_STOPPABLE = frozenset({S.CANCELLED, S.EXPIRED})


def _table(*steps: tuple[OrderState, set[OrderState]]) -> dict[OrderState, frozenset[OrderState]]:
    table: dict[OrderState, frozenset[OrderState]] = {state: frozenset() for state in OrderState}
    for state, targets in steps:
        table[state] = frozenset(targets)
    return table


_START = (
    (S.CREATED, {S.RESERVED, S.CANCELLED}),
    (S.RESERVED, {S.PICKING} | _STOPPABLE),
)
TRANSITIONS: dict[FulfilmentType, dict[OrderState, frozenset[OrderState]]] = {
    F.LOCKER_PICKUP: _table(
        *_START,
        (S.PICKING, {S.LOADED} | _STOPPABLE),
        # loaded -> loaded: the associate opens the compartment again (a new code is issued).
        (S.LOADED, {S.LOADED, S.READY, S.PICKED_UP} | _STOPPABLE),
        (S.READY, {S.PICKED_UP} | _STOPPABLE),
        # The locker's word beats the clock: goods taken after expiry or cancellation were taken.
        (S.EXPIRED, {S.PICKED_UP}),
        (S.CANCELLED, {S.PICKED_UP}),
    ),
    F.COUNTER_PICKUP: _table(
        *_START,
        (S.PICKING, {S.STAGED} | _STOPPABLE),
        (S.STAGED, {S.PICKED_UP} | _STOPPABLE),
        # A customer who comes after the slot's grace still gets the goods if they are still staged.
        (S.EXPIRED, {S.PICKED_UP}),
    ),
    F.DELIVERY: _table(
        *_START,
        (S.PICKING, {S.STAGED, S.LOADED} | _STOPPABLE),
        (S.STAGED, {S.HANDED_TO_COURIER} | _STOPPABLE),
        (S.LOADED, {S.LOADED, S.READY, S.HANDED_TO_COURIER} | _STOPPABLE),
        (S.READY, {S.HANDED_TO_COURIER} | _STOPPABLE),
        (S.HANDED_TO_COURIER, {S.DELIVERED}),
    ),
    F.SHIP: _table(
        *_START,
        (S.PICKING, {S.STAGED} | _STOPPABLE),
        (S.STAGED, {S.SHIPPED} | _STOPPABLE),
        (S.SHIPPED, {S.DELIVERED}),
    ),
}

HOLDS_RESERVATION = frozenset({S.RESERVED, S.PICKING, S.LOADED, S.READY, S.STAGED})
IN_COMPARTMENT = frozenset({S.LOADED, S.READY})
GOODS_LEFT = frozenset({S.PICKED_UP, S.HANDED_TO_COURIER, S.SHIPPED, S.DELIVERED})
FINAL = frozenset({S.PICKED_UP, S.DELIVERED, S.EXPIRED, S.CANCELLED})
# The state a fulfilment reaches when its goods leave through a locker compartment.
LEAVES_LOCKER_AS = {F.LOCKER_PICKUP: S.PICKED_UP, F.DELIVERY: S.HANDED_TO_COURIER}


class TransitionError(ValueError):
    """A lifecycle step the table does not allow."""

    def __init__(self, current: OrderState, target: OrderState, fulfilment: FulfilmentType) -> None:
        super().__init__(f"a {fulfilment.value} order that is {current.value} cannot become {target.value}")
        self.current = current
        self.target = target


def can_transition(
    current: OrderState, target: OrderState, fulfilment: FulfilmentType = F.LOCKER_PICKUP
) -> bool:
    return target in TRANSITIONS[fulfilment][current]


def check_transition(
    current: OrderState, target: OrderState, fulfilment: FulfilmentType = F.LOCKER_PICKUP
) -> None:
    if not can_transition(current, target, fulfilment):
        raise TransitionError(current, target, fulfilment)
