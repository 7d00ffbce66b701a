"""The gateway's handle on the ingest receiver process: spawn it, talk to it, replace it if it dies."""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import threading
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from smartstore.gateway.ingest.receiver import RawMessage, ReceiverSettings, ReceiverShared, receiver_main

logger = logging.getLogger(__name__)

# spawn, not fork: the gateway runs uvicorn and writer threads, whose locks a fork would copy held.
_CONTEXT = multiprocessing.get_context("spawn")
_GENERATIONS_PER_INCARNATION = 1 << 32


class ReceiverDiedError(Exception):
    """The receiver process ended without being asked to."""


class ReceiverProcess:
    """One receiver incarnation at a time; `restart()` replaces a dead one with a fresh one.

    Sends come from the writer thread (acks) and from `stop()`, hence the lock; only the gateway's
    reader thread receives.
    """

    def __init__(self, settings: ReceiverSettings) -> None:
        self._settings = settings
        self._send_lock = threading.Lock()
        self._incarnation = 0
        self.connected = _CONTEXT.Event()
        self.subscribed = _CONTEXT.Event()
        self.received = _CONTEXT.RawValue("q", 0)
        self._process: BaseProcess | None = None
        self._channel: Connection | None = None

    @property
    def generation_base(self) -> int:
        return self._incarnation * _GENERATIONS_PER_INCARNATION

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        self._incarnation += 1
        self.connected.clear()
        self.subscribed.clear()
        self.received = _CONTEXT.RawValue("q", 0)
        ours, theirs = _CONTEXT.Pipe(duplex=True)
        settings = dataclasses.replace(self._settings, generation_base=self.generation_base)
        shared = ReceiverShared(self.connected, self.subscribed, self.received)
        process = _CONTEXT.Process(
            target=receiver_main, args=(settings, shared, theirs), name="ingest-receiver", daemon=True
        )
        process.start()
        # Only the child may hold its end: its exit must read as end-of-file here.
        theirs.close()
        self._process, self._channel = process, ours
        logger.info("ingest receiver started (pid %s)", process.pid)

    def receive(self) -> list[RawMessage] | None:
        """The next chunk; None once the receiver has drained after `request_stop()`."""
        assert self._channel is not None
        try:
            chunk: list[RawMessage] | None = self._channel.recv()
        except (EOFError, OSError) as error:
            raise ReceiverDiedError(f"exit code {self.exitcode()}") from error
        return chunk

    def ack(self, generation: int, mids: list[int], done: int) -> None:
        self._send(("ack", generation, mids, done))

    def request_stop(self) -> None:
        self._send(("stop",))

    def finish(self, timeout: float) -> None:
        """Let the receiver disconnect cleanly (offline status), then make sure it is gone."""
        self._send(("bye",))
        process = self._process
        if process is None:
            return
        process.join(timeout)
        if process.is_alive():
            logger.error("ingest receiver did not exit within %.0f s; killing it", timeout)
            process.kill()
            process.join(5)
        self._close()

    def kill(self) -> None:
        if self._process is not None and self._process.is_alive():
            self._process.kill()
            self._process.join(5)
        self._close()

    def exitcode(self) -> int | None:
        if self._process is None:
            return None
        self._process.join(1)
        return self._process.exitcode

    def _close(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        self.connected.clear()

    def _send(self, request: tuple[object, ...]) -> None:
        with self._send_lock:
            channel = self._channel
            if channel is None:
                return
            try:
                channel.send(request)
            except (OSError, ValueError):
                # A dead receiver is noticed (and replaced) by the reader thread; nothing to do here.
                logger.debug("ingest receiver unreachable for %s", request[0])
