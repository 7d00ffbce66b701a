"""Channel allocation: holdback and shelf-aware online ATP, kept by the ingest and the inventory store,
each change of a figure recorded as one `inventory.channel_atp_changed` event in the same transaction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from gateway_helpers import MILK, STORE, Signals, signal_topic
from sqlalchemy import select

from smartstore.gateway.api.app import create_app
from smartstore.gateway.db.domain_events import CHANNEL_ATP_CHANGED
from smartstore.gateway.db.models import Inventory
from smartstore.gateway.db.orders import DomainEvent
from smartstore.gateway.db.util import begin_write, utc_now
from smartstore.gateway.ingest.decode import Inbound
from smartstore.gateway.ingest.writer import BatchWriter
from smartstore.gateway.inventory import domain
from smartstore.gateway.inventory.allocation import Holdback, OnlineRule, channel_figures, holdback_for
from smartstore.gateway.inventory.catalog import sync_stores
from smartstore.gateway.inventory.store import apply_movement, apply_reservation
from smartstore.gateway.runtime import GatewayRuntime
from smartstore.gateway.security import Role, create_api_key
from smartstore.kernel.contract import payloads as p
from smartstore.kernel.storeconfig import StoreConfig

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SHELF = "1l-1-1"  # the only planogram slot of MILK (camera cam-1l)


def _with_holdback(
    store: StoreConfig, *, percent: float = 0, units: int = 0, product: Mapping[str, Any] | None = None
) -> StoreConfig:
    """A copy of the store file with a store holdback and, optionally, MILK's own values."""
    raw = store.model_dump(mode="json")
    raw["store"]["fulfilment"].update(online_holdback_percent=percent, online_holdback_units=units)
    if product:
        for item in raw["catalog"]:
            if item["gtin"] == MILK:
                item.update(product)
    return StoreConfig.model_validate(raw)


# --- the pure rules -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("holdback", "on_hand", "held"),
    [
        (Holdback(percent=10), 10, 1),  # exactly 1.0: not rounded up to 2
        (Holdback(percent=10), 11, 2),  # 1.1 rounds up
        (Holdback(percent=10), 0, 0),
        (Holdback(percent=33.3), 3, 1),
        (Holdback(units=3), 100, 3),
        (Holdback(percent=10, units=3), 100, 10),  # the larger wins
        (Holdback(percent=10, units=3), 20, 3),
    ],
)
def test_holdback_percent_rounds_up_and_the_larger_rule_wins(
    holdback: Holdback, on_hand: int, held: int
) -> None:
    assert holdback.units_held(on_hand) == held


def test_a_product_holdback_overrides_the_store_one_field_by_field(example_store: StoreConfig) -> None:
    store = _with_holdback(example_store, percent=20, units=1, product={"online_holdback_units": 4})
    assert holdback_for(store.store, store.products[MILK]) == Holdback(percent=20, units=4)
    other = next(gtin for gtin in store.products if gtin != MILK)
    assert holdback_for(store.store, store.products[other]) == Holdback(percent=20, units=1)
    assert holdback_for(store.store, None) == Holdback(percent=20, units=1)
    zero = _with_holdback(example_store, percent=20, product={"online_holdback_percent": 0})
    assert domain.product_holdback(zero, MILK) == Holdback(percent=0, units=0)


def test_channel_figures_book_and_shelf_rule() -> None:
    book = channel_figures(
        available_to_promise=8, on_hand=10, backroom=0, shelf_state="low", holdback=Holdback(percent=25)
    )
    assert (book.walk_in, book.online, book.rule) == (8, 5, OnlineRule.BOOK)
    never_negative = channel_figures(
        available_to_promise=2, on_hand=4, backroom=0, shelf_state="ok", holdback=Holdback(units=5)
    )
    assert (never_negative.walk_in, never_negative.online) == (2, 0)
    empty = channel_figures(
        available_to_promise=8, on_hand=10, backroom=0, shelf_state="empty", holdback=Holdback()
    )
    assert (empty.walk_in, empty.online, empty.rule) == (8, 0, OnlineRule.SHELF_EMPTY)
    # Units in the backroom can still be picked: the book rule stands.
    restockable = channel_figures(
        available_to_promise=8, on_hand=10, backroom=3, shelf_state="empty", holdback=Holdback()
    )
    assert (restockable.online, restockable.rule) == (8, OnlineRule.BOOK)


