"""Movements change the inventory; an Idempotency-Key is applied once, also under concurrent retries."""

from __future__ import annotations

import threading
from collections.abc import Callable

import httpx
import pytest
from api_helpers import BERLIN, HAMBURG, MILK, Keys, auth, stock
from fastapi.testclient import TestClient
from gateway_helpers import RICE, Publisher, RuntimeConsumer, Signals, send
from polling import wait_until
from sqlalchemy import func, select

from smartstore.gateway.api.app import create_app
from smartstore.gateway.db.models import IdempotencyRecord, Movement
from smartstore.gateway.runtime import GatewayRuntime
from smartstore.gateway.security import Role, create_api_key

MOVEMENTS = f"/api/v1/stores/{BERLIN}/movements"
SALE = {"type": "sale", "gtin": MILK, "quantity": 3, "zone": "aisle-1"}


@pytest.fixture
def milk_on_shelf(api_runtime: GatewayRuntime) -> GatewayRuntime:
    stock(api_runtime, BERLIN, MILK, zone="aisle-1", quantity=10)
    return api_runtime


def movement_count(runtime: GatewayRuntime) -> int:
    with runtime.sessions() as session:
        return session.scalar(select(func.count()).select_from(Movement)) or 0


def on_hand(client: TestClient, key: str, store: str = BERLIN) -> int:
    response = client.get(f"/api/v1/stores/{store}/inventory/{MILK}", headers=auth(key))
    return int(response.json()["on_hand"])


def test_sale_and_receipt_change_the_inventory(
    client: TestClient, keys: Keys, milk_on_shelf: GatewayRuntime
) -> None:
    response = client.post(MOVEMENTS, json=SALE, headers=auth(keys.integrator))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["movement"]["type"] == "sale"
    assert body["movement"]["quantity"] == 3
    assert body["movement"]["created_by"].startswith("erp (")
    assert body["inventory"]["on_hand"] == 7
    assert body["inventory"]["salesfloor"] == 7
    assert body["inventory"]["sources"]["on_hand"]["source"] == "pos"
    receipt = {"type": "receipt", "gtin": MILK[1:], "quantity": 12}  # GTIN-13, default zone: backroom
    assert client.post(MOVEMENTS, json=receipt, headers=auth(keys.manager)).status_code == 201
    assert on_hand(client, keys.manager) == 19
    count = {"type": "count", "gtin": MILK, "quantity": 4, "zone": "aisle-1"}
    assert client.post(MOVEMENTS, json=count, headers=auth(keys.admin)).json()["inventory"]["on_hand"] == 16
    assert movement_count(milk_on_shelf) == 3


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({**SALE, "quantity": 0}, "validation_error"),
        ({**SALE, "type": "theft"}, "validation_error"),
        ({"type": "count", "gtin": MILK, "quantity": -1}, "validation_error"),
        ({"type": "adjustment", "gtin": MILK, "quantity": 0}, "validation_error"),
        ({**SALE, "gtin": "09506000100006"}, "validation_error"),  # bad check digit
        ({**SALE, "extra": 1}, "validation_error"),
        ({**SALE, "gtin": "96385074"}, "unknown_gtin"),
        ({**SALE, "zone": "roof"}, "unknown_zone"),
    ],
)
def test_bad_movements_are_rejected_with_a_reason(
    client: TestClient, keys: Keys, milk_on_shelf: GatewayRuntime, body: dict[str, object], code: str
) -> None:
    response = client.post(MOVEMENTS, json=body, headers=auth(keys.admin))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == code
    assert movement_count(milk_on_shelf) == 0


def test_retry_with_the_same_idempotency_key_replays_the_first_answer(
    client: TestClient, keys: Keys, milk_on_shelf: GatewayRuntime
) -> None:
    headers = {**auth(keys.integrator), "Idempotency-Key": "pos-7-receipt-42"}
    first = client.post(MOVEMENTS, json=SALE, headers=headers)
    assert first.status_code == 201
    assert "idempotent-replayed" not in first.headers
    again = client.post(MOVEMENTS, json={**SALE, "gtin": MILK[1:]}, headers=headers)  # same request, GTIN-13
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert movement_count(milk_on_shelf) == 1
    assert on_hand(client, keys.admin) == 7
    other_body = client.post(MOVEMENTS, json={**SALE, "quantity": 4}, headers=headers)
    assert other_body.status_code == 422
    assert other_body.json()["error"]["code"] == "idempotency_key_reused"
    # keys are per caller: another client's "pos-7-receipt-42" is a different request
    other_caller = client.post(
        MOVEMENTS, json=SALE, headers={**auth(keys.manager), "Idempotency-Key": "pos-7-receipt-42"}
    )
    assert other_caller.status_code == 201
    assert "idempotent-replayed" not in other_caller.headers
    assert movement_count(milk_on_shelf) == 2
    assert on_hand(client, keys.admin) == 4


