"""Inventory reads: a store's list (filter, sort, page), one product in detail, one product in every store."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from sqlalchemy import ColumnElement, and_, exists, func, or_, select
from sqlalchemy.orm import Session

from smartstore.gateway.api.deps import (
    DB_INT_MAX,
    InventoryReader,
    Offset,
    RuntimeDep,
    SessionDep,
    StoreInventoryReader,
)
from smartstore.gateway.api.errors import ApiError
from smartstore.gateway.api.schemas import (
    MAX_PAGE,
    ChannelAtp,
    InventoryDetail,
    InventoryPublic,
    Page,
    ProductAvailability,
    SalesChannel,
    SlotPublic,
    StoreAvailability,
    ZoneStock,
)
from smartstore.gateway.db.models import Inventory, Product, SlotState, ZoneCount
from smartstore.gateway.inventory.store import inventory_view
from smartstore.kernel.contract.gtin import to_gtin14
from smartstore.kernel.contract.payloads import ShelfState
from smartstore.kernel.storeconfig import Area, StoreConfig

router = APIRouter(tags=["inventory"])

SortKey = Literal["gtin", "name", "on_hand", "available_to_promise", "shelf_fill", "updated_at"]
_SORT_COLUMNS: dict[str, Any] = {
    "gtin": Inventory.gtin,
    "name": Product.name,
    "on_hand": Inventory.on_hand,
    "available_to_promise": Inventory.available_to_promise,
    "shelf_fill": Inventory.shelf_fill,
    "updated_at": Inventory.updated_at,
}
_PRODUCT_JOIN = and_(Product.store_id == Inventory.store_id, Product.gtin == Inventory.gtin)


def to_inventory_public(row: Inventory, store: StoreConfig | None = None) -> InventoryPublic:
    # The same view the bus publishes, so API answers and live events never disagree.
    return InventoryPublic.model_validate(inventory_view(row, store))


def path_gtin(gtin: str) -> str:
    try:
        return to_gtin14(gtin)
    except ValueError as error:
        raise ApiError(422, "invalid_gtin", str(error)) from None


def _filters(
    scope_store: str,
    zones_of_area: list[str] | None,
    state: list[ShelfState] | None,
    q: str | None,
    min_atp: int | None,
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [Inventory.store_id == scope_store]
    if state:
        conditions.append(Inventory.shelf_state.in_([s.value for s in state]))
    if q:
        needle = q.strip().lower()
        conditions.append(
            or_(
                func.lower(Product.name).contains(needle, autoescape=True),
                func.lower(Product.sku).contains(needle, autoescape=True),
                Inventory.gtin.contains(needle, autoescape=True),
            )
        )
    if zones_of_area is not None:
        conditions.append(
            exists().where(
                ZoneCount.store_id == Inventory.store_id,
                ZoneCount.gtin == Inventory.gtin,
                ZoneCount.zone_id.in_(zones_of_area),
                ZoneCount.count > 0,
            )
        )
    if min_atp is not None:
        conditions.append(Inventory.available_to_promise >= min_atp)
    return conditions


@router.get(
    "/stores/{store}/inventory",
    response_model=Page[InventoryPublic],
    summary="A store's inventory, filtered, sorted and paged",
)
def list_inventory(
    scope: StoreInventoryReader,
    session: SessionDep,
    state: Annotated[list[ShelfState] | None, Query(description="Shelf states to keep (repeatable).")] = None,
    q: Annotated[str | None, Query(max_length=100, description="Search in name, SKU and GTIN.")] = None,
    zone_area: Annotated[
        Area | None, Query(description="Only products counted in a zone of this area.")
    ] = None,
    min_atp: Annotated[
        int | None, Query(ge=0, le=DB_INT_MAX, description="Minimum available-to-promise.")
    ] = None,
    sort: SortKey = "gtin",
    order: Literal["asc", "desc"] = "asc",
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    offset: Offset = 0,
) -> Page[InventoryPublic]:
    zones = [zone.id for zone in scope.store.zones_in(zone_area)] if zone_area else None
    conditions = _filters(scope.store_id, zones, state, q, min_atp)
    base = select(Inventory.gtin).outerjoin(Product, _PRODUCT_JOIN).where(*conditions)
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    column = _SORT_COLUMNS[sort]
    ordering = column.asc().nulls_last() if order == "asc" else column.desc().nulls_last()
    query = (
        select(Inventory)
        .outerjoin(Product, _PRODUCT_JOIN)
        .where(*conditions)
        .order_by(ordering, Inventory.gtin)  # the GTIN tie-break keeps pages stable
        .limit(limit)
        .offset(offset)
    )
    items = [to_inventory_public(row, scope.store) for row in session.scalars(query).unique()]
    return Page[InventoryPublic](items=items, total=total, limit=limit, offset=offset)


def _inventory_row(session: Session, store_id: str, gtin: str) -> Inventory:
    row = session.get(Inventory, (store_id, gtin))
    if row is None:
        raise ApiError(404, "unknown_product", f"no inventory for GTIN {gtin} in store {store_id!r}")
    return row


@router.get(
    "/stores/{store}/inventory/{gtin}",
    response_model=InventoryDetail,
    summary="One product in a store, with counts per zone and its planogram slots",
)
def get_inventory(scope: StoreInventoryReader, session: SessionDep, gtin: str) -> InventoryDetail:
    gtin14 = path_gtin(gtin)
    row = _inventory_row(session, scope.store_id, gtin14)
    zone_rows = session.scalars(
        select(ZoneCount)
        .where(ZoneCount.store_id == scope.store_id, ZoneCount.gtin == gtin14)
        .order_by(ZoneCount.zone_id)
    ).all()
    slot_rows = session.scalars(
        select(SlotState)
        .where(SlotState.store_id == scope.store_id, SlotState.gtin == gtin14)
        .order_by(SlotState.slot_id)
    ).all()
    zones_by_id = scope.store.zones_by_id
    slots = scope.store.slots
    return InventoryDetail(
        **to_inventory_public(row, scope.store).model_dump(),
        zones=[
            ZoneStock(
                zone=z.zone_id,
                area=zones_by_id[z.zone_id].area.value if z.zone_id in zones_by_id else None,
                count=z.count,
                source=z.source,
                updated_at=z.updated_at,
            )
            for z in zone_rows
        ],
        slots=[
            SlotPublic(
                slot=s.slot_id,
                shelf=slots[s.slot_id][0].id if s.slot_id in slots else None,
                camera=s.camera_id,
                state=ShelfState(s.state),
                fill=s.fill,
                confidence=s.confidence,
                stale=s.stale,
                since=s.since,
                updated_at=s.updated_at,
            )
            for s in slot_rows
        ],
    )


@router.get(
    "/products/{gtin}/availability",
    response_model=ProductAvailability,
    summary="One product in every store (pick up in store)",
)
def product_availability(
    principal: InventoryReader,
    runtime: RuntimeDep,
    session: SessionDep,
    gtin: str,
    channel: Annotated[
        SalesChannel | None,
        Query(description="Also answer `available_to_promise_for_channel` for this sales channel."),
    ] = None,
) -> ProductAvailability:
    gtin14 = path_gtin(gtin)
    visible = sorted(store_id for store_id in runtime.stores if principal.can_access(store_id))
    rows = session.scalars(
        select(Inventory)
        .where(Inventory.gtin == gtin14, Inventory.store_id.in_(visible))
        .order_by(Inventory.store_id)
    ).unique()
    stores: list[StoreAvailability] = []
    name: str | None = None
    for row in rows:
        name = name or (row.product.name if row.product else None)
        store = runtime.stores[row.store_id]
        channels = ChannelAtp.model_validate(inventory_view(row, store)["channels"])
        for_channel = None
        if channel is not None:
            for_channel = channels.walk_in if channel == "walk_in" else channels.online
        stores.append(
            StoreAvailability(
                store=row.store_id,
                store_name=store.store.name,
                on_hand=row.on_hand,
                available_to_promise=row.available_to_promise,
                channels=channels,
                available_to_promise_for_channel=for_channel,
                shelf_state=ShelfState(row.shelf_state),
                updated_at=row.updated_at,
            )
        )
    if not stores:
        raise ApiError(404, "unknown_product", f"no store of this gateway carries GTIN {gtin14}")
    return ProductAvailability(gtin=gtin14, name=name, channel=channel, stores=stores)
