"""Customer orders as the API returns them: the order, its sourcing decision and its fulfilments."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from smartstore.gateway.db.lockers import PickupOrder
from smartstore.gateway.db.orders import CustomerOrder
from smartstore.gateway.db.util import iso
from smartstore.gateway.lockers.view_models import order_view

ENDED = frozenset({"picked_up", "delivered"})
STOPPED = frozenset({"cancelled", "expired"})


def order_status(states: Sequence[str]) -> str:
    """A customer order's status from its fulfilments' states."""
    if states and all(s in STOPPED for s in states):
        return "cancelled"
    if states and all(s in ENDED | STOPPED for s in states):
        return "completed" if all(s in ENDED for s in states) else "partly_cancelled"
    return "open"


def fulfilments_of(session: Session, order_id: str, *, lock: bool = False) -> list[PickupOrder]:
    query = (
        select(PickupOrder).where(PickupOrder.customer_order_id == order_id).order_by(PickupOrder.store_id)
    )
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return list(session.scalars(query))


def customer_order_view(order: CustomerOrder, fulfilments: Sequence[PickupOrder]) -> dict[str, Any]:
    return {
        "id": order.id,
        "status": order_status([f.state for f in fulfilments]),
        "channel": order.channel,
        "fulfilment": order.fulfilment,
        "customer_ref": order.customer_ref,
        "external_ref": order.external_ref,
        "requested_store": order.requested_store,
        "allow_split": order.allow_split,
        "destination": order.destination,
        "lines": order.lines,
        "sourcing": order.sourcing,
        "fulfilments": [order_view(f) for f in fulfilments],
        "created_at": iso(order.created_at),
        "created_by": order.created_by,
    }
