"""Dashboard fixtures: a running gateway (ingest + services + HTTP) on a real broker and database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dashboard_helpers import GatewayFactory, Publisher, RunningGateway, start_gateway

from smartstore.kernel.storeconfig import EXAMPLE_STORE


@pytest.fixture
def gateway_factory(mosquitto: Any) -> Iterator[GatewayFactory]:
    """Start gateways on the private broker; each is stopped at the end of the test."""
    started: list[RunningGateway] = []

    def start(db_url: str, stores: list[Path] | None = None, **options: Any) -> RunningGateway:
        gateway = start_gateway(db_url, mosquitto.url, stores or [EXAMPLE_STORE], **options)
        started.append(gateway)
        return gateway

    yield start
    for gateway in reversed(started):
        gateway.stop()


@pytest.fixture
def publisher(mosquitto: Any) -> Iterator[Publisher]:
    pub = Publisher(mosquitto.url).connect()
    yield pub
    pub.close()
