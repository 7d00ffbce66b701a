"""Back-pressure when the outbox cannot store (disk full): hold the signals, pause input, alert, resume.

Processors have already moved on when their signals reach the outbox, so signals that cannot be stored
must not be dropped: the dispatcher keeps them and retries, and takes no further input meanwhile. Device
messages are acknowledged only after their signals are stored (manual acks), so the broker keeps what we
have not taken: the receive maximum bounds what waits in our queue, the persistent session the rest.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from smartstore.edge.drafts import draft
from smartstore.edge.outbox import Outbox
from smartstore.kernel.contract.payloads import AlertSignal, Severity, Signal

logger = logging.getLogger(__name__)

OUTBOX_BLOCKED_CAUSE = "edge.outbox_unwritable:{agent}"


class OutboxGuard:
    """Stores signals in the outbox, waiting (not dropping) while it fails; used by the dispatcher only."""

    def __init__(
        self,
        outbox: Outbox,
        agent_id: str,
        clock: Callable[[], float],
        stopping: threading.Event,
        *,
        retry_s: float,
        on_change: Callable[[bool], object] = lambda blocked: None,
    ) -> None:
        self._outbox = outbox
        self._agent_id = agent_id
        self._clock = clock
        self._stopping = stopping
        self._retry_s = retry_s
        self._on_change = on_change
        self.blocked_since: float | None = None
        self.failures = 0  # appends that failed, all incidents together
        self.incidents = 0
        self.gave_up = False  # stopping while blocked: what was held is not stored (nor acknowledged)

    @property
    def blocked(self) -> bool:
        return self.blocked_since is not None

    def store(self, signals: Sequence[Signal], handled: str | None = None) -> bool:
        """Append `signals` (from device message `handled`); while that fails, retry every `retry_s`
        until it works or the agent stops."""
        while True:
            batch = list(signals)
            if self.blocked_since is not None:
                batch.append(self._incident_alert(self._clock() - self.blocked_since))
            try:
                self._outbox.append(batch, handled)
            except Exception as error:
                self.failures += 1
                if self.blocked_since is None:
                    self.blocked_since = self._clock()
                    self.incidents += 1
                    logger.error(
                        "outbox cannot store signals (%s): device input PAUSED, the broker keeps it; "
                        "retrying every %.0f s",
                        error,
                        self._retry_s,
                    )
                    self._on_change(True)
                if self._stopping.wait(self._retry_s):
                    self.gave_up = True
                    logger.error(
                        "stopping while the outbox cannot store: %d signals not stored", len(signals)
                    )
                    return False
                continue
            if self.blocked_since is not None:
                logger.warning(
                    "outbox writable again after %.0f s: device input resumed",
                    self._clock() - self.blocked_since,
                )
                self.blocked_since = None
                self._on_change(False)
            return True

    def _incident_alert(self, lasted_s: float) -> AlertSignal:
        return AlertSignal(
            **draft(self._clock()),
            cause=OUTBOX_BLOCKED_CAUSE.format(agent=self._agent_id),
            action="raise",
            severity=Severity.CRITICAL,
            message=(
                f"edge agent {self._agent_id} could not write its outbox for {lasted_s:.0f} s (disk full?); "
                "device input was paused meanwhile and nothing was dropped. Free disk space on the edge box."
            ),
        )
