"""Unified inventory: the pure domain table by table, then movements, reservations and sync on databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from gateway_helpers import MILK, RICE, STORE
from sqlalchemy import func, select

from smartstore.gateway.db.models import Inventory, Product, Store, ZoneCount
from smartstore.gateway.inventory import domain
from smartstore.gateway.inventory.catalog import sync_stores
from smartstore.gateway.inventory.store import apply_movement, apply_reservation, inventory_view
from smartstore.gateway.runtime import GatewayRuntime
from smartstore.kernel.contract.payloads import ShelfState
from smartstore.kernel.storeconfig import Area

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
AREAS = {
    "back": Area.BACKROOM,
    "a1": Area.SALESFLOOR,
    "a2": Area.SALESFLOOR,
    "exit": Area.EXIT,
    "lock": Area.LOCKER,
}


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ({}, (0, 0, 0, 0)),
        ({"back": 5}, (0, 5, 0, 5)),
        ({"a1": 2, "a2": 3}, (5, 0, 0, 5)),
        ({"back": 1, "a1": 2, "lock": 3}, (2, 1, 3, 6)),
        ({"exit": 9, "a1": 1}, (1, 0, 0, 1)),  # leaving the store: not on hand
        ({"nowhere": 4, "a1": 1}, (1, 0, 0, 1)),  # a zone the store file lost is ignored
    ],
)
def test_stock_figures(counts: dict[str, int], expected: tuple[int, int, int, int]) -> None:
    figures = domain.stock_figures(counts, AREAS)
    assert (figures.salesfloor, figures.backroom, figures.locker, figures.on_hand) == expected


@pytest.mark.parametrize(
    ("on_hand", "reserved", "safety", "atp"),
    [(10, 0, 0, 10), (10, 3, 2, 5), (5, 5, 0, 0), (3, 1, 5, 0), (0, 4, 0, 0)],
)
def test_available_to_promise(on_hand: int, reserved: int, safety: int, atp: int) -> None:
    assert domain.available_to_promise(on_hand, reserved, safety) == atp


def test_derived_figures_combine_stock_and_reservations() -> None:
    figures = domain.derived_figures({"back": 4, "a1": 3, "lock": 1}, AREAS, reserved=2, safety_stock=1)
    assert figures == {"salesfloor": 3, "backroom": 4, "on_hand": 8, "available_to_promise": 5}


R = domain.SlotReading
OK, LOW, EMPTY, UNKNOWN = ShelfState.OK, ShelfState.LOW, ShelfState.EMPTY, ShelfState.UNKNOWN


@pytest.mark.parametrize(
    ("readings", "state", "fill"),
    [
        ([], UNKNOWN, None),
        ([None, None], UNKNOWN, None),
        ([R(OK, 0.9)], OK, 0.9),
        ([R(OK, 0.9), R(OK, 0.7)], OK, 0.8),
        ([R(OK, 0.9), R(LOW, 0.3)], LOW, 0.6),
        ([R(OK, 0.9), R(EMPTY, 0.0)], LOW, 0.45),  # one empty slot of two: the product is low
        ([R(EMPTY, 0.0), R(EMPTY, 0.1)], EMPTY, 0.05),
        ([R(EMPTY, 0.0), None], EMPTY, 0.0),  # an unobserved slot tells nothing
        ([R(EMPTY, 0.0, stale=True)], UNKNOWN, None),  # occluded: last known state is not trusted
        ([R(UNKNOWN, 0.5), R(LOW, 0.2, stale=True)], UNKNOWN, None),
        ([R(OK, 1.0), R(EMPTY, 0.0, stale=True)], OK, 1.0),
    ],
)
def test_shelf_summary_worst_first(
    readings: list[domain.SlotReading | None], state: ShelfState, fill: float | None
) -> None:
    summary = domain.shelf_summary(readings)
    assert summary.state is state
    assert summary.fill == (pytest.approx(fill) if fill is not None else None)


@pytest.mark.parametrize(
    ("movement", "current", "quantity", "expected"),
    [
        ("sale", 5, 2, 3),
        ("sale", 1, 4, 0),  # never below zero
        ("receipt", 5, 10, 15),
        ("adjustment", 5, -2, 3),
        ("adjustment", 1, -3, 0),
        ("adjustment", 1, 3, 4),
        ("count", 5, 12, 12),
        ("count", 5, 0, 0),
    ],
)
def test_count_after_movement(
    movement: domain.MovementType, current: int, quantity: int, expected: int
) -> None:
    assert domain.count_after_movement(movement, current, quantity) == expected


@pytest.mark.parametrize(
    ("movement", "quantity"), [("sale", -1), ("receipt", -1), ("count", -1), ("move", 1)]
)
def test_count_after_movement_refuses_nonsense(movement: domain.MovementType, quantity: int) -> None:
    with pytest.raises(ValueError, match=r"negative|unknown movement"):
        domain.count_after_movement(movement, 3, quantity)


@pytest.mark.parametrize(
    ("counts", "quantity", "taken"),
    [
        ({"lock": 2, "a1": 5}, 1, {"lock": 1}),
        ({"lock": 2, "a1": 5}, 4, {"lock": 0, "a1": 3}),
        ({"a1": 1}, 3, {"a1": 0}),  # nothing more to take anywhere: counts stay at zero
        ({}, 2, {}),
    ],
)
def test_take_units_in_zone_order(counts: dict[str, int], quantity: int, taken: dict[str, int]) -> None:
    assert domain.take_units(counts, ["lock", "a1", "a2"], quantity) == taken


def test_snapshot_zeroes_only_unlisted_pairs_of_covered_zones() -> None:
    known = [("a1", "g1"), ("a1", "g2"), ("a2", "g1"), ("back", "g3")]
    assert domain.snapshot_zeroes([("a1", "g1")], ["a1", "a2"], known) == {("a1", "g2"), ("a2", "g1")}


def test_slot_since_keeps_the_instant_of_the_state_change() -> None:
    assert domain.slot_since(None, None, "ok", T0) == T0
    assert domain.slot_since("ok", T0, "ok", T0 + timedelta(minutes=5)) == T0
    assert domain.slot_since("ok", T0, "low", T0 + timedelta(minutes=5)) == T0 + timedelta(minutes=5)


def test_stamp_returns_a_new_mapping() -> None:
    before = {"reserved": {"source": "pickup", "at": "x"}}
    after = domain.stamp(before, "on_hand", "rfid", T0)
    assert after == {**before, "on_hand": {"source": "rfid", "at": T0.isoformat()}}
    assert before == {"reserved": {"source": "pickup", "at": "x"}}


# --- on a real database ------------------------------------------------------------------------


def _row(runtime: GatewayRuntime, gtin: str) -> Inventory:
    with runtime.sessions() as session:
        row = session.get(Inventory, (STORE, gtin))
        assert row is not None
        return row


def _move(
    runtime: GatewayRuntime,
    gtin: str,
    type_: domain.MovementType,
    quantity: int,
    zone: str | None = None,
    source: str = "pos",
) -> Inventory:
    with runtime.sessions() as session:
        row = apply_movement(
            session,
            runtime.stores[STORE],
            gtin=gtin,
            type=type_,
            quantity=quantity,
            zone=zone,
            source=source,
            at=T0,
        )
        session.commit()
        return row


def test_sync_creates_one_row_per_product_and_keeps_live_figures(runtime: GatewayRuntime) -> None:
    store = runtime.stores[STORE]
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Inventory)) == len(store.catalog)
        assert session.scalar(select(func.count()).select_from(Product)) == len(store.catalog)
        assert session.get(Store, STORE) is not None
    fresh = _row(runtime, MILK)
    assert (fresh.on_hand, fresh.shelf_state, fresh.safety_stock) == (
        0,
        "unknown",
        store.products[MILK].safety_stock,
    )

    _move(runtime, MILK, "receipt", 12)
    sync_stores(runtime.sessions, runtime.stores)  # a restart
    assert _row(runtime, MILK).on_hand == 12

    changed = store.model_copy(
        update={
            "catalog": [
                pr.model_copy(update={"safety_stock": 5}) if pr.gtin == MILK else pr for pr in store.catalog
            ]
        }
    )
    sync_stores(runtime.sessions, {STORE: changed})
    row = _row(runtime, MILK)
    assert (row.on_hand, row.safety_stock, row.available_to_promise) == (12, 5, 7)


def test_movements_update_zones_and_figures(runtime: GatewayRuntime) -> None:
    row = _move(runtime, MILK, "receipt", 10)  # default: backroom
    assert (row.backroom, row.salesfloor, row.on_hand) == (10, 0, 10)
    row = _move(runtime, MILK, "count", 6, zone="aisle-1")
    assert (row.backroom, row.salesfloor, row.on_hand) == (10, 6, 16)
    row = _move(runtime, MILK, "sale", 2)  # default: first salesfloor zone
    assert (row.salesfloor, row.on_hand) == (4, 14)
    row = _move(runtime, MILK, "sale", 50)
    assert (row.salesfloor, row.on_hand) == (0, 10)
    row = _move(runtime, MILK, "adjustment", -3, zone="backroom", source="manual")
    assert (row.backroom, row.on_hand) == (7, 7)
    row = _move(runtime, MILK, "count", 4, zone="exit")  # leaving the store: not on hand
    assert row.on_hand == 7
    safety = runtime.stores[STORE].products[MILK].safety_stock
    assert row.available_to_promise == 7 - safety
    assert row.sources["on_hand"] == {"source": "pos", "at": T0.isoformat()}
    with runtime.sessions() as session:
        zones = {z.zone_id: z.count for z in session.scalars(select(ZoneCount).where(ZoneCount.gtin == MILK))}
    assert zones == {"backroom": 7, "aisle-1": 0, "exit": 4}


@pytest.mark.parametrize(
    ("gtin", "zone", "message"),
    [
        ("09506000999999", None, "not in the catalog"),
        (MILK, "attic", "not a zone"),
    ],
)
def test_movement_to_unknown_reference_is_refused(
    runtime: GatewayRuntime, gtin: str, zone: str | None, message: str
) -> None:
    with runtime.sessions() as session, pytest.raises(ValueError, match=message):
        apply_movement(
            session, runtime.stores[STORE], gtin=gtin, type="sale", quantity=1, zone=zone, source="pos", at=T0
        )


def test_reservations_lower_available_to_promise(runtime: GatewayRuntime) -> None:
    _move(runtime, RICE, "count", 10, zone="aisle-1")
    with runtime.sessions() as session:
        row = apply_reservation(session, runtime.stores[STORE], gtin=RICE, delta=4, source="pickup", at=T0)
        session.commit()
    assert (row.on_hand, row.reserved, row.available_to_promise) == (10, 4, 6)
    with runtime.sessions() as session:
        row = apply_reservation(session, runtime.stores[STORE], gtin=RICE, delta=-9, source="pickup", at=T0)
        session.commit()
    assert row.reserved == 0
    assert row.sources["reserved"]["source"] == "pickup"


def test_inventory_view_shape(runtime: GatewayRuntime) -> None:
    _move(runtime, MILK, "count", 3, zone="aisle-2")
    view = inventory_view(_row(runtime, MILK))
    product = runtime.stores[STORE].products[MILK]
    assert view == {
        "store": STORE,
        "gtin": MILK,
        "name": product.name,
        "sku": product.sku,
        "on_hand": 3,
        "salesfloor": 3,
        "backroom": 0,
        "reserved": 0,
        "safety_stock": product.safety_stock,
        "available_to_promise": max(0, 3 - product.safety_stock),
        "channels": {
            "walk_in": max(0, 3 - product.safety_stock),
            "online": max(0, 3 - product.safety_stock),
            "online_rule": "book",
        },
        "shelf_state": "unknown",
        "shelf_fill": None,
        "sources": {"on_hand": {"source": "pos", "at": T0.isoformat()}},
        "updated_at": T0.isoformat(),
    }
