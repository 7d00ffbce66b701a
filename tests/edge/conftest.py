"""Fixtures of the edge tests: a fake clock and settings with short intervals in a temp state dir."""

from __future__ import annotations

import pytest
from edge_helpers import Broker, FakeClock

from smartstore.edge.rfid.settings import RfidSettings


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def rfid_settings() -> RfidSettings:
    return RfidSettings(stock_publish_interval_s=2.0, snapshot_interval_s=60.0, read_interval_s=1.0)


@pytest.fixture
def persistent_broker(mosquitto: Broker) -> Broker:
    """The private broker; its persistence survives stop()/start() (`user root` in tests/conftest.py)."""
    return mosquitto
