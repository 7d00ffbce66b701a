"""Fixtures for the LLRP bridge: llrpkit's emulator over TCP, a bridge factory, a reads/status watcher."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from llrp_helpers import READER, BridgeFactory, BridgeThread, EmulatorThread, ReaderWatcher, epc
from llrpkit.emulator import EmulatedTag

from smartstore.devices.llrp import BackoffSettings, ReaderBridgeSettings, settings_for_reader
from smartstore.kernel.storeconfig import StoreConfig


@pytest.fixture
def population() -> list[EmulatedTag]:
    """Six tags on the reader's two configured antennas, one on port 3 which the store does not use."""
    tags = [EmulatedTag(epc=epc(i), antennas=(1 + i % 2,), rssi_dbm=-48.0 - 3 * i) for i in range(6)]
    return [*tags, EmulatedTag(epc=epc(99), antennas=(3,), rssi_dbm=-50.0)]


@pytest.fixture
def emulator(population: list[EmulatedTag]) -> Iterator[EmulatorThread]:
    emulator = EmulatorThread(population).start()
    yield emulator
    emulator.close()


@pytest.fixture
def watcher(mosquitto: Any, example_store: StoreConfig) -> Iterator[ReaderWatcher]:
    watcher = ReaderWatcher(mosquitto.settings, example_store.store.id, READER).start()
    yield watcher
    watcher.stop()


@pytest.fixture
def bridge_settings(
    mosquitto: Any, example_store: StoreConfig, emulator: EmulatorThread
) -> Callable[..., ReaderBridgeSettings]:
    """Fast test timings: 200 ms batches, 300 ms keepalives, reconnects within a second."""

    def make(**overrides: Any) -> ReaderBridgeSettings:
        values: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": emulator.port,
            "mqtt": mosquitto.settings,
            "report_interval_ms": 200,
            "keepalive_ms": 300,
            "connect_timeout_s": 2.0,
            "response_timeout_s": 2.0,
            "backoff": BackoffSettings(initial_s=0.2, max_s=1.0, stable_s=0.0),
        }
        values.update(overrides)
        return settings_for_reader(example_store, READER, **values)

    return make


@pytest.fixture
def start_bridge(bridge_settings: Callable[..., ReaderBridgeSettings]) -> Iterator[BridgeFactory]:
    started: list[BridgeThread] = []

    def factory(**overrides: Any) -> BridgeThread:
        bridge = BridgeThread(bridge_settings(**overrides)).start()
        started.append(bridge)
        return bridge

    yield factory
    for bridge in started:
        bridge.stop()