# --- the ingest -----------------------------------------------------------------------------------


def _apply(runtime: GatewayRuntime, writer: BatchWriter, *payloads: p.WireModel) -> None:
    batch = [Inbound(signal_topic(payload), p.encode(payload), n, 1, 1) for n, payload in enumerate(payloads)]
    with runtime.sessions() as session:
        begin_write(session)
        result = writer.apply(session, batch, utc_now())
        session.commit()
    assert result.applied == len(payloads), result.rejected


def _row(runtime: GatewayRuntime, gtin: str = MILK) -> Inventory:
    with runtime.sessions() as session:
        row = session.get(Inventory, (STORE, gtin), populate_existing=True)
        assert row is not None
        return row


def _events(runtime: GatewayRuntime) -> Sequence[DomainEvent]:
    with runtime.sessions() as session:
        query = select(DomainEvent).where(DomainEvent.type == CHANNEL_ATP_CHANGED).order_by(DomainEvent.seq)
        return session.scalars(query).all()


def test_an_empty_shelf_with_no_backroom_stock_zeroes_online_atp_in_the_same_batch(
    runtime: GatewayRuntime, signals: Signals
) -> None:
    writer = BatchWriter(runtime.stores)
    safety = runtime.stores[STORE].products[MILK].safety_stock
    _apply(
        runtime,
        writer,
        signals.stock([("aisle-1", MILK, 6), ("backroom", MILK, 0)], ts=T0),
        signals.shelf("cam-1l", [(SHELF, MILK, "low", 0.3)], ts=T0),
    )
    row = _row(runtime)
    assert (row.available_to_promise, row.online_available_to_promise) == (6 - safety, 6 - safety)
    assert len(_events(runtime)) == 1  # one event per row and batch, whatever the batch held

    # The last slot goes empty, nothing in the backroom: online ATP drops at once, the book stays.
    _apply(
        runtime, writer, signals.shelf("cam-1l", [(SHELF, MILK, "empty", 0.0)], ts=T0 + timedelta(seconds=10))
    )
    row = _row(runtime)
    assert (row.shelf_state, row.available_to_promise, row.online_available_to_promise) == (
        "empty",
        6 - safety,
        0,
    )
    events = _events(runtime)
    assert len(events) == 2
    event = events[-1]
    assert (event.store_id, event.subject) == (STORE, MILK)
    assert event.at == row.updated_at  # when the row changed
    assert event.data == {
        "store": STORE,
        "gtin": MILK,
        "available_to_promise": 6 - safety,
        "online_available_to_promise": 0,
        "online_rule": "shelf_empty_none_in_backroom",
        "previous": {"available_to_promise": 6 - safety, "online_available_to_promise": 6 - safety},
    }

    # A re-count confirming the figures and the shelf seen empty again change nothing: no event.
    _apply(
        runtime,
        writer,
        signals.stock([("aisle-1", MILK, 6)], ts=T0 + timedelta(seconds=20)),
        signals.shelf("cam-1l", [(SHELF, MILK, "empty", 0.0)], ts=T0 + timedelta(seconds=20)),
    )
    assert len(_events(runtime)) == 2
    # Units counted in the backroom can be picked: online ATP follows the book again.
    _apply(runtime, writer, signals.stock([("backroom", MILK, 4)], ts=T0 + timedelta(seconds=30)))
    row = _row(runtime)
    assert (row.available_to_promise, row.online_available_to_promise) == (10 - safety, 10 - safety)
    assert _events(runtime)[-1].data["online_rule"] == "book"
    assert len(_events(runtime)) == 3


def test_the_ingest_applies_the_holdback(runtime: GatewayRuntime, signals: Signals) -> None:
    store = _with_holdback(runtime.stores[STORE], percent=10, units=1, product={"online_holdback_units": 3})
    writer = BatchWriter({STORE: store})
    _apply(runtime, writer, signals.stock([("aisle-1", MILK, 40)], ts=T0))
    safety = store.products[MILK].safety_stock
    row = _row(runtime)
    assert (row.available_to_promise, row.online_available_to_promise) == (40 - safety, 40 - safety - 4)


