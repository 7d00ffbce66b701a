"""Store-side fulfilment: stage with a code, hand over at the counter (throttled, stock taken once),
a courier at the counter or a locker, shipping, delivered (idempotent), roles."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from api_helpers import BERLIN, Keys, auth, stock, wait_until
from fastapi.testclient import TestClient
from locker_helpers import FakeLockerBank, running_locker_link
from sqlalchemy import select, update

from smartstore.gateway.db.lockers import CodeLockout, PickupOrder
from smartstore.gateway.db.models import Inventory, ZoneCount
from smartstore.gateway.db.orders import DomainEvent
from smartstore.gateway.lockers.lifecycle import expire_due, mark_picked_up
from smartstore.gateway.lockers.link import LockerLink
from smartstore.gateway.runtime import GatewayRuntime
from smartstore.kernel import pickup_codes

ORDERS = "/api/v1/orders"
STORE_ORDERS = f"/api/v1/stores/{BERLIN}/orders"
RICE = "09506000100098"  # untagged: taken from the zones at the handover
MILK = "09506000100005"  # RFID-tagged: the exit reader counts it out
NEAR_BERLIN_STORE = {"lat": 52.5300, "lon": 13.4100}
SECRET = b"api-test-fulfilment-lookup-secret"


def place(client: TestClient, key: str, body: dict[str, Any]) -> dict[str, Any]:
    headers = auth(key) | {"Idempotency-Key": str(uuid.uuid4())}
    response = client.post(ORDERS, json=body, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def fulfilment_of(
    client: TestClient, keys: Keys, kind: str, lines: list[tuple[str, int]], **extra: Any
) -> tuple[str, str]:
    """(customer order, its one fulfilment) placed at Berlin."""
    body = {
        "channel": "web",
        "fulfilment": kind,
        "store": BERLIN,
        "lines": [{"gtin": g, "quantity": q} for g, q in lines],
        **extra,
    }
    order = place(client, keys.integrator, body)
    [fulfilment] = order["fulfilments"]
    return order["id"], fulfilment["id"]


def step(client: TestClient, key: str, order: str, action: str, body: Any = None) -> httpx.Response:
    return client.post(f"{STORE_ORDERS}/{order}/{action}", json=body, headers=auth(key))


def deliver(client: TestClient, key: str, customer_order: str, fulfilment: str) -> httpx.Response:
    return client.post(f"{ORDERS}/{customer_order}/fulfilments/{fulfilment}/delivered", headers=auth(key))


def other(code: str) -> str:
    return f"{(int(code) + 1) % 10 ** len(code):0{len(code)}d}"


def figures(runtime: GatewayRuntime, gtin: str) -> tuple[int, dict[str, int]]:
    """(reserved, zone counts) of a Berlin product."""
    with runtime.sessions() as session:
        row = session.get(Inventory, (BERLIN, gtin))
        zones = session.scalars(select(ZoneCount).where(ZoneCount.store_id == BERLIN, ZoneCount.gtin == gtin))
        return (row.reserved if row else 0), {z.zone_id: z.count for z in zones if z.count}


def history(client: TestClient, key: str, order: str) -> list[tuple[str, str]]:
    found = client.get(f"/api/v1/stores/{BERLIN}/pickup-orders/{order}", headers=auth(key)).json()
    return [(t["to"], t["note"]) for t in found["transitions"]]


def test_counter_pickup_from_staging_to_handover_takes_the_stock_once(
    client: TestClient, keys: Keys, api_runtime: GatewayRuntime
) -> None:
    stock(api_runtime, BERLIN, RICE, zone="locker-bay", quantity=1)
    stock(api_runtime, BERLIN, RICE, zone="aisle-1", quantity=5)
    stock(api_runtime, BERLIN, MILK, zone="aisle-1", quantity=20)
    customer_order, order = fulfilment_of(client, keys, "counter_pickup", [(RICE, 2), (MILK, 1)])
    assert figures(api_runtime, RICE) == (2, {"locker-bay": 1, "aisle-1": 5})
    picked = step(client, keys.manager, order, "pick")
    assert (picked.status_code, picked.json()["state"]) == (200, "picking"), picked.text
    staged = step(client, keys.manager, order, "stage")
    assert staged.status_code == 200, staged.text
    assert staged.headers["cache-control"] == "no-store"
    result = staged.json()
    code = result["code"]
    assert len(code) == 6
    assert result["qr"] == code
    assert result["code_for"] == "customer"
    assert result["order"]["state"] == "staged"
    assert result["order"]["code_issued"] is True
    with api_runtime.sessions() as session:
        row = session.get(PickupOrder, order)
        assert row is not None
        assert row.code_hash is not None
        assert code not in row.code_hash
        assert pickup_codes.verify_code(code, row.code_hash)
    handed = step(client, keys.manager, order, "handover", {"code": code})
    assert handed.status_code == 200, handed.text
    assert handed.json()["state"] == "picked_up"
    # Released and taken once: the locker bay first, then the salesfloor; MILK is left to RFID.
    assert figures(api_runtime, RICE) == (0, {"aisle-1": 4})
    assert figures(api_runtime, MILK) == (0, {"aisle-1": 20})
    to, note = history(client, keys.manager, order)[-1]
    assert to == "picked_up"
    assert "berlin manager" in note
    assert "customer" in note
    again = step(client, keys.manager, order, "handover", {"code": code})
    assert (again.status_code, again.json()["error"]["code"]) == (409, "already_handed_over")
    assert figures(api_runtime, RICE) == (0, {"aisle-1": 4})
    summary = client.get(f"{ORDERS}/{customer_order}", headers=auth(keys.integrator)).json()
    assert summary["status"] == "completed"
    with api_runtime.sessions() as session:
        changes = session.scalars(
            select(DomainEvent).where(DomainEvent.subject == order).order_by(DomainEvent.at)
        ).all()
    assert [e.data["to"] for e in changes] == ["created", "reserved", "picking", "staged", "picked_up"]


def test_wrong_codes_lock_the_order_and_staging_again_replaces_the_code(
    client: TestClient, keys: Keys, api_runtime: GatewayRuntime
) -> None:
    stock(api_runtime, BERLIN, RICE, zone="aisle-1", quantity=5)
    _, order = fulfilment_of(client, keys, "counter_pickup", [(RICE, 1)])
    first = step(client, keys.manager, order, "stage").json()["code"]  # reserved: picked implicitly
    assert [to for to, _ in history(client, keys.manager, order)][-2:] == ["picking", "staged"]
    code = step(client, keys.manager, order, "stage").json()["code"]  # a new code; the first one dies
    while code == first:  # one chance in a million
        code = step(client, keys.manager, order, "stage").json()["code"]
    max_failures = api_runtime.stores[BERLIN].store.pickup_max_failures
    for attempt in range(1, max_failures + 1):
        wrong = step(
            client, keys.manager, order, "handover", {"code": first if attempt == 1 else other(code)}
        )
        assert wrong.status_code == 422, wrong.text
        error = wrong.json()["error"]
        assert error["code"] == "wrong_code"
        assert error["details"][0]["tries_left"] == max_failures - attempt
    locked = step(client, keys.manager, order, "handover", {"code": code})
    assert locked.status_code == 429, locked.text
    assert locked.json()["error"]["code"] == "locked"
    assert int(locked.headers["retry-after"]) > 0
    assert figures(api_runtime, RICE) == (1, {"aisle-1": 5})
    with api_runtime.sessions() as session:  # the lockout has passed
        past = datetime.now(UTC) - timedelta(hours=1)
        session.execute(
            update(CodeLockout)
            .where(CodeLockout.scope == f"order:counter:{order}")
            .values(locked_until=past, last_failure_at=past)
        )
        session.commit()
    handed = step(client, keys.manager, order, "handover", {"code": code})
    assert (handed.status_code, handed.json()["state"]) == (200, "picked_up"), handed.text
    assert figures(api_runtime, RICE) == (0, {"aisle-1": 4})


def test_a_counter_pickup_collected_after_it_expired_is_not_released_twice(
    client: TestClient, keys: Keys, api_runtime: GatewayRuntime
) -> None:
    stock(api_runtime, BERLIN, RICE, zone="aisle-1", quantity=5)
    _, order = fulfilment_of(client, keys, "counter_pickup", [(RICE, 2)])
    code = step(client, keys.manager, order, "stage").json()["code"]
    with api_runtime.sessions() as session:
        [expired] = expire_due(session, api_runtime.stores, datetime.now(UTC) + timedelta(days=30))
        session.commit()
    assert expired.order is not None
    assert expired.order.state == "expired"
    _, later = fulfilment_of(client, keys, "counter_pickup", [(RICE, 1)])
    assert figures(api_runtime, RICE) == (1, {"aisle-1": 5})
    handed = step(client, keys.manager, order, "handover", {"code": code})
    assert (handed.status_code, handed.json()["state"]) == (200, "picked_up"), handed.text
    assert figures(api_runtime, RICE) == (1, {"aisle-1": 3})  # the later order keeps its unit
    unstaged = step(client, keys.manager, later, "handover", {"code": code})
    assert (unstaged.status_code, unstaged.json()["error"]["code"]) == (409, "not_staged")


def test_a_no_show_at_a_booked_slot_expires_after_the_grace_with_an_alert(
    client: TestClient, keys: Keys, api_runtime: GatewayRuntime
) -> None:
    stock(api_runtime, BERLIN, RICE, zone="aisle-1", quantity=5)
    slot = client.get(f"/api/v1/stores/{BERLIN}/pickup-slots", headers=auth(keys.integrator)).json()["items"][
        0
    ]
    _, order = fulfilment_of(client, keys, "counter_pickup", [(RICE, 2)], slot=slot["start"])
    assert step(client, keys.manager, order, "stage").status_code == 200
    grace = timedelta(minutes=api_runtime.stores[BERLIN].store.fulfilment.no_show_grace_minutes)
    due = datetime.fromisoformat(slot["end"]) + grace
    with api_runtime.sessions() as session:
        assert expire_due(session, api_runtime.stores, due - timedelta(minutes=1)) == []
        [expired] = expire_due(session, api_runtime.stores, due)
        session.commit()
    assert expired.order is not None
    assert expired.order.state == "expired"
    alert = next(data for type_, _, data in expired.events if type_ == "alert")
    assert "no-show" in alert["message"]
    assert "put its staged goods back" in alert["message"]
    assert figures(api_runtime, RICE)[0] == 0


def test_handovers_at_once_take_the_stock_once(
    client: TestClient, live_server: str, keys: Keys, api_runtime: GatewayRuntime
) -> None:
    """Two associates scan the same customer's code at once: one hands over, the other is told."""
    stock(api_runtime, BERLIN, RICE, zone="aisle-1", quantity=5)
    _, order = fulfilment_of(client, keys, "counter_pickup", [(RICE, 2)])
    code = step(client, keys.manager, order, "stage").json()["code"]
    statuses: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(6)

    def scan() -> None:
        with httpx.Client(base_url=live_server, timeout=60) as http:
            start.wait()
            response = http.post(
                f"{STORE_ORDERS}/{order}/handover", json={"code": code}, headers=auth(keys.manager)
            )
        with lock:
            statuses.append(response.status_code)

    threads = [threading.Thread(target=scan) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    assert sorted(statuses) == [200] + [409] * 5
    assert figures(api_runtime, RICE) == (0, {"aisle-1": 3})
    assert [to for to, _ in history(client, keys.manager, order)].count("picked_up") == 1


def test_a_delivery_handed_to_a_courier_at_the_counter_then_delivered(
    client: TestClient, keys: Keys, api_runtime: GatewayRuntime
) -> None:
    stock(api_runtime, BERLIN, RICE, zone="aisle-1", quantity=5)
    customer_order, order = fulfilment_of(
        client, keys, "delivery", [(RICE, 1)], destination=NEAR_BERLIN_STORE
    )
    early = deliver(client, keys.integrator, customer_order, order)
    assert (early.status_code, early.json()["error"]["code"]) == (409, "invalid_transition")
    staged = step(client, keys.manager, order, "stage").json()
    assert staged["code_for"] == "courier"
    assert staged["order"]["state"] == "staged"
    handed = step(client, keys.manager, order, "handover", {"code": staged["code"]})
    assert (handed.status_code, handed.json()["state"]) == (200, "handed_to_courier"), handed.text
    assert figures(api_runtime, RICE) == (0, {"aisle-1": 4})
    done = deliver(client, keys.integrator, customer_order, order)
    assert (done.status_code, done.json()["state"]) == (200, "delivered"), done.text
    steps = len(done.json()["transitions"])
    again = deliver(client, keys.integrator, customer_order, order)
    assert (again.status_code, again.json()["state"]) == (200, "delivered")
    assert len(again.json()["transitions"]) == steps
    assert deliver(client, keys.admin, customer_order, order).status_code == 200
    assert deliver(client, keys.integrator, "CO-NOTHING0", order).status_code == 404
    assert deliver(client, keys.hamburg_integrator, customer_order, order).status_code == 404


@pytest.fixture
def link(api_runtime: GatewayRuntime, mosquitto: Any) -> Iterator[LockerLink]:
    api_runtime.settings = api_runtime.settings.model_copy(update={"mqtt": mosquitto.settings})
    with running_locker_link(api_runtime, mosquitto.settings, SECRET) as started:
        yield started


@pytest.fixture
def bank(mosquitto: Any) -> Iterator[FakeLockerBank]:
    fake = FakeLockerBank(mosquitto.url)
    yield fake
    fake.close()


def test_a_delivery_loaded_into_a_locker_is_handed_to_the_courier_there(
    client: TestClient, keys: Keys, api_runtime: GatewayRuntime, link: LockerLink, bank: FakeLockerBank
) -> None:
    stock(api_runtime, BERLIN, RICE, zone="aisle-1", quantity=5)
    customer_order, order = fulfilment_of(
        client, keys, "delivery", [(RICE, 1)], destination=NEAR_BERLIN_STORE
    )
    loaded = client.post(f"/api/v1/stores/{BERLIN}/pickup-orders/{order}/load", headers=auth(keys.manager))
    assert loaded.status_code == 200, loaded.text
    assert loaded.json()["order"]["state"] == "loaded"
    staged = step(client, keys.manager, order, "stage")
    assert (staged.status_code, staged.json()["error"]["code"]) == (409, "invalid_transition")
    counter = step(client, keys.manager, order, "handover", {"code": loaded.json()["code"]})
    assert (counter.status_code, counter.json()["error"]["code"]) == (409, "not_staged")
    bank.door("c01", "door_closed", occupied=True)
    wait_until(
        lambda: history(client, keys.manager, order)[-1][0] == "ready", what="the delivery to be ready"
    )
    # The courier's code opened the door and the edge reported the goods gone.
    with api_runtime.sessions() as session:
        found = session.get(PickupOrder, order, with_for_update=True)
        assert found is not None
        mark_picked_up(session, found, by="edge:edge-1", at=datetime.now(UTC), note="collected")
        session.commit()
    assert history(client, keys.manager, order)[-1][0] == "handed_to_courier"
    done = deliver(client, keys.integrator, customer_order, order)
    assert (done.status_code, done.json()["state"]) == (200, "delivered"), done.text


def test_a_parcel_is_staged_shipped_and_delivered(
    client: TestClient, keys: Keys, api_runtime: GatewayRuntime
) -> None:
    stock(api_runtime, BERLIN, RICE, zone="aisle-1", quantity=5)
    customer_order, order = fulfilment_of(client, keys, "ship", [(RICE, 2)])
    parcel = {"carrier": "DHL", "tracking": "00340434161094042557"}
    assert step(client, keys.manager, order, "pick").status_code == 200
    early = step(client, keys.manager, order, "ship", parcel)
    assert (early.status_code, early.json()["error"]["code"]) == (409, "invalid_transition")
    staged = step(client, keys.manager, order, "stage").json()
    assert (staged["code"], staged["qr"], staged["code_for"]) == (None, None, None)
    assert staged["order"]["state"] == "staged"
    handover = step(client, keys.manager, order, "handover", {"code": "123456"})
    assert (handover.status_code, handover.json()["error"]["code"]) == (409, "not_handed_over_here")
    shipped = step(client, keys.manager, order, "ship", parcel)
    assert (shipped.status_code, shipped.json()["state"]) == (200, "shipped"), shipped.text
    note = shipped.json()["transitions"][-1]["note"]
    assert "DHL" in note
    assert parcel["tracking"] in note
    assert "berlin manager" in note
    assert figures(api_runtime, RICE) == (0, {"aisle-1": 3})
    twice = step(client, keys.manager, order, "ship", parcel)
    assert (twice.status_code, twice.json()["error"]["code"]) == (409, "already_shipped")
    assert figures(api_runtime, RICE) == (0, {"aisle-1": 3})
    done = deliver(client, keys.integrator, customer_order, order)
    assert (done.status_code, done.json()["state"]) == (200, "delivered"), done.text


def test_roles_and_a_locker_pickup_is_not_staged(
    client: TestClient, keys: Keys, api_runtime: GatewayRuntime
) -> None:
    stock(api_runtime, BERLIN, RICE, zone="aisle-1", quantity=5)
    customer_order, order = fulfilment_of(client, keys, "counter_pickup", [(RICE, 1)])
    denied = step(client, keys.integrator, order, "stage")
    assert (denied.status_code, denied.json()["error"]["code"]) == (403, "forbidden")
    assert step(client, keys.hamburg_manager, order, "stage").status_code == 403
    assert step(client, keys.kiosk, order, "handover", {"code": "123456"}).status_code == 403
    assert step(client, keys.manager, "ORD-NOTHING0", "stage").status_code == 404
    code = step(client, keys.admin, order, "stage").json()["code"]
    assert step(client, keys.manager, order, "handover", {"code": code}).status_code == 200
    reported = deliver(client, keys.manager, customer_order, order)
    assert (reported.status_code, reported.json()["error"]["code"]) == (403, "forbidden")
    _, locker = fulfilment_of(client, keys, "locker_pickup", [(RICE, 1)])
    assert step(client, keys.manager, locker, "pick").json()["state"] == "picking"
    refused = step(client, keys.manager, locker, "stage")
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "not_staged")
    assert history(client, keys.manager, locker)[-1][0] == "picking"
