"""Fixtures for the simulated store: simulator factories and a subscriber that collects what it hears."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sim_helpers import Collector, CollectorFactory, SimFactory

from smartstore.devices.sim import SimSettings, Simulator
from smartstore.kernel.mqtt import MqttSettings
from smartstore.kernel.storeconfig import StoreConfig


@pytest.fixture
def make_sim(example_store: StoreConfig) -> Iterator[SimFactory]:
    """Build simulators on the example store (or another) and stop all of them after the test."""
    made: list[Simulator] = []

    def factory(store: StoreConfig | None = None, **settings: Any) -> Simulator:
        simulator = Simulator(SimSettings.model_validate(settings), store or example_store)
        made.append(simulator)
        return simulator

    yield factory
    for simulator in made:
        simulator.stop()


@pytest.fixture
def collectors() -> Iterator[CollectorFactory]:
    made: list[Collector] = []

    def factory(settings: MqttSettings, filters: list[str]) -> Collector:
        collector = Collector(settings, filters).start()
        made.append(collector)
        return collector

    yield factory
    for collector in made:
        collector.stop()
