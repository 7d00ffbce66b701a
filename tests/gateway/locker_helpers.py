"""Helpers for the locker tests: stock seeding, order creation, loading and readying through the stores."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from smartstore.gateway.db.models import Inventory
from smartstore.gateway.inventory.store import apply_movement
from smartstore.gateway.lockers.compartments import Loading, apply_locker_event, load_order
from smartstore.gateway.lockers.order_store import create_order
from smartstore.gateway.runtime import GatewayRuntime
from smartstore.kernel.contract import payloads as p

STORE = "store-berlin-01"
LOCKER = "locker-1"
MILK = "09506000100005"  # RFID-tagged, safety stock 2, size S
RICE = "09506000100098"  # not tagged, safety stock 0, size S
SECRET = b"test-pickup-code-lookup-secret-0123456789"


def now() -> datetime:
    return datetime.now(UTC)


def stock(runtime: GatewayRuntime, gtin: str, quantity: int, zone: str = "aisle-1") -> None:
    with runtime.sessions() as session:
        store = runtime.stores[STORE]
        apply_movement(
            session, store, gtin=gtin, type="count", quantity=quantity, zone=zone, source="manual", at=now()
        )
        session.commit()


def figures(runtime: GatewayRuntime, gtin: str) -> dict[str, int]:
    with runtime.sessions() as session:
        row = session.get(Inventory, (STORE, gtin))
        assert row is not None
        return {"on_hand": row.on_hand, "reserved": row.reserved, "atp": row.available_to_promise}


def create(runtime: GatewayRuntime, lines: list[tuple[str, int]]) -> str:
    with runtime.sessions() as session:
        outcome = create_order(session, runtime.stores[STORE], lines, by="test", at=now())
        session.commit()
        assert outcome.order is not None
        return outcome.order.id


def load(runtime: GatewayRuntime, order: str) -> Loading:
    with runtime.sessions() as session:
        loading = load_order(session, runtime.stores[STORE], order, by="associate", at=now(), secret=SECRET)
        session.commit()
        return loading


def door_event(
    runtime: GatewayRuntime, compartment: str, event: p.LockerEventType, occupied: bool | None = None
) -> Any:
    payload = p.LockerEvent(**p.envelope(1), compartment=compartment, event=event, occupied=occupied)
    with runtime.sessions() as session:
        outcome = apply_locker_event(session, runtime.stores[STORE], LOCKER, payload, now())
        session.commit()
        return outcome


def ready(runtime: GatewayRuntime, order: str) -> Loading:
    """Load the order and close its door with the goods inside, as the locker would report it."""
    loading = load(runtime, order)
    door_event(runtime, loading.compartment, p.LockerEventType.DOOR_OPENED, occupied=False)
    door_event(runtime, loading.compartment, p.LockerEventType.DOOR_CLOSED, occupied=True)
    return loading