# --- movements, reservations, the API --------------------------------------------------------------


def test_movements_and_reservations_record_their_event(runtime: GatewayRuntime) -> None:
    store = runtime.stores[STORE]
    safety = store.products[MILK].safety_stock
    with runtime.sessions() as session:
        apply_movement(
            session, store, gtin=MILK, type="receipt", quantity=10, zone="aisle-2", source="pos", at=T0
        )
        session.commit()
    with runtime.sessions() as session:
        apply_reservation(session, store, gtin=MILK, delta=3, source="order", at=T0 + timedelta(minutes=1))
        session.commit()
    events = _events(runtime)
    assert [e.data["available_to_promise"] for e in events] == [10 - safety, 7 - safety]
    assert [e.data["online_available_to_promise"] for e in events] == [10 - safety, 7 - safety]
    assert events[0].data["previous"] == {"available_to_promise": 0, "online_available_to_promise": 0}
    assert events[1].data["previous"] == {
        "available_to_promise": 10 - safety,
        "online_available_to_promise": 10 - safety,
    }
    assert events[1].at == T0 + timedelta(minutes=1)
    # A movement that leaves both figures where they were writes nothing.
    with runtime.sessions() as session:
        apply_movement(
            session, store, gtin=MILK, type="count", quantity=0, zone="aisle-3", source="pos", at=T0
        )
        session.commit()
    assert len(_events(runtime)) == 2


def test_a_row_from_before_the_column_is_filled_in_by_sync_without_an_event(runtime: GatewayRuntime) -> None:
    store = runtime.stores[STORE]
    with runtime.sessions() as session:
        apply_movement(
            session, store, gtin=MILK, type="count", quantity=5, zone="aisle-1", source="pos", at=T0
        )
        session.commit()
    with runtime.sessions() as session:
        row = session.get(Inventory, (STORE, MILK))
        assert row is not None
        row.online_available_to_promise = None
        session.commit()
    before = len(_events(runtime))
    sync_stores(runtime.sessions, runtime.stores)
    row = _row(runtime)
    assert row.online_available_to_promise == row.available_to_promise
    assert len(_events(runtime)) == before


def test_the_api_answers_channels_and_the_atp_of_a_channel(runtime: GatewayRuntime, signals: Signals) -> None:
    writer = BatchWriter(runtime.stores)
    _apply(
        runtime,
        writer,
        signals.stock([("aisle-1", MILK, 6)], ts=T0),
        signals.shelf("cam-1l", [(SHELF, MILK, "empty", 0.0)], ts=T0),
    )
    safety = runtime.stores[STORE].products[MILK].safety_stock
    key = create_api_key(runtime.sessions, Role.ADMIN, "ops")
    headers = {"Authorization": f"Bearer {key}"}
    channels = {"walk_in": 6 - safety, "online": 0, "online_rule": "shelf_empty_none_in_backroom"}
    with TestClient(create_app(runtime)) as client:
        one = client.get(f"/api/v1/stores/{STORE}/inventory/{MILK}", headers=headers).json()
        assert one["channels"] == channels
        listed = client.get(f"/api/v1/stores/{STORE}/inventory", headers=headers).json()
        assert next(item for item in listed["items"] if item["gtin"] == MILK)["channels"] == channels
        plain = client.get(f"/api/v1/products/{MILK}/availability", headers=headers).json()
        assert plain["channel"] is None
        assert plain["stores"][0]["channels"] == channels
        assert plain["stores"][0]["available_to_promise_for_channel"] is None
        for channel, expected in (("web", 0), ("store_associate", 0), ("walk_in", 6 - safety)):
            answer = client.get(
                f"/api/v1/products/{MILK}/availability", params={"channel": channel}, headers=headers
            ).json()
            assert answer["channel"] == channel
            assert answer["stores"][0]["available_to_promise_for_channel"] == expected
            assert answer["stores"][0]["available_to_promise"] == 6 - safety
        refused = client.get(
            f"/api/v1/products/{MILK}/availability", params={"channel": "fax"}, headers=headers
        )
        assert refused.status_code == 422
