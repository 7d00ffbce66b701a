"""The reader bridge: keeps an LLRP session up (backoff), publishes ReadBatches and a truthful status."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter, deque
from dataclasses import replace

from llrpkit import LLRPError
from llrpkit.inventory import TagReport

from smartstore.devices.llrp.backoff import Backoff
from smartstore.devices.llrp.batching import ReadAggregator, RejectedRead
from smartstore.devices.llrp.session import ReaderIdentity, run_session
from smartstore.devices.llrp.settings import ReaderBridgeSettings
from smartstore.devices.llrp.status import ReaderLink, ReaderState
from smartstore.kernel.contract import topics
from smartstore.kernel.contract.payloads import ReadBatch, RssiUnit, encode, envelope

logger = logging.getLogger(__name__)

DEAD_LETTERS_KEPT = 200
_FINAL_PUBLISH_WAIT_S = 2.0


class ReaderBridge:
    """Owns all bridge state on one event loop (session callbacks, flush timer), so it needs no locks.

    While inventorying it publishes a batch every report interval, empty when the field is empty, so
    silence means something. `online` + `inventorying=false` means the bridge is up but the reader is
    not inventorying (link down, reconnecting): no batches then, and no departures may be inferred.
    """

    def __init__(self, settings: ReaderBridgeSettings, *, rng: random.Random | None = None) -> None:
        self.settings = settings
        self.state = ReaderState()
        self.reads_topic = topics.rfid_reads(settings.store, settings.reader)
        self.link = ReaderLink(
            settings.mqtt,
            f"llrp-{settings.store}-{settings.reader}",
            status_topic=topics.status(settings.store, topics.Kind.RFID, settings.reader),
            snapshot=lambda: self.state,
        )
        self.aggregator = ReadAggregator(frozenset(settings.antennas))
        self.rejections: Counter[str] = Counter()
        self.dead_letters: deque[RejectedRead] = deque(maxlen=DEAD_LETTERS_KEPT)
        self.seq = 0
        self.batches_published = 0
        self._backoff = Backoff(settings.backoff, rng)
        self._inventorying_since: float | None = None
        self._status_published_at = 0.0
        self._published_state: ReaderState | None = None

    # -- the owner loop ------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Bridge until `stop` is set, then stop the ROSpec, close LLRP, flush and go offline."""
        self.link.start()
        flusher = asyncio.create_task(self._flush_every_interval(), name="llrp-flush")
        try:
            await self._keep_session(stop)
        finally:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
            self._flush()
            await asyncio.to_thread(self._finish_publishing)
            logger.info(
                "reader bridge %s stopped: %d batches published, rejected reads %s",
                self.settings.reader,
                self.batches_published,
                dict(self.rejections) or "none",
            )

    async def _keep_session(self, stop: asyncio.Event) -> None:
        settings = self.settings
        while not stop.is_set():
            session = asyncio.create_task(run_session(settings, self), name=f"llrp-{settings.reader}")
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait({session, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if not session.done():
                session.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await session
                return
            error = session.exception()
            self._link_down()
            delay = self._next_delay()
            if not isinstance(error, LLRPError | OSError):
                logger.error("reader session of %s failed unexpectedly", settings.reader, exc_info=error)
            logger.warning(
                "reader %s at %s:%d: %s; reconnecting in %.1fs",
                settings.reader,
                settings.host,
                settings.port,
                error or "session ended",
                delay,
            )
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await stop.wait()

    def _next_delay(self) -> float:
        since, self._inventorying_since = self._inventorying_since, None
        if since is not None and time.monotonic() - since >= self.settings.backoff.stable_s:
            self._backoff.reset()
        return self._backoff.next_delay()

    def _link_down(self) -> None:
        # Reads taken before the drop are real: send them before saying the reader stopped.
        self._flush()
        if self.state.llrp_connected or self.state.inventorying:
            self._set_state(replace(self.state, llrp_connected=False, inventorying=False))

    # -- session callbacks (SessionListener) ---------------------------------------------------

    def on_connected(self, identity: ReaderIdentity, antennas_down: frozenset[int]) -> None:
        logger.info(
            "reader %s connected: model %s, firmware %s, %d antenna ports%s",
            self.settings.reader,
            identity.model,
            identity.firmware,
            identity.max_antennas,
            f", ports down: {sorted(antennas_down)}" if antennas_down else "",
        )
        self._set_state(
            replace(
                self.state,
                llrp_connected=True,
                model=identity.model,
                firmware=identity.firmware,
                extensions=identity.extensions,
                antennas_down=antennas_down,
                llrp_sessions=self.state.llrp_sessions + 1,
            )
        )

    def on_inventorying(self) -> None:
        self._inventorying_since = time.monotonic()
        self._set_state(replace(self.state, inventorying=True))

    def on_tag(self, report: TagReport) -> None:
        rejected = self.aggregator.add(report)
        if rejected is not None:
            self.on_rejected(rejected)
        elif self.aggregator.full:
            self._flush()

    def on_rejected(self, rejected: RejectedRead) -> None:
        self.rejections[rejected.reason] += 1
        self.dead_letters.append(rejected)
        # The first of each kind is worth a warning; a reader repeating it hundreds of times a second is not.
        log = logger.warning if self.rejections[rejected.reason] == 1 else logger.debug
        log(
            "rejected read %s from %s: %s (%s)",
            rejected.epc,
            self.settings.reader,
            rejected.reason,
            rejected.detail,
        )
        self.state = replace(self.state, reads_rejected=self.state.reads_rejected + 1)

    def on_antenna(self, port: int, connected: bool) -> None:
        if port not in self.settings.antennas:
            logger.debug("antenna event for unconfigured port %d ignored", port)
            return
        down = self.state.antennas_down - {port} if connected else self.state.antennas_down | {port}
        if down != self.state.antennas_down:
            log = logger.info if connected else logger.warning
            log(
                "reader %s antenna %d %s",
                self.settings.reader,
                port,
                "connected" if connected else "disconnected",
            )
            self._set_state(replace(self.state, antennas_down=down))

    # -- publishing -----------------------------------------------------------------------------

    def _set_state(self, state: ReaderState) -> None:
        self.state = state
        self._publish_status()

    def _publish_status(self) -> None:
        if self.link.publish_status():
            self._published_state = self.state
            self._status_published_at = time.monotonic()

    async def _flush_every_interval(self) -> None:
        interval = self.settings.report_interval_s
        while True:
            await asyncio.sleep(interval)
            try:
                # While inventorying an empty batch is news too: the reader is watching and sees nothing.
                self._flush(heartbeat=self.state.inventorying)
                self._refresh_status()
            except Exception:
                logger.exception("flushing reads of %s failed", self.settings.reader)

    def _refresh_status(self) -> None:
        """Counters change without a state change; republish them now and then, not on every read."""
        due = time.monotonic() - self._status_published_at >= self.settings.status_refresh_s
        if due and self.state != self._published_state:
            self._publish_status()

    def _flush(self, *, heartbeat: bool = False) -> None:
        reads, rejected = self.aggregator.drain()
        for item in rejected:
            self.on_rejected(item)
        if not reads and not heartbeat:
            return
        # Numbered before the bound is checked, so a dropped batch shows up as a gap downstream.
        self.seq += 1
        unacked = self.link.unacked()
        if unacked >= self.settings.max_unacked_batches:
            self.state = replace(self.state, batches_dropped=self.state.batches_dropped + 1)
            log = logger.warning if self.state.batches_dropped == 1 else logger.debug
            log("broker has not confirmed %d batches; dropping batch %d", unacked, self.seq)
            return
        batch = ReadBatch(**envelope(self.seq), reads=reads, rssi_unit=RssiUnit.DBM)
        self.link.publish_tracked(self.reads_topic, encode(batch))
        self.batches_published += 1

    def _finish_publishing(self) -> None:
        """Give the broker a moment to confirm the last batches, then publish 'offline' and disconnect."""
        deadline = time.monotonic() + _FINAL_PUBLISH_WAIT_S
        while self.link.connected.is_set() and self.link.unacked() and time.monotonic() < deadline:
            time.sleep(0.02)
        if self.link.unacked():
            logger.warning("%d batches unconfirmed by the broker at stop", self.link.unacked())
        self.link.stop()
