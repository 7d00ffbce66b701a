"""The inventory domain applied to the database: movements, reservations and the published row view."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypedDict

from sqlalchemy import select
from sqlalchemy.orm import Session

from smartstore.gateway.db import domain_events as events
from smartstore.gateway.db.models import Inventory, ZoneCount
from smartstore.gateway.db.util import as_utc, begin_write
from smartstore.gateway.inventory import domain
from smartstore.gateway.inventory.allocation import ChannelFigures, Holdback
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
    "online_available_to_promise",
    "shelf_state",
    "shelf_fill",
    "sources",
    "updated_at",
)


class ChannelsView(TypedDict):
    """ATP per channel group: walk-in customers, and every channel that orders ahead (online)."""

    walk_in: int
    online: int
    online_rule: str  # "book" or "shelf_empty_none_in_backroom" (gateway.inventory.allocation.OnlineRule)


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
    channels: ChannelsView
    shelf_state: str
    shelf_fill: float | None
    sources: dict[str, Any]
    updated_at: str


def view_from_values(
    values: Mapping[str, Any],
    name: str | None,
    sku: str | None,
    holdback: Holdback | None = None,
    channels: ChannelFigures | None = None,
) -> InventoryView:
    """The view of one inventory row from its column values (the ingest works on plain rows).

    `channels`: the row's channel figures where the caller has just computed them; otherwise they
    are read from the row, and `holdback` is needed only while its online ATP is NULL (not computed
    yet; without it the fallback assumes none).
    """
    if channels is None:
        channels = domain.published_channels(values, holdback)
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
        "channels": {
            "walk_in": channels.walk_in,
            "online": channels.online,
            "online_rule": channels.rule.value,
        },
        "shelf_state": values["shelf_state"],
        "shelf_fill": values["shelf_fill"],
        "sources": dict(values["sources"] or {}),
        "updated_at": as_utc(values["updated_at"]).isoformat(),
    }


def _values(row: Inventory) -> dict[str, Any]:
    return {column: getattr(row, column) for column in _VIEW_COLUMNS}


def inventory_view(row: Inventory, store: StoreConfig | None = None) -> InventoryView:
    """The view of one store x GTIN, published on the bus and returned by the API (`store` gives the
    name, SKU and holdback without asking the database)."""
    holdback = domain.product_holdback(store, row.gtin) if store is not None else None
    known = store.products.get(row.gtin) if store is not None else None
    # The store file is the catalog's source: with it, no query for the product row.
    product = known or row.product
    name, sku = (product.name, product.sku) if product else (None, None)
    return view_from_values(_values(row), name, sku, holdback)


def new_row_values(store: StoreConfig, gtin: str, at: datetime) -> dict[str, Any]:
    """The columns of a store x GTIN nothing has counted yet."""
    values: dict[str, Any] = {
        "store_id": store.store.id,
        "gtin": gtin,
        "salesfloor": 0,
        "backroom": 0,
        "on_hand": 0,
        "reserved": 0,
        "safety_stock": store.products[gtin].safety_stock,
        "available_to_promise": 0,
        "shelf_state": ShelfState.UNKNOWN.value,
        "shelf_fill": None,
        "sources": {},
        "updated_at": at,
    }
    figures = domain.channel_atp(values, domain.product_holdback(store, gtin))
    values["online_available_to_promise"] = figures.online
    return values


def new_inventory_row(store: StoreConfig, gtin: str, at: datetime) -> Inventory:
    return Inventory(**new_row_values(store, gtin, at))


def atp_figures(row: Inventory) -> tuple[int | None, int | None]:
    """The row's (available_to_promise, online_available_to_promise), to compare after a change."""
    return (row.available_to_promise, row.online_available_to_promise)


def channel_figures_of(row: Inventory, store: StoreConfig) -> ChannelFigures:
    """The row's walk-in and online ATP as its current figures give them."""
    return domain.channel_atp(_values(row), domain.product_holdback(store, row.gtin))


def refresh_channels(
    session: Session,
    row: Inventory,
    store: StoreConfig,
    previous: tuple[int | None, int | None],
    at: datetime,
) -> None:
    """Recompute the row's online ATP and, if either ATP figure moved from `previous`, record an
    `inventory.channel_atp_changed` event in the session's transaction."""
    figures = channel_figures_of(row, store)
    row.online_available_to_promise = figures.online
    if (figures.walk_in, figures.online) == previous:
        return
    data = domain.atp_event_data(row.store_id, row.gtin, figures, previous)
    events.record(session, events.CHANNEL_ATP_CHANGED, store=row.store_id, subject=row.gtin, data=data, at=at)


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
    previous = atp_figures(row)
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
    refresh_channels(session, row, store, previous, at)
    row.sources = domain.stamp(row.sources, "on_hand", source, as_utc(at))
    row.updated_at = at
    session.flush()
    logger.debug("%s %s x%d in %s/%s -> %d", type, gtin, quantity, store.store.id, zone_id, new_count)
    return row


def apply_reservation(
    session: Session, store: StoreConfig, *, gtin: str, delta: int, source: str, at: datetime
) -> Inventory:
    """Reserve (+delta) or release (-delta) units of one GTIN for orders; reserved never goes below 0."""
    row = reserve_locked(
        session, _locked_row(session, store, gtin, at), store, delta=delta, source=source, at=at
    )
    session.flush()
    return row


def reserve_locked(
    session: Session, row: Inventory, store: StoreConfig, *, delta: int, source: str, at: datetime
) -> Inventory:
    """`apply_reservation` on a row the caller has locked already (FOR UPDATE, or SQLite's write lock);
    not flushed: the caller flushes once for all its rows."""
    previous = atp_figures(row)
    row.reserved = max(0, row.reserved + delta)
    row.available_to_promise = domain.available_to_promise(row.on_hand, row.reserved, row.safety_stock)
    refresh_channels(session, row, store, previous, at)
    row.sources = domain.stamp(row.sources, "reserved", source, as_utc(at))
    row.updated_at = at
    return row
