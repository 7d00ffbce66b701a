"""Fixtures of the fault tests: the real processes a test started are killed when it ends."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fault_helpers import Device, Edge, Gateway


@pytest.fixture
def processes() -> Iterator[list[Any]]:
    started: list[Edge | Gateway | Device] = []
    yield started
    for process in started:
        if isinstance(process, Device):
            process.close()
        else:
            process.kill()
