"""Placing orders over a store and a distribution centre, on SQLite and PostgreSQL: where each way of
fulfilling may be sourced, the shelf-aware online figure, holdback, and one event per change."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from smartstore.gateway.config import GatewaySettings
from smartstore.gateway.db.models import Inventory
from smartstore.gateway.db.orders import CustomerOrder, DomainEvent
from smartstore.gateway.inventory.allocation import Channel
from smartstore.gateway.inventory.catalog import sync_stores
from smartstore.gateway.inventory.store import apply_movement
from smartstore.gateway.lockers.lifecycle import OrderError
from smartstore.gateway.lockers.states import FulfilmentType
from smartstore.gateway.orders.placement import OrderRequest, place_order
from smartstore.gateway.runtime import GatewayRuntime
from smartstore.kernel.storeconfig import EXAMPLE_STORE

STORE = "store-berlin-01"
DC = "dc-brandenburg"
RICE = "09506000100098"  # untagged, safety stock 0, in both catalogs
NEAR = (52.5300, 13.4100)
AT = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)
F = FulfilmentType

DC_FILE = f"""\
store:
  id: {DC}
  name: Distribution centre Brandenburg
  timezone: Europe/Berlin
  kind: distribution_centre
  location: {{lat: 52.40, lon: 13.05}}
catalog:
- gtin: "{RICE}"
  name: Basmati rice 1 kg
  sku: DRY-00010
zones:
- id: racks
  area: backroom
"""


@pytest.fixture
def chain(db_url: str, tmp_path: Path) -> Iterator[GatewayRuntime]:
    dc_path = tmp_path / "dc.yaml"
    dc_path.write_text(DC_FILE, encoding="utf-8")
    runtime = GatewayRuntime.build(GatewaySettings(db_url=db_url, stores=[EXAMPLE_STORE, dc_path]))
    sync_stores(runtime.sessions, runtime.stores)
    yield runtime
    runtime.engine.dispose()


def count(runtime: GatewayRuntime, store: str, zone: str, quantity: int) -> None:
    with runtime.sessions() as session:
        apply_movement(
            session,
            runtime.stores[store],
            gtin=RICE,
            type="count",
            quantity=quantity,
            zone=zone,
            source="manual",
            at=AT,
        )
        session.commit()


def place(runtime: GatewayRuntime, fulfilment: FulfilmentType, quantity: int = 1, **kw: object) -> list[str]:
    request = OrderRequest(channel=Channel.WEB, fulfilment=fulfilment, lines=[(RICE, quantity)], **kw)  # type: ignore[arg-type]
    with runtime.sessions() as session:
        placement = place_order(session, runtime.stores, request, by="test", at=AT)
        session.commit()
        return [f.store_id for f in placement.fulfilments]


def test_a_distribution_centre_ships_but_never_hands_over_in_person(chain: GatewayRuntime) -> None:
    count(chain, DC, "racks", 50)
    assert place(chain, F.SHIP, destination=NEAR) == [DC]
    for fulfilment in (F.COUNTER_PICKUP, F.DELIVERY):
        with pytest.raises(OrderError) as refused:
            place(chain, fulfilment, destination=NEAR)
        assert refused.value.code == "no_source"
        reasons = dict((r["store"], r["reason"]) for r in refused.value.details[0]["rejected"])  # type: ignore[index]
        assert reasons[DC] == "a distribution centre only ships"


def test_an_empty_shelf_with_nothing_in_the_backroom_promises_nothing_online(chain: GatewayRuntime) -> None:
    count(chain, STORE, "aisle-1", 6)  # the book says 6 on the salesfloor
    count(chain, DC, "racks", 50)
    with chain.sessions() as session:
        row = session.get(Inventory, (STORE, RICE))
        assert row is not None
        row.shelf_state = "empty"  # what the camera says
        session.commit()
    assert place(chain, F.SHIP, destination=NEAR) == [DC]  # the store is nearer, but cannot be picked
    with pytest.raises(OrderError) as refused:
        place(chain, F.COUNTER_PICKUP, store=STORE)
    assert refused.value.code == "insufficient_stock"
    assert refused.value.details[0]["available_to_promise"] == 0  # type: ignore[index]
    count(chain, STORE, "backroom", 2)  # found two in the backroom: online may promise again
    assert place(chain, F.SHIP, destination=NEAR) == [STORE]


def test_nothing_is_kept_when_an_order_cannot_be_placed(chain: GatewayRuntime) -> None:
    count(chain, STORE, "aisle-1", 1)
    with pytest.raises(OrderError):
        place(chain, F.DELIVERY, quantity=5, destination=NEAR)
    with chain.sessions() as session:
        assert session.scalar(select(func.count()).select_from(CustomerOrder)) == 0
        row = session.get(Inventory, (STORE, RICE))
        assert row is not None
        assert row.reserved == 0
    [store] = place(chain, F.DELIVERY, destination=NEAR)
    with chain.sessions() as session:
        types = session.scalars(select(DomainEvent.type).where(DomainEvent.type.like("order.%"))).all()
    assert store == STORE
    assert sorted(types) == ["order.created", "order.state_changed", "order.state_changed"]
