"""Read-only views of the lockers: the overview for associates and the retained manifests for the edge."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from smartstore.gateway.db.lockers import PickupOrder
from smartstore.gateway.db.util import as_utc, iso
from smartstore.gateway.lockers import domain
from smartstore.gateway.lockers.code_entry import active_lockouts
from smartstore.gateway.lockers.compartments import as_domain, compartment_rows
from smartstore.gateway.lockers.view_models import (
    CompartmentOverview,
    LockerBankOverview,
    LockersOverview,
    OrderInCompartment,
    OverdueOrder,
    compartment_view,
    unseen_compartment_view,
)
from smartstore.kernel.contract import payloads as p
from smartstore.kernel.storeconfig import StoreConfig


def locker_overview(session: Session, store: StoreConfig, at: datetime) -> LockersOverview:
    """Every compartment with its state and order, what waits for pickup and what is overdue."""
    store_id = store.store.id
    rows = {(r.locker_id, r.compartment_id): r for r in compartment_rows(session, store)}
    order_ids = [r.order_id for r in rows.values() if r.order_id]
    orders = (
        {o.id: o for o in session.scalars(select(PickupOrder).where(PickupOrder.id.in_(order_ids)))}
        if order_ids
        else {}
    )
    lockers: list[LockerBankOverview] = []
    lockouts = active_lockouts(session, store_id, at)
    overdue: list[OverdueOrder] = []
    waiting = 0
    for spec in store.devices.lockers:
        compartments: list[CompartmentOverview] = []
        for c in spec.compartments:
            row = rows.get((spec.id, c.id))
            view = compartment_view(row) if row else unseen_compartment_view(store_id, spec.id, c.id, c.size)
            held = orders.get(row.order_id) if row and row.order_id else None
            summary: OrderInCompartment | None = None
            if held is not None:
                late = held.expires_at is not None and as_utc(held.expires_at) <= at
                is_overdue = held.state in (
                    domain.OrderState.EXPIRED.value,
                    domain.OrderState.CANCELLED.value,
                ) or (held.state == domain.OrderState.READY.value and late)
                summary = {
                    "id": held.id,
                    "state": held.state,
                    "expires_at": iso(held.expires_at),
                    "overdue": is_overdue,
                }
                waiting += held.state == domain.OrderState.READY.value
                if is_overdue:
                    overdue.append({**summary, "locker": spec.id, "compartment": c.id})
            # The summary takes the order id's place (same key, same position in the JSON).
            compartments.append({**view, "order": summary, "free": row is None or as_domain(row).free})
        free = sum(1 for view in compartments if view["free"])
        lockers.append(
            {
                "id": spec.id,
                "zone": spec.zone,
                "free": free,
                "compartments": compartments,
                "lockouts": lockouts.get(spec.id, []),
            }
        )
    return {"store": store_id, "lockers": lockers, "waiting": waiting, "overdue": overdue, "at": iso(at)}


def ready_manifests(
    session: Session, stores: Mapping[str, StoreConfig], at: datetime
) -> dict[tuple[str, str], list[p.ManifestOrder]]:
    """Per (store, locker) of the served stores: the ready orders whose code can still be used."""
    manifests: dict[tuple[str, str], list[p.ManifestOrder]] = {
        (store_id, lk.id): [] for store_id, config in stores.items() for lk in config.devices.lockers
    }
    query = (
        select(PickupOrder)
        .where(
            PickupOrder.state == domain.OrderState.READY.value,
            PickupOrder.code_used_at.is_(None),
            PickupOrder.store_id.in_(list(stores)),
        )
        .order_by(PickupOrder.id)
    )
    for order in session.scalars(query):
        key = (order.store_id, order.locker_id or "")
        if key not in manifests or order.code_hash is None or order.compartment_id is None:
            continue
        if order.expires_at is None or as_utc(order.expires_at) <= at:
            continue
        manifests[key].append(
            p.ManifestOrder(
                order=order.id,
                compartment=order.compartment_id,
                code_hash=order.code_hash,
                expires_at=as_utc(order.expires_at),
                lines=[p.PickupLine(gtin=line.gtin, quantity=line.quantity) for line in order.lines],
            )
        )
    return manifests
