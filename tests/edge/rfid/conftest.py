"""Fixtures of the RFID tests: the small test store and a fresh dataset driver."""

from __future__ import annotations

import pytest
from rfid_helpers import Dataset, small_store

from smartstore.kernel.storeconfig import StoreConfig


@pytest.fixture
def store() -> StoreConfig:
    return small_store()


@pytest.fixture
def dataset(store: StoreConfig) -> Dataset:
    return Dataset(store)
