"""Stopping a long-running command on SIGINT (Ctrl-C) or SIGTERM (a service manager, the demo)."""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from types import FrameType

logger = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def on_stop_signals(stop: Callable[[], object], what: str) -> None:
    """From now on each stop signal logs and calls `stop` (say `threading.Event.set`); main thread only.

    `stop` runs inside the signal handler, between two bytecodes of the main thread, so it should only
    flag the stop; the main loop does the stopping.
    """

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        logger.info("signal %d: stopping %s", signum, what)
        stop()

    for signum in STOP_SIGNALS:
        signal.signal(signum, request_stop)
