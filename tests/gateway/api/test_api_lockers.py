"""Load, ready, kiosk pickup on a real Mosquitto: open commands, door events, acks, manifests, throttling."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from api_helpers import BERLIN, Keys, auth, stock, wait_until
from fastapi.testclient import TestClient
from locker_helpers import FakeLockerBank, running_locker_link
from sqlalchemy import select

from smartstore.gateway.api.routes import kiosk
from smartstore.gateway.db.lockers import CodeAttempt, PickupOrder
from smartstore.gateway.lockers.lifecycle import mark_picked_up
from smartstore.gateway.lockers.link import LockerLink
from smartstore.gateway.monitoring.devices import apply_status
from smartstore.gateway.runtime import GatewayRuntime
from smartstore.kernel import pickup_codes
from smartstore.kernel.contract import payloads as p
from smartstore.kernel.contract import topics
from smartstore.kernel.contract.topics import Kind

ORDERS = f"/api/v1/stores/{BERLIN}/pickup-orders"
LOCKERS = f"/api/v1/stores/{BERLIN}/lockers"
PICKUP = f"{LOCKERS}/locker-1/pickup"
RICE = "09506000100098"
SECRET = b"api-test-pickup-code-lookup-secret"


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


def new_order(client: TestClient, keys: Keys, quantity: int = 1) -> str:
    response = client.post(
        ORDERS,
        json={"lines": [{"gtin": RICE, "quantity": quantity}]},
        headers=auth(keys.integrator) | {"Idempotency-Key": uuid.uuid4().hex},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def state(client: TestClient, keys: Keys, order: str) -> str:
    return str(client.get(f"{ORDERS}/{order}", headers=auth(keys.manager)).json()["state"])


def test_load_ready_and_pickup_over_mqtt(
    client: TestClient, keys: Keys, api_runtime: GatewayRuntime, link: LockerLink, bank: FakeLockerBank
) -> None:
    stock(api_runtime, BERLIN, RICE, zone="aisle-1", quantity=5)
    order = new_order(client, keys)
    loaded = client.post(f"{ORDERS}/{order}/load", headers=auth(keys.manager))
    assert loaded.status_code == 200, loaded.text
    assert loaded.headers["cache-control"] == "no-store"
    body = loaded.json()
    code = body["code"]
    assert (body["compartment"], body["door_number"], body["command_sent"]) == ("c01", 1, True)
    assert body["order"]["state"] == "loaded"
    assert body["qr"] == code
    wait_until(lambda: len(bank.commands) == 1, what="the load command on the wire")
    assert (bank.commands[0].compartment, bank.commands[0].request) == ("c01", f"load:{order}:1")
    # The code is not valid before the goods are inside.
    early = client.post(PICKUP, json={"code": code}, headers=auth(keys.kiosk))
    assert early.status_code == 409
    assert early.json()["error"]["code"] == "order_not_ready"
    bank.door("c01", "door_opened", occupied=False, request=f"load:{order}:1")
    bank.door("c01", "occupancy_changed", occupied=True)
    bank.door("c01", "door_closed", occupied=True)
    wait_until(lambda: state(client, keys, order) == "ready", what="the order to become ready")
    wait_until(lambda: any(m.orders for m in bank.manifests), what="a manifest with the order")
    ready_manifest = next(m for m in bank.manifests if m.orders)
    assert ready_manifest.orders[0].order == order
    assert pickup_codes.verify_code(code, ready_manifest.orders[0].code_hash)
    assert code not in json.dumps(ready_manifest.model_dump(mode="json"))
    wrong = client.post(PICKUP, json={"code": f"{(int(code) + 1) % 10**6:06d}"}, headers=auth(keys.kiosk))
    assert wrong.status_code == 401
    assert wrong.json()["tries_left"] == 4
    assert wrong.json()["error"]["code"] == "code_not_recognised"
    opened = client.post(PICKUP, json={"code": code}, headers=auth(keys.kiosk))
    assert opened.status_code == 200, opened.text
    assert opened.json() == {
        "door": "c01",
        "door_number": 1,
        "order": order,
        "locker": "locker-1",
        "request": f"pickup:{order}:1",
    }
    wait_until(lambda: len(bank.commands) == 2, what="the pickup command on the wire")
    assert bank.commands[1].request == f"pickup:{order}:1"
    wait_until(lambda: not bank.manifests[-1].orders, what="the used code to leave the manifest")
    used = client.post(PICKUP, json={"code": code}, headers=auth(keys.kiosk))
    assert used.json()["error"]["code"] == "code_already_used"
    overview = client.get(LOCKERS, headers=auth(keys.manager)).json()
    c01 = overview["lockers"][0]["compartments"][0]
    assert (c01["compartment"], c01["occupied"], c01["door_open"]) == ("c01", True, False)
    assert c01["order"]["id"] == order
    assert overview["waiting"] == 1


def test_a_door_that_fails_to_open_gives_the_code_back(
    client: TestClient, keys: Keys, api_runtime: GatewayRuntime, link: LockerLink, bank: FakeLockerBank
) -> None:
    stock(api_runtime, BERLIN, RICE, zone="aisle-1", quantity=5)
    order = new_order(client, keys)
    code = client.post(f"{ORDERS}/{order}/load", headers=auth(keys.manager)).json()["code"]
    # Garbage from a device is logged and skipped; the link carries on.
    bank.client.publish(topics.locker_event(BERLIN, "locker-1"), b"{not json", qos=1).wait_for_publish(5)
    bank.door("c99", "door_closed", occupied=True)  # a compartment the store file does not have
    bank.door("c01", "door_closed", occupied=True)
    wait_until(lambda: state(client, keys, order) == "ready", what="ready")
    assert client.post(PICKUP, json={"code": code}, headers=auth(keys.kiosk)).status_code == 200
    bank.send(p.LockerAck, "ack", request=f"pickup:{order}:1", result="failed", reason="jammed: latch stuck")
    c01 = lambda: client.get(LOCKERS, headers=auth(keys.manager)).json()["lockers"][0]["compartments"][0]  # noqa: E731
    wait_until(lambda: c01()["needs_attention"] is not None, what="the compartment to be flagged")
    assert c01()["needs_attention"] == "pickup open failed: jammed: latch stuck"
    again = client.post(PICKUP, json={"code": code}, headers=auth(keys.kiosk))
    assert again.status_code == 200
    assert again.json()["request"] == f"pickup:{order}:2"


def test_one_session_locks_itself_not_the_bank_and_staff_lift_it(
    client: TestClient, keys: Keys, api_runtime: GatewayRuntime, link: LockerLink, bank: FakeLockerBank
) -> None:
    stock(api_runtime, BERLIN, RICE, zone="aisle-1", quantity=5)
    service = f"{LOCKERS}/locker-1/compartments/c01/service"
    out = client.post(service, json={"in_service": False}, headers=auth(keys.manager))
    assert out.json()["in_service"] is False
    assert client.post(service, json={"in_service": False}, headers=auth(keys.kiosk)).status_code == 403
    order = new_order(client, keys)
    loaded = client.post(f"{ORDERS}/{order}/load", headers=auth(keys.manager)).json()
    assert loaded["compartment"] == "c02"  # c01 is out of service
    bank.door("c02", "door_closed", occupied=True)
    wait_until(lambda: state(client, keys, order) == "ready", what="ready")
    visitor = {"session": "visit-aaaaaaaa"}
    for left in (4, 3, 2, 1, 0):
        response = client.post(PICKUP, json={"code": "999999", **visitor}, headers=auth(keys.kiosk))
        assert (response.status_code, response.json()["tries_left"]) == (401, left)
    locked = client.post(PICKUP, json={"code": loaded["code"], **visitor}, headers=auth(keys.kiosk))
    assert locked.status_code == 423
    assert locked.json()["error"]["code"] == "locked"
    assert 14 * 60 < locked.json()["retry_after_s"] <= 15 * 60
    assert int(locked.headers["retry-after"]) == locked.json()["retry_after_s"]
    # Only that session is locked: no bank lockout, no alert.
    alerts = client.get(f"/api/v1/stores/{BERLIN}/alerts", headers=auth(keys.manager)).json()["items"]
    assert alerts == []
    lockouts = client.get(LOCKERS, headers=auth(keys.manager)).json()["lockers"][0]["lockouts"]
    assert [(lk["scope"], lk["refused"]) for lk in lockouts] == [("source", 6)]
    metrics = client.get("/metrics").text
    assert 'smartstore_pickup_code_refusals_total{result="wrong"} 5.0' in metrics
    assert 'smartstore_pickup_code_refusals_total{result="locked"} 1.0' in metrics
    # Staff lift it: managers and admins only.
    lift = f"{LOCKERS}/locker-1/lockouts/lift"
    assert client.post(lift, headers=auth(keys.kiosk)).status_code == 403
    assert client.post(lift, headers=auth(keys.hamburg_manager)).status_code == 403
    lifted = client.post(lift, headers=auth(keys.manager))
    assert lifted.json() == {"locker": "locker-1", "lifted": 1}
    assert client.get(LOCKERS, headers=auth(keys.manager)).json()["lockers"][0]["lockouts"] == []
    again = client.post(PICKUP, json={"code": "999999", **visitor}, headers=auth(keys.kiosk))
    assert (again.status_code, again.json()["tries_left"]) == (401, 4)
    opened = client.post(PICKUP, json={"code": loaded["code"], **visitor}, headers=auth(keys.kiosk))
    assert opened.status_code == 200, opened.text
    assert client.post(PICKUP, json={"code": "123456"}, headers=auth(keys.manager)).status_code == 403
    assert (
        client.post(f"{LOCKERS}/locker-9/pickup", json={"code": "1"}, headers=auth(keys.kiosk)).status_code
        == 404
    )
    assert client.post(f"{LOCKERS}/locker-9/lockouts/lift", headers=auth(keys.manager)).status_code == 404


def test_another_customer_opens_while_one_session_is_locked(
    client: TestClient, keys: Keys, api_runtime: GatewayRuntime, link: LockerLink, bank: FakeLockerBank
) -> None:
    stock(api_runtime, BERLIN, RICE, zone="aisle-1", quantity=5)
    order = new_order(client, keys)
    code = client.post(f"{ORDERS}/{order}/load", headers=auth(keys.manager)).json()["code"]
    bank.door("c01", "door_closed", occupied=True)
    wait_until(lambda: state(client, keys, order) == "ready", what="ready")
    for _ in range(8):  # the attacker keeps going after the lockout: refused, never checked
        client.post(PICKUP, json={"code": "000000", "session": "attacker-1"}, headers=auth(keys.kiosk))
    opened = client.post(PICKUP, json={"code": code, "session": "customer-1"}, headers=auth(keys.kiosk))
    assert opened.status_code == 200, opened.text
    with api_runtime.sessions() as session:
        rows = session.scalars(select(CodeAttempt.result).order_by(CodeAttempt.id)).all()
    assert rows == ["lockout", "opened"]  # 9 requests, 2 audit rows
    # The locker reports the pickup (the edge's signal): the code keeps answering "already used".
    with api_runtime.sessions() as session:
        found = session.get(PickupOrder, order, with_for_update=True)
        assert found is not None
        mark_picked_up(session, found, by="edge:edge-1", at=datetime.now(UTC), note="collected")
        session.commit()
    for _ in range(3):
        used = client.post(PICKUP, json={"code": code, "session": "customer-1"}, headers=auth(keys.kiosk))
        assert (used.status_code, used.json()["error"]["code"]) == (409, "code_already_used")
    wrong = client.post(PICKUP, json={"code": "000000", "session": "customer-1"}, headers=auth(keys.kiosk))
    assert wrong.json()["tries_left"] == 4  # "already used" burnt no try


def test_load_and_pickup_refused_while_the_locker_is_offline(
    client: TestClient, keys: Keys, api_runtime: GatewayRuntime, link: LockerLink, bank: FakeLockerBank
) -> None:
    stock(api_runtime, BERLIN, RICE, zone="aisle-1", quantity=5)
    order = new_order(client, keys)
    locker_status(api_runtime, p.DeviceState.OFFLINE)  # its Last Will, as the ingest applies it
    refused = client.post(f"{ORDERS}/{order}/load", headers=auth(keys.manager))
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "locker_offline"
    assert state(client, keys, order) == "reserved"  # nothing changed, no code issued
    pinned = client.post(f"{ORDERS}/{order}/load", json={"locker": "locker-1"}, headers=auth(keys.manager))
    assert pinned.status_code == 503
    kiosk = client.post(PICKUP, json={"code": "123456"}, headers=auth(keys.kiosk))
    assert (kiosk.status_code, kiosk.json()["error"]["code"]) == (503, "locker_offline")
    assert bank.commands == []
    locker_status(api_runtime, p.DeviceState.ONLINE)
    loaded = client.post(f"{ORDERS}/{order}/load", headers=auth(keys.manager))
    assert (loaded.status_code, loaded.json()["command_sent"]) == (200, True)


def test_an_open_the_locker_never_confirms_flags_the_compartment_and_the_order(
    client: TestClient, keys: Keys, api_runtime: GatewayRuntime, link: LockerLink, bank: FakeLockerBank
) -> None:
    stock(api_runtime, BERLIN, RICE, zone="aisle-1", quantity=5)
    silent, answered = new_order(client, keys), new_order(client, keys)
    assert client.post(f"{ORDERS}/{silent}/load", headers=auth(keys.manager)).status_code == 200
    assert client.post(f"{ORDERS}/{answered}/load", headers=auth(keys.manager)).status_code == 200
    loaded_at = _compartment(client, keys, "c02")["updated_at"]
    bank.send(p.LockerAck, "ack", request=f"load:{answered}:1", result="done")
    wait_until(lambda: _compartment(client, keys, "c02")["updated_at"] != loaded_at, what="the ack on c02")
    timeout = api_runtime.settings.locker_open_timeout_s
    assert link.sweep(datetime.now(UTC)) == 0  # not yet overdue
    assert link.sweep(datetime.now(UTC) + timedelta(seconds=timeout + 1)) == 1
    c01, c02 = _compartment(client, keys, "c01"), _compartment(client, keys, "c02")
    assert c01["needs_attention"] == "load open not confirmed: no answer from the locker"
    assert c02["needs_attention"] is None
    alerts = client.get(f"/api/v1/stores/{BERLIN}/alerts", headers=auth(keys.manager)).json()["items"]
    assert [a["cause"] for a in alerts] == [f"locker.open_unconfirmed:{silent}"]
    assert link.sweep(datetime.now(UTC) + timedelta(seconds=timeout + 2)) == 0  # flagged once
    # Loading it again moves the order to a compartment that works.
    again = client.post(f"{ORDERS}/{silent}/load", headers=auth(keys.manager)).json()
    assert again["compartment"] == "c03"


def locker_status(runtime: GatewayRuntime, state: p.DeviceState) -> None:
    status = p.DeviceStatus(**p.envelope(1), state=state)
    with runtime.sessions() as session:
        at = datetime.now(UTC)
        apply_status(session, store_id=BERLIN, kind=Kind.LOCKER, device_id="locker-1", status=status, at=at)
        session.commit()


def _compartment(client: TestClient, keys: Keys, compartment: str) -> dict[str, Any]:
    overview = client.get(LOCKERS, headers=auth(keys.manager)).json()
    found: dict[str, Any] = next(
        c for c in overview["lockers"][0]["compartments"] if c["compartment"] == compartment
    )
    return found


def test_without_the_locker_link_the_kiosk_says_use_the_keypad(
    client: TestClient, keys: Keys, api_runtime: GatewayRuntime
) -> None:
    response = client.post(PICKUP, json={"code": "123456"}, headers=auth(keys.kiosk))
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "locker_offline"
    stock(api_runtime, BERLIN, RICE, zone="aisle-1", quantity=5)
    order = new_order(client, keys)
    load = client.post(f"{ORDERS}/{order}/load", headers=auth(keys.manager))
    assert (load.status_code, load.json()["error"]["code"]) == (503, "locker_offline")


def test_a_door_the_locker_never_confirms_answers_503_and_the_code_works_again(
    client: TestClient,
    keys: Keys,
    api_runtime: GatewayRuntime,
    link: LockerLink,
    bank: FakeLockerBank,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(kiosk, "KIOSK_OPEN_WAIT_S", 1.0)
    stock(api_runtime, BERLIN, RICE, zone="aisle-1", quantity=5)
    order = new_order(client, keys)
    code = client.post(f"{ORDERS}/{order}/load", headers=auth(keys.manager)).json()["code"]
    bank.door("c01", "door_closed", occupied=True)
    wait_until(lambda: state(client, keys, order) == "ready", what="ready")
    bank.ack_pickups = False  # the controller went quiet
    silent = client.post(PICKUP, json={"code": code}, headers=auth(keys.kiosk))
    assert silent.status_code == 503, silent.text
    assert silent.json()["error"]["code"] == "door_not_confirmed"
    assert silent.headers["retry-after"] == str(kiosk.RETRY_AFTER_S)
    detail = client.get(f"{ORDERS}/{order}", headers=auth(keys.manager)).json()
    assert (detail["state"], detail["code_used_at"]) == ("ready", None)
    bank.ack_pickups = True
    again = client.post(PICKUP, json={"code": code}, headers=auth(keys.kiosk))
    assert again.status_code == 200, again.text
    assert again.json()["request"] == f"pickup:{order}:2"
    used = client.post(PICKUP, json={"code": code}, headers=auth(keys.kiosk))
    assert used.json()["error"]["code"] == "code_already_used"
