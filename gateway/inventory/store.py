"""The inventory domain applied to the database: movements, reservations and the published row view."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypedDict

from sqlalchemy import select
from sqlalchemy.orm import Session

from smartstore.gateway.db.models import Inventory, ZoneCount
from smartstore.gateway.db.util import as_utc, begin_write
from smartstore.gateway.inventory import domain
from smartstore.kernel.contract.payloads import ShelfState
from smartstore.kernel.storeconfig import StoreConfig

logger = logging.getLogger(__name__)

# The row's columns a view is made of (name and sku come from the catalog).
_VIEW_COLUMNS = (
    "store_id",
    "gtin",
    "on_hand",
    "salesfloor",
    "backroom",
    "reserved",
    "safety_stock",
    "available_to_promise",
    "shelf_state",
    "shelf_fill",
    "sources",
    "updated_at",
)


class InventoryView(TypedDict):
    """One store x GTIN as the bus carries it and the API reads it (times as ISO text)."""

    store: str
    gtin: str
    name: str | None
    sku: str | None
    on_hand: int
    salesfloor: int
    backroom: int
    reserved: int
    safety_stock: int
    available_to_promise: int
    shelf_state: str
    shelf_fill: float | None
    sources: dict[str, Any]
    updated_at: str


def view_from_values(values: Mapping[str, Any], name: str | None, sku: str | None) -> InventoryView:
    """The view of one inventory row from its column values (the ingest works on plain rows)."""
    return {
        "store": values["store_id"],
        "gtin": values["gtin"],
        "name": name,
        "sku": sku,
        "on_hand": values["on_hand"],
        "salesfloor": values["salesfloor"],
        "backroom": values["backroom"],
        "reserved": values["reserved"],
        "safety_stock": values["safety_stock"],
        "available_to_promise": values["available_to_promise"],
        "shelf_state": values["shelf_state"],
        "shelf_fill": values["shelf_fill"],
        "sources": dict(values["sources"] or {}),
        "updated_at": as_utc(values["updated_at"]).isoformat(),
    }


def inventory_view(row: Inventory) -> InventoryView:
    """The view of one store x GTIN, published on the bus and returned by the API."""
    product = row.product
    values = {column: getattr(row, column) for column in _VIEW_COLUMNS}
    return view_from_values(values, product.name if product else None, product.sku if product else None)


def new_inventory_row(store: StoreConfig, gtin: str, at: datetime) -> Inventory:
    product = store.products[gtin]
    return Inventory(
        store_id=store.store.id,
        gtin=gtin,
        salesfloor=0,
        backroom=0,
        on_hand=0,
        reserved=0,
        safety_stock=product.safety_stock,
        available_to_promise=0,
        shelf_state=ShelfState.UNKNOWN.value,
        shelf_fill=None,
        sources={},
        updated_at=at,
    )


def _locked_row(session: Session, store: StoreConfig, gtin: str, at: datetime) -> Inventory:
    if gtin not in store.products:
        raise ValueError(f"GTIN {gtin} is not in the catalog of store {store.store.id}")
    begin_write(session)
    # The inventory row is the lock for its zone counts too: every writer takes it first.
    row = session.get(Inventory, (store.store.id, gtin), with_for_update=True)
    if row is None:
        row = new_inventory_row(store, gtin, at)
        session.add(row)
    return row


def _zone_rows(session: Session, store_id: str, gtin: str) -> dict[str, ZoneCount]:
    rows = session.scalars(select(ZoneCount).where(ZoneCount.store_id == store_id, ZoneCount.gtin == gtin))
    return {row.zone_id: row for row in rows}


def _recompute(row: Inventory, store: StoreConfig, zone_counts: Mapping[str, int]) -> None:
    figures = domain.derived_figures(
        zone_counts, domain.zone_areas(store), reserved=row.reserved, safety_stock=row.safety_stock
    )
    for column, value in figures.items():
        setattr(row, column, value)


def apply_movement(
    session: Session,
    store: StoreConfig,
    *,
    gtin: str,
    type: domain.MovementType,
    quantity: int,
    zone: str | None,
    source: str,
    at: datetime,
) -> Inventory:
    """Move stock of one GTIN in one zone and recompute its inventory row (not committed).

    sale: -quantity (never below 0), default zone the first salesfloor zone; receipt: +quantity,
    default the backroom; adjustment: signed delta, default the salesfloor; count: set the zone to
    quantity, default the salesfloor. Unknown GTIN or zone -> ValueError. The caller records the
    `Movement` row (it knows who asked) and publishes `inventory_view` after its commit.
    """
    if type not in domain.MOVEMENT_TYPES:
        raise ValueError(
            f"unknown movement type {type!r}; expected one of {', '.join(domain.MOVEMENT_TYPES)}"
        )
    zone_id = zone or domain.default_zone(store, type)
    if zone_id not in store.zones_by_id:
        raise ValueError(f"zone {zone_id!r} is not a zone of store {store.store.id}")
    row = _locked_row(session, store, gtin, at)
    zones = _zone_rows(session, store.store.id, gtin)
    current = zones[zone_id].count if zone_id in zones else 0
    new_count = domain.count_after_movement(type, current, quantity)
    if zone_id in zones:
        zones[zone_id].count = new_count
        zones[zone_id].source = source
        zones[zone_id].updated_at = at
    else:
        zones[zone_id] = ZoneCount(
            store_id=store.store.id, zone_id=zone_id, gtin=gtin, count=new_count, source=source, updated_at=at
        )
        session.add(zones[zone_id])
    _recompute(row, store, {z: r.count for z, r in zones.items()})
    row.sources = domain.stamp(row.sources, "on_hand", source, as_utc(at))
    row.updated_at = at
    session.flush()
    logger.debug("%s %s x%d in %s/%s -> %d", type, gtin, quantity, store.store.id, zone_id, new_count)
    return row


def apply_reservation(
    session: Session, store: StoreConfig, *, gtin: str, delta: int, source: str, at: datetime
) -> Inventory:
    """Reserve (+delta) or release (-delta) units of one GTIN for orders; reserved never goes below 0."""
    row = _locked_row(session, store, gtin, at)
    row.reserved = max(0, row.reserved + delta)
    row.available_to_promise = domain.available_to_promise(row.on_hand, row.reserved, row.safety_stock)
    row.sources = domain.stamp(row.sources, "reserved", source, as_utc(at))
    row.updated_at = at
    session.flush()
    return row
