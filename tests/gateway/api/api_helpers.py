"""Helpers for the REST API tests: store ids and GTINs, a second store file, keys, polling, seeding."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from smartstore.gateway.inventory.store import apply_movement
from smartstore.gateway.monitoring.alerts import raise_alert
from smartstore.gateway.runtime import GatewayRuntime

BERLIN = "store-berlin-01"
HAMBURG = "store-hamburg-02"
MILK = "09506000100005"  # in both stores
OAT_DRINK = "09506000100012"  # Berlin only
HAMBURG_ONLY = "09506000999999"

SECOND_STORE = f"""\
store:
  id: {HAMBURG}
  name: Smartstore Hamburg Altona
  timezone: Europe/Berlin
  location: {{lat: 53.5511, lon: 9.9937}}
  fulfilment: {{ships: true}}
catalog:
- gtin: "{MILK}"
  name: Nordvik Whole milk 1 l
  sku: DAI-00001
  safety_stock: 1
- gtin: "{HAMBURG_ONLY}"
  name: Hamburg Franzbroetchen
  sku: BAK-09999
zones:
- id: backroom
  area: backroom
- id: floor
  area: salesfloor
"""


def wait_until(condition: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


@dataclass(frozen=True)
class Keys:
    admin: str
    manager: str
    integrator: str
    kiosk: str
    hamburg_manager: str
    hamburg_integrator: str


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def stock(
    runtime: GatewayRuntime, store: str, gtin: str, *, zone: str, quantity: int, at: datetime | None = None
) -> None:
    """Set a zone count of a product the way a count movement would (through the domain)."""
    with runtime.sessions() as session:
        apply_movement(
            session,
            runtime.stores[store],
            gtin=gtin,
            type="count",
            quantity=quantity,
            zone=zone,
            source="manual",
            at=at or datetime.now(UTC),
        )
        session.commit()


def open_alert(runtime: GatewayRuntime, store: str, cause: str) -> int:
    with runtime.sessions() as session:
        alert = raise_alert(
            session,
            store_id=store,
            cause=cause,
            severity="warning",
            message=f"{cause} needs attention",
            device_id="reader-aisle-1",
            at=datetime(2025, 3, 1, 9, 0, tzinfo=UTC),
        )
        session.commit()
        return alert.id
