"""Gateway fixtures: a synced runtime on a real database, running signal consumers, a QoS 1 publisher."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from gateway_helpers import UNREACHABLE_BROKER, Publisher, RuntimeConsumer, Signals

from smartstore.gateway.config import GatewaySettings
from smartstore.gateway.inventory.catalog import sync_stores
from smartstore.gateway.runtime import GatewayRuntime
from smartstore.kernel.mqtt import MqttSettings
from smartstore.kernel.storeconfig import EXAMPLE_STORE

RuntimeFactory = Callable[..., GatewayRuntime]
ConsumerFactory = Callable[..., RuntimeConsumer]


@pytest.fixture
def runtime_factory(db_url: str) -> Iterator[RuntimeFactory]:
    """Build synced runtimes on the test database; `mqtt` and any GatewaySettings field may be given."""
    built: list[GatewayRuntime] = []

    def build(mqtt: MqttSettings = UNREACHABLE_BROKER, **overrides: Any) -> GatewayRuntime:
        settings = GatewaySettings(db_url=db_url, stores=[EXAMPLE_STORE], mqtt=mqtt, **overrides)
        runtime = GatewayRuntime.build(settings)
        sync_stores(runtime.sessions, runtime.stores)
        built.append(runtime)
        return runtime

    yield build
    for runtime in built:
        runtime.engine.dispose()


@pytest.fixture
def runtime(runtime_factory: RuntimeFactory) -> GatewayRuntime:
    """The example store synced into a fresh database (SQLite and PostgreSQL); no broker."""
    return runtime_factory()


@pytest.fixture
def consumer_factory(runtime_factory: RuntimeFactory, mosquitto: Any) -> Iterator[ConsumerFactory]:
    """Start signal consumers against the private broker; each is stopped at the end of the test."""
    started: list[RuntimeConsumer] = []

    def start(
        runtime: GatewayRuntime | None = None, protocol: str = "5", **overrides: Any
    ) -> RuntimeConsumer:
        if runtime is None:
            mqtt = MqttSettings(url=mosquitto.url, protocol=protocol)
            runtime = runtime_factory(mqtt=mqtt, gateway_id=f"gw-{uuid.uuid4().hex[:8]}", **overrides)
        consumer = RuntimeConsumer(runtime)
        consumer.start()
        assert consumer.wait_ready(10), "consumer did not connect and subscribe"
        started.append(consumer)
        return consumer

    yield start
    for consumer in started:
        consumer.stop()


@pytest.fixture
def publisher(mosquitto: Any) -> Iterator[Publisher]:
    pub = Publisher(mosquitto.url).connect()
    yield pub
    pub.close()


@pytest.fixture
def signals() -> Signals:
    return Signals()
