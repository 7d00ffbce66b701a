"""Fixtures of the edge tests: a fake clock and settings with short intervals in a temp state dir."""

from __future__ import annotations

import os

import pytest
from edge_helpers import Broker, FakeClock

from edge.config import RfidSettings


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def rfid_settings() -> RfidSettings:
    return RfidSettings(stock_publish_interval_s=2.0, snapshot_interval_s=60.0, read_interval_s=1.0)


@pytest.fixture
def persistent_broker(mosquitto: Broker) -> Broker:
    """The private broker, restarted so its persistence file is writable and survives `stop()`/`start()`.

    Started as root, Mosquitto drops to the `mosquitto` user, which cannot write into pytest's tmp dir:
    sessions of offline subscribers would then be lost across a restart.
    """
    if os.geteuid() == 0:
        mosquitto.stop()
        config = mosquitto.config_path.read_text(encoding="utf-8")
        mosquitto.config_path.write_text(config + "\nuser root\n", encoding="utf-8")
        mosquitto.start()
    return mosquitto
