"""Pure: from when the outbox sends acknowledged signals again, so that a broker's loss is not ours.

A PUBACK means the broker holds a message in memory, not that the gateway applied it. Mosquitto 2.0
writes its state only every `autosave_interval`, so a broker killed meanwhile loses what it acknowledged;
and while the gateway is away, everything queued for it lives only in the broker. A signal is taken as
confirmed once the gateway was online after it was acknowledged plus a margin (`window_s`); everything
acknowledged since `unconfirmed_since` is sent again (same ids, so the gateway applies each once) when
the gateway announces itself online — after its subscription exists, so replays cannot fall into a
broker that has no session for it yet.
"""

from __future__ import annotations

import math


class ReplayMarks:
    """The rules; the outbox owns the rows and persists `unconfirmed_since`. Times are the outbox clock's."""

    def __init__(self, window_s: float, new_session_s: float, unconfirmed_since: float | None = None) -> None:
        self.window_s = window_s
        self.new_session_s = new_session_s
        self.unconfirmed_since = unconfirmed_since

    def _unconfirmed(self, since: float) -> None:
        if self.unconfirmed_since is None or since < self.unconfirmed_since:
            self.unconfirmed_since = since

    def connected(self, session_present: bool, newest_sent: float | None) -> None:
        """Our connection is new: the broker may have restarted from an older save, or from nothing
        (no session of ours: it lost its whole state, so take a longer look back)."""
        if newest_sent is not None and self.window_s > 0:
            self._unconfirmed(newest_sent - (self.window_s if session_present else self.new_session_s))

    def gateway_offline(self, now: float) -> None:
        """The gateway left (its Last Will or offline status, seen up to 1.5 keepalives late)."""
        if self.window_s > 0:
            self._unconfirmed(now - self.window_s)

    def gateway_online(self, newest_sent: float | None) -> float | None:
        """The gateway is back and subscribed: the PUBACK time from which to send again, or None."""
        since = self.unconfirmed_since
        self.unconfirmed_since = None
        if newest_sent is None or self.window_s <= 0:
            return None
        return min(since if since is not None else math.inf, newest_sent - self.window_s)
