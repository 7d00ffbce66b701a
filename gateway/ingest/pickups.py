"""Pickup signals that name an order, in the ingest's transaction: the order ends picked_up exactly once."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from smartstore.gateway.db.lockers import PickupOrder
from smartstore.gateway.ingest.decode import Accepted
from smartstore.gateway.lockers import domain
from smartstore.gateway.lockers.lifecycle import Event, mark_picked_up
from smartstore.kernel.contract import payloads as p

logger = logging.getLogger(__name__)


@dataclass
class PickupPlan:
    """What each pickup signal of a batch does to the stock, decided before the batch is applied."""

    items: list[Accepted]
    effects: dict[str, domain.PickupEffect] = field(default_factory=dict)  # by event id
    events: list[Event] = field(default_factory=list)

    def effect(self, signal: p.PickupSignal) -> domain.PickupEffect | None:
        return self.effects.get(signal.id)


def plan_pickups(session: Session, fresh: Sequence[Accepted], at: datetime) -> PickupPlan:
    """Move the orders named by the batch's (new) pickup signals to picked_up, and say per signal
    whether the reservation is released and the stock taken.

    Runs before the batch's inventory rows are read and locked: order rows are always locked before
    inventory rows (see order_store), so the ingest and the API never wait on each other in a cycle.
    A signal for an order already picked up (the same pickup reported again under another event id,
    e.g. offline and then online) changes nothing. Signals without a known order keep the old
    meaning: release and take what their lines say. The order's own lines replace the signal's.
    """
    named = [item for item in fresh if isinstance(item.payload, p.PickupSignal) and item.payload.order]
    plan = PickupPlan(list(fresh))
    if not named:
        return plan
    ids = sorted(
        {
            item.payload.order
            for item in named
            if isinstance(item.payload, p.PickupSignal) and item.payload.order
        }
    )
    orders = {
        order.id: order
        for order in session.scalars(
            select(PickupOrder)
            .where(PickupOrder.id.in_(ids))
            .order_by(PickupOrder.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    }
    for index, item in enumerate(plan.items):
        signal = item.payload
        if not isinstance(signal, p.PickupSignal) or not signal.order:
            continue
        order = orders.get(signal.order)
        if order is None or order.store_id != item.route.topic.store:
            continue
        effect = domain.pickup_effect(domain.OrderState(order.state))
        plan.effects[signal.id] = effect
        lines = [p.PickupLine(gtin=line.gtin, quantity=line.quantity) for line in order.lines]
        plan.items[index] = dataclasses.replace(item, payload=signal.model_copy(update={"lines": lines}))
        if not effect.transition:
            logger.info("pickup %s of order %s: %s", signal.id, order.id, effect.note)
            continue
        by = f"edge:{item.route.topic.device}" + (" (offline)" if signal.offline else "")
        note = f"{effect.note} from {signal.locker}/{signal.compartment}"
        plan.events.extend(mark_picked_up(session, order, by=by, at=at, note=note))
        logger.info("order %s picked up (%s)", order.id, by)
    session.flush()
    return plan
