"""on_stop_signals: SIGINT and SIGTERM call the stop callback instead of killing the process."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator

import pytest

from smartstore.kernel.shutdown import STOP_SIGNALS, on_stop_signals


@pytest.fixture(autouse=True)
def restore_handlers() -> Iterator[None]:
    saved = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_signal_calls_stop_and_is_logged(signum: int, caplog: pytest.LogCaptureFixture) -> None:
    stop = threading.Event()
    on_stop_signals(stop.set, "the test")
    with caplog.at_level(logging.INFO, logger="smartstore.kernel.shutdown"):
        signal.raise_signal(signum)
    assert stop.is_set()
    assert f"signal {signum}: stopping the test" in caplog.messages


def test_each_signal_calls_stop_again() -> None:
    calls: list[None] = []
    on_stop_signals(lambda: calls.append(None), "the test")
    signal.raise_signal(signal.SIGTERM)
    signal.raise_signal(signal.SIGTERM)
    assert len(calls) == 2