def test_a_rejected_request_does_not_burn_its_key(
    client: TestClient, keys: Keys, milk_on_shelf: GatewayRuntime
) -> None:
    headers = {**auth(keys.admin), "Idempotency-Key": "k-1"}
    assert client.post(MOVEMENTS, json={**SALE, "zone": "roof"}, headers=headers).status_code == 422
    assert client.post(MOVEMENTS, json=SALE, headers=headers).status_code == 201
    with milk_on_shelf.sessions() as session:
        record = session.scalars(select(IdempotencyRecord)).one()
    assert (record.key, record.status_code) == ("k-1", 201)


def test_a_store_bound_key_cannot_move_stock_elsewhere(
    client: TestClient, keys: Keys, milk_on_shelf: GatewayRuntime
) -> None:
    response = client.post(MOVEMENTS, json=SALE, headers=auth(keys.hamburg_integrator))
    assert response.status_code == 403
    hamburg = {"type": "receipt", "gtin": MILK, "quantity": 2}
    assert (
        client.post(
            f"/api/v1/stores/{HAMBURG}/movements", json=hamburg, headers=auth(keys.hamburg_integrator)
        ).status_code
        == 201
    )
    assert on_hand(client, keys.admin, HAMBURG) == 2
    assert on_hand(client, keys.admin) == 10


def test_concurrent_requests_with_one_key_apply_once(
    live_server: str, keys: Keys, milk_on_shelf: GatewayRuntime
) -> None:
    clients = 6
    barrier = threading.Barrier(clients)
    responses: list[httpx.Response] = []
    lock = threading.Lock()
    headers = {**auth(keys.integrator), "Idempotency-Key": "race-1"}

    def post() -> None:
        with httpx.Client(base_url=live_server, timeout=20) as http:
            barrier.wait()
            response = http.post(MOVEMENTS, json=SALE, headers=headers)
        with lock:
            responses.append(response)

    threads = [threading.Thread(target=post) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(responses) == clients
    assert [r.status_code for r in responses] == [201] * clients, [r.text for r in responses]
    assert len({r.json()["movement"]["id"] for r in responses}) == 1
    assert sum("idempotent-replayed" not in r.headers for r in responses) == 1
    assert movement_count(milk_on_shelf) == 1
    with httpx.Client(base_url=live_server) as http:
        detail = http.get(f"/api/v1/stores/{BERLIN}/inventory/{MILK}", headers=auth(keys.admin)).json()
    assert detail["on_hand"] == 7


def test_a_receipt_of_a_tagged_product_says_the_rfid_count_replaces_it(
    consumer_factory: Callable[..., RuntimeConsumer], publisher: Publisher, signals: Signals
) -> None:
    """RFID counts are absolute: the answer says so, and the next snapshot of the zone does replace it."""
    consumer = consumer_factory()
    runtime = consumer.runtime
    manager = create_api_key(runtime.sessions, Role.MANAGER, "receiving", store_id=BERLIN)
    send(publisher, signals.stock([("backroom", MILK, 4)], snapshot=True, zones=["backroom"]))
    wait_until(lambda: consumer.stats.applied == 1, what="the first RFID snapshot")
    with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
        tagged = client.post(
            MOVEMENTS, json={"type": "receipt", "gtin": MILK, "quantity": 12}, headers=auth(manager)
        )
        assert tagged.status_code == 201, tagged.text
        body = tagged.json()
        assert body["inventory"]["backroom"] == 16
        assert body["rfid_counted"] is True
        assert "next RFID snapshot of backroom replaces" in body["note"]
        untagged = client.post(
            MOVEMENTS, json={"type": "receipt", "gtin": RICE, "quantity": 12}, headers=auth(manager)
        )
        assert (untagged.json()["rfid_counted"], untagged.json()["note"]) == (False, None)
        # The readers have read 6 of the 12 new tags so far: on hand follows them, rice keeps its receipt.
        send(publisher, signals.stock([("backroom", MILK, 10)], snapshot=True, zones=["backroom"]))
        wait_until(lambda: consumer.stats.applied == 2, what="the second RFID snapshot")
        milk = client.get(f"/api/v1/stores/{BERLIN}/inventory/{MILK}", headers=auth(manager)).json()
        rice = client.get(f"/api/v1/stores/{BERLIN}/inventory/{RICE}", headers=auth(manager)).json()
    assert (milk["backroom"], milk["sources"]["on_hand"]["source"]) == (10, "rfid")
    assert (rice["backroom"], rice["sources"]["on_hand"]["source"]) == (12, "manual")
