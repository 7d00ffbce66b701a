"""The JSON shapes of orders, compartments and code attempts, and their builders from table rows.

The bus carries these dicts as they are (times as ISO text); the API answers them through its
response models, or as they are where it has none.
"""

from __future__ import annotations

from typing import NotRequired, TypedDict

from smartstore.gateway.db.lockers import CodeAttempt, CompartmentState, PickupOrder
from smartstore.gateway.db.util import as_utc, iso
from smartstore.gateway.lockers import domain
from smartstore.kernel.storeconfig import CompartmentSize


class OrderLineView(TypedDict):
    gtin: str
    quantity: int


# "from" is a keyword: this shape can only be spelt the functional way.
TransitionView = TypedDict(
    "TransitionView", {"from": str | None, "to": str, "at": str | None, "by": str, "note": str}
)


class _Compartment(TypedDict):
    """One compartment: the gateway's allocation and flags, and the door as the locker last reported it."""

    store: str
    locker: str
    compartment: str
    door_number: int | None
    size: str
    in_service: bool
    occupied: bool | None
    door_open: bool
    needs_attention: str | None
    updated_at: str | None


class CompartmentView(_Compartment):
    order: str | None


class OrderInCompartment(TypedDict):
    id: str
    state: str
    expires_at: str | None
    overdue: bool  # ended and still inside, or ready and past its deadline


class OverdueOrder(OrderInCompartment):
    locker: str
    compartment: str


class CompartmentOverview(_Compartment):
    """A compartment in the associates' overview: with its order's summary, and whether it is free."""

    order: OrderInCompartment | None
    free: bool


class LockoutView(TypedDict):
    """A pickup-code lockout in force: of the whole bank, one kiosk session / client, or one order."""

    scope: str  # bank, source, order
    what: str | None  # the source or the order; None for the bank
    until: str | None
    refused: int  # tries refused in this window (wrong codes, then tries while locked)


class LockerBankOverview(TypedDict):
    id: str
    zone: str
    free: int
    compartments: list[CompartmentOverview]
    lockouts: list[LockoutView]


class LockersOverview(TypedDict):
    store: str
    lockers: list[LockerBankOverview]
    waiting: int
    overdue: list[OverdueOrder]
    at: str | None


class OrderView(TypedDict):
    """A pickup order: never its code, hash or lookup key."""

    id: str
    store: str
    state: str
    external_ref: str | None
    size: str
    locker: str | None
    compartment: str | None
    door_number: int | None
    code_issued: bool
    code_used_at: str | None
    expires_at: str | None
    lines: list[OrderLineView]
    created_at: str | None
    created_by: str
    updated_at: str | None
    customer_order: str | None
    fulfilment: str
    channel: str | None
    slot_start: str | None
    promised_by: str | None
    transitions: NotRequired[list[TransitionView]]
    # Only in the API's answers about one order (`detail`): the compartment it is in, if any.
    compartment_state: NotRequired[CompartmentView | None]


class AttemptView(TypedDict):
    """A code entered at a kiosk, as audited: never the code itself."""

    locker: str
    order: str | None
    result: str
    at: str | None
    by: str


def order_view(order: PickupOrder, *, history: bool = True) -> OrderView:
    view: OrderView = {
        "id": order.id,
        "store": order.store_id,
        "state": order.state,
        "external_ref": order.external_ref,
        "size": order.size,
        "locker": order.locker_id,
        "compartment": order.compartment_id,
        "door_number": domain.door_number(order.compartment_id) if order.compartment_id else None,
        "code_issued": order.code_hash is not None,
        "code_used_at": iso(order.code_used_at),
        "expires_at": iso(order.expires_at),
        "lines": [{"gtin": line.gtin, "quantity": line.quantity} for line in order.lines],
        "created_at": iso(order.created_at),
        "created_by": order.created_by,
        "updated_at": iso(order.updated_at),
        "customer_order": order.customer_order_id,
        "fulfilment": order.fulfilment or "locker_pickup",
        "channel": order.channel,
        "slot_start": iso(order.slot_start),
        "promised_by": iso(order.promised_by),
    }
    if history:
        view["transitions"] = [
            {"from": t.from_state, "to": t.to_state, "at": iso(t.at), "by": t.by, "note": t.note}
            for t in order.transitions
        ]
    return view


def compartment_view(row: CompartmentState) -> CompartmentView:
    return {
        "store": row.store_id,
        "locker": row.locker_id,
        "compartment": row.compartment_id,
        "door_number": domain.door_number(row.compartment_id),
        "size": row.size,
        "in_service": row.in_service,
        "occupied": row.occupied,
        "door_open": row.door_open,
        "order": row.order_id,
        "needs_attention": row.needs_attention,
        "updated_at": iso(as_utc(row.updated_at)),
    }


def unseen_compartment_view(
    store_id: str, locker: str, compartment: str, size: CompartmentSize
) -> CompartmentView:
    """A compartment of the store file the table has no row for yet: in service, free, never reported."""
    return {
        "store": store_id,
        "locker": locker,
        "compartment": compartment,
        "door_number": domain.door_number(compartment),
        "size": size.value,
        "in_service": True,
        "occupied": None,
        "door_open": False,
        "order": None,
        "needs_attention": None,
        "updated_at": None,
    }


def attempt_view(row: CodeAttempt) -> AttemptView:
    return {
        "locker": row.locker_id,
        "order": row.order_id,
        "result": row.result,
        "at": iso(row.at),
        "by": row.by,
    }
