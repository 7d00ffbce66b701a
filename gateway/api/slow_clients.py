"""uvicorn's h11 protocol with a deadline for each request's line and headers (slow clients, slowloris).

uvicorn times out only the idle time between requests (`timeout_keep_alive`), and each byte received
stops that timer: a client that sends its request head one byte every few seconds held its connection
(and one of `limit_concurrency`'s places) for ever. Here a request's head must be complete within
`request_head_timeout_s` of the connection, or of the end of the previous response on a kept-alive one;
then the connection is closed (with a 408 when part of a head had arrived). The body's own deadline and
size are the API's (`ApiGuard`); the head's size is h11's `max_incomplete_event_size`.
"""

from __future__ import annotations

import asyncio
import logging

from uvicorn.protocols.http.h11_impl import H11Protocol, RequestResponseCycle

logger = logging.getLogger(__name__)

# Written on the raw transport: h11 cannot send a response to a request it has not parsed yet.
REQUEST_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: 29\r\n"
    b"connection: close\r\n"
    b"\r\n"
    b"request head not sent in time"
)


class HeadTimeoutH11Protocol(H11Protocol):
    """H11Protocol that closes a connection whose request head is not complete in time."""

    request_head_timeout_s: float = 10.0

    _head_timer: asyncio.TimerHandle | None = None
    # The cycle current when the timer was armed: uvicorn makes a new one once a request's head is parsed.
    _cycle_at_arm: RequestResponseCycle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        if self._head_timer is not None and (
            self.cycle is not self._cycle_at_arm or self.transport.get_protocol() is not self
        ):
            # A head was parsed (a request cycle started) or the connection was upgraded to a WebSocket.
            self._cancel_head_timer()

    def on_response_complete(self) -> None:
        if not self.transport.is_closing():
            # Armed before uvicorn parses a pipelined request (handle_events then disarms it at once).
            self._arm_head_timer()
        super().on_response_complete()

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._cycle_at_arm = self.cycle
        self._head_timer = self.loop.call_later(self.request_head_timeout_s, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or self.transport.get_protocol() is not self:
            return
        partial_head, _ = self.conn.trailing_data
        # Debug, not warning: under a slowloris attack this would be one line per attacking connection.
        logger.debug(
            "closing connection from %s: request head not complete within %.1f s (%d bytes received)",
            self.client,
            self.request_head_timeout_s,
            len(partial_head),
        )
        if partial_head:
            self.transport.write(REQUEST_TIMEOUT_RESPONSE)
        self.transport.close()


def head_timeout_protocol(request_head_timeout_s: float) -> type[HeadTimeoutH11Protocol]:
    """The protocol class to give `uvicorn.Config(http=...)`; uvicorn instantiates it per connection."""
    if request_head_timeout_s <= 0:
        raise ValueError("request_head_timeout_s must be > 0")
    return type(
        "HeadTimeoutH11Protocol",
        (HeadTimeoutH11Protocol,),
        {"request_head_timeout_s": request_head_timeout_s},
    )
