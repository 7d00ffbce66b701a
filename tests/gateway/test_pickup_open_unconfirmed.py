"""A kiosk pickup whose door never confirms opening gives its code back; stock is taken once, late or not."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from gateway_helpers import Publisher, RuntimeConsumer, send
from locker_helpers import (
    LOCKER,
    RICE,
    SECRET,
    STORE,
    FakeLockerBank,
    create,
    figures,
    now,
    ready,
    running_locker_link,
    stock,
)
from polling import wait_until
from sqlalchemy import select

from smartstore.gateway.api.errors import ApiError
from smartstore.gateway.api.routes import kiosk
from smartstore.gateway.db.lockers import CodeAttempt, CompartmentState, PickupOrder
from smartstore.gateway.db.util import as_utc
from smartstore.gateway.lockers.code_entry import PickupAttempt, PickupResult, pickup_with_code
from smartstore.gateway.lockers.lifecycle import get_order
from smartstore.gateway.lockers.pickup_opens import PICKUP_OPEN_TIMEOUT_S
from smartstore.gateway.runtime import GatewayRuntime
from smartstore.kernel.contract import payloads as p

ConsumerFactory = Callable[..., RuntimeConsumer]


@pytest.fixture
def gateway(consumer_factory: ConsumerFactory, mosquitto: Any) -> Iterator[RuntimeConsumer]:
    """The ingest (pickup signals) and the locker link on one runtime and a real broker."""
    consumer = consumer_factory()
    with running_locker_link(consumer.runtime, consumer.runtime.settings.mqtt, SECRET):
        yield consumer


@pytest.fixture
def locker(mosquitto: Any) -> Iterator[FakeLockerBank]:
    fake = FakeLockerBank(mosquitto.url, ack_pickups=False)  # gone quiet: answers only when told
    yield fake
    fake.close()


@pytest.fixture(autouse=True)
def short_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kiosk, "KIOSK_OPEN_WAIT_S", 1.0)


def try_code(runtime: GatewayRuntime, code: str) -> PickupAttempt:
    with runtime.sessions() as session:
        attempt = pickup_with_code(
            session,
            runtime.stores[STORE],
            LOCKER,
            code,
            by="kiosk",
            at=now(),
            secret=SECRET,
            source="visit-1",
        )
        session.commit()
        return attempt


def kiosk_open(runtime: GatewayRuntime, attempt: PickupAttempt) -> int | ApiError:
    """What the kiosk route does once the code is accepted: open, wait for the locker, answer."""
    with runtime.sessions() as session:
        try:
            response = kiosk.open_for_customer(
                runtime, session, runtime.stores[STORE], LOCKER, attempt, "kiosk"
            )
        except ApiError as error:
            return error
        return response.status_code


def order_row(runtime: GatewayRuntime, order: str) -> PickupOrder:
    with runtime.sessions() as session:
        row = get_order(session, STORE, order)
        _ = row.transitions
        return row


def audit(runtime: GatewayRuntime, order: str) -> list[str]:
    with runtime.sessions() as session:
        query = select(CodeAttempt.result).where(CodeAttempt.order_id == order).order_by(CodeAttempt.id)
        return list(session.scalars(query))


def pickup_signal(order: str, compartment: str, **extra: Any) -> p.PickupSignal:
    return p.PickupSignal(
        **p.envelope(1),
        locker=LOCKER,
        compartment=compartment,
        order=order,
        lines=[p.PickupLine(gtin=RICE, quantity=1)],
        **extra,
    )


def settle(consumer: RuntimeConsumer, total: int) -> None:
    wait_until(lambda: consumer.stats.applied + consumer.stats.duplicates == total, what=f"{total} signals")


def test_a_silent_locker_gives_the_code_back_and_a_retry_opens(
    gateway: RuntimeConsumer, locker: FakeLockerBank, publisher: Publisher
) -> None:
    runtime = gateway.runtime
    stock(runtime, RICE, 5)
    order = create(runtime, [(RICE, 1)])
    loading = ready(runtime, order)
    first = try_code(runtime, loading.code)
    assert first.result is PickupResult.OPENED
    refused = kiosk_open(runtime, first)
    assert isinstance(refused, ApiError)
    assert (refused.status_code, refused.code) == (503, "door_not_confirmed")
    assert refused.headers is not None
    assert refused.headers["Retry-After"] == str(kiosk.RETRY_AFTER_S)
    wait_until(lambda: len(locker.commands) == 1, what="the open command on the wire")
    row = order_row(runtime, order)
    assert (row.state, row.code_used_at) == ("ready", None)
    assert row.transitions[-1].note.startswith(f"open_unconfirmed: pickup:{order}:1")
    assert audit(runtime, order) == ["opened", "open_unconfirmed"]
    wait_until(lambda: locker.in_manifest(order), what="the code back in the edge's manifest")
    # The customer tries again at once; this time the locker answers.
    locker.ack_pickups = True
    second = try_code(runtime, loading.code)
    assert (second.result, second.request) == (PickupResult.OPENED, f"pickup:{order}:2")
    assert kiosk_open(runtime, second) == 200
    assert try_code(runtime, loading.code).result is PickupResult.USED
    # The edge reports the pickup (twice: online, then from its offline queue): stock taken once.
    send(publisher, pickup_signal(order, loading.compartment))
    send(publisher, pickup_signal(order, loading.compartment, offline=True))
    settle(gateway, 2)
    assert figures(runtime, RICE) == {"on_hand": 4, "reserved": 0, "atp": 4}
    assert order_row(runtime, order).state == "picked_up"


def test_an_ack_after_the_give_back_uses_the_code_but_takes_nothing_twice(
    gateway: RuntimeConsumer, locker: FakeLockerBank, publisher: Publisher
) -> None:
    runtime = gateway.runtime
    stock(runtime, RICE, 5)
    order = create(runtime, [(RICE, 1)])
    loading = ready(runtime, order)
    attempt = try_code(runtime, loading.code)
    assert isinstance(kiosk_open(runtime, attempt), ApiError)
    assert order_row(runtime, order).code_used_at is None
    commands = len(locker.commands)
    # The controller comes back and answers the old command: the door did open, late.
    locker.ack(f"pickup:{order}:1", "done")
    wait_until(lambda: order_row(runtime, order).code_used_at is not None, what="the late ack")
    assert audit(runtime, order) == ["opened", "open_unconfirmed", "opened_late"]
    assert try_code(runtime, loading.code).result is PickupResult.USED  # no second open for it
    wait_until(lambda: not locker.in_manifest(order), what="the code out of the manifest again")
    assert len(locker.commands) == commands  # the gateway opened nothing because of the late ack
    send(publisher, pickup_signal(order, loading.compartment))
    settle(gateway, 1)
    assert figures(runtime, RICE) == {"on_hand": 4, "reserved": 0, "atp": 4}
    # Acks of an order that is over change nothing.
    locker.ack(f"pickup:{order}:1", "done")
    send(publisher, pickup_signal(order, loading.compartment, offline=True))
    settle(gateway, 2)
    assert figures(runtime, RICE) == {"on_hand": 4, "reserved": 0, "atp": 4}
    assert order_row(runtime, order).state == "picked_up"


def test_the_sweep_gives_back_codes_of_opens_never_confirmed(
    gateway: RuntimeConsumer, locker: FakeLockerBank
) -> None:
    """A kiosk that died while waiting (or a gateway restart): the sweeper gives the code back."""
    runtime = gateway.runtime
    assert runtime.lockers is not None
    stock(runtime, RICE, 5)
    silent, answered = create(runtime, [(RICE, 1)]), create(runtime, [(RICE, 1)])
    silent_load, answered_load = ready(runtime, silent), ready(runtime, answered)
    assert try_code(runtime, silent_load.code).result is PickupResult.OPENED
    assert try_code(runtime, answered_load.code).result is PickupResult.OPENED
    locker.ack(f"pickup:{answered}:1", "done")
    wait_until(lambda: _confirmed(runtime, answered), what="the ack of the answered order")
    assert runtime.lockers.sweep(now()) == 0  # within the timeout: held
    later = now() + timedelta(seconds=PICKUP_OPEN_TIMEOUT_S + 1)
    assert runtime.lockers.sweep(later) == 1
    assert order_row(runtime, silent).code_used_at is None
    assert order_row(runtime, answered).code_used_at is not None
    assert audit(runtime, silent) == ["opened", "open_unconfirmed"]
    assert runtime.lockers.sweep(later) == 0  # once
    assert try_code(runtime, silent_load.code).request == f"pickup:{silent}:2"


def test_a_retry_after_the_timeout_opens_without_waiting_for_the_sweep(gateway: RuntimeConsumer) -> None:
    runtime = gateway.runtime
    stock(runtime, RICE, 5)
    order = create(runtime, [(RICE, 1)])
    loading = ready(runtime, order)
    assert try_code(runtime, loading.code).result is PickupResult.OPENED
    assert try_code(runtime, loading.code).result is PickupResult.USED  # still held: may be opening
    with runtime.sessions() as session:
        later = now() + timedelta(seconds=PICKUP_OPEN_TIMEOUT_S + 1)
        again = pickup_with_code(
            session, runtime.stores[STORE], LOCKER, loading.code, by="kiosk", at=later, secret=SECRET
        )
        session.commit()
    assert (again.result, again.request) == (PickupResult.OPENED, f"pickup:{order}:2")
    assert audit(runtime, order) == ["opened", "open_unconfirmed", "opened"]


def _confirmed(runtime: GatewayRuntime, order: str) -> bool:
    with runtime.sessions() as session:
        row = get_order(session, STORE, order)
        assert row.compartment_id is not None
        assert row.code_used_at is not None
        compartment = session.get(CompartmentState, (STORE, LOCKER, row.compartment_id))
        assert compartment is not None
        return as_utc(compartment.updated_at) > as_utc(row.code_used_at)
