"""One LLRP session with llrpkit: connect, capabilities, keepalives, ROSpec add/enable/start, then stream."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from llrpkit import (
    CapabilityError,
    LLRPClient,
    LLRPConnectionError,
    LLRPError,
    LLRPStatusError,
    LLRPTimeoutError,
    Reader,
)
from llrpkit.client import check_status
from llrpkit.inventory import TagReport, build_rospec
from llrpkit.protocol import LLRPMessage, enums, messages, params

from smartstore.devices.llrp.batching import ReadRejectReason, RejectedRead
from smartstore.devices.llrp.settings import ReaderBridgeSettings

logger = logging.getLogger(__name__)

ROSPEC_ID = 0x534D  # "SM": the ROSpec this bridge owns on the reader
_NOTIFIED_EVENTS = (
    enums.NotificationEventType.Antenna_Event,
    enums.NotificationEventType.ROSpec_Event,
    enums.NotificationEventType.Reader_Exception_Event,
)
_CLOSE_TIMEOUT_S = 1.5


@dataclass(frozen=True, slots=True)
class ReaderIdentity:
    """What the reader says it is, from GET_READER_CAPABILITIES."""

    model: str
    firmware: str
    max_antennas: int
    impinj: bool
    # "impinj" (Octane extensions on), "refused" (an Impinj reader that refused them: standard LLRP),
    # or "none" (a reader without them).
    extensions: str


class SessionListener(Protocol):
    """Where a session delivers what the reader says; called on the session's event loop."""

    def on_connected(self, identity: ReaderIdentity, antennas_down: frozenset[int]) -> None: ...

    def on_inventorying(self) -> None: ...

    def on_tag(self, report: TagReport) -> None: ...

    def on_rejected(self, rejected: RejectedRead) -> None: ...

    def on_antenna(self, port: int, connected: bool) -> None: ...


class WatchedClient(LLRPClient):
    """An LLRPClient that notes when the reader last sent anything, so a silent link is caught.

    llrpkit acknowledges KEEPALIVEs itself but does not time their absence; a half-open TCP
    connection (reader unplugged, NAT timeout) would otherwise look alive forever.
    """

    def __init__(self, host: str, port: int, *, response_timeout: float, connect_timeout: float) -> None:
        super().__init__(host, port, response_timeout=response_timeout, connect_timeout=connect_timeout)
        self.last_received = time.monotonic()

    async def connect(self) -> None:
        self.last_received = time.monotonic()
        await super().connect()

    def _dispatch(self, msg: LLRPMessage) -> None:
        self.last_received = time.monotonic()
        super()._dispatch(msg)

    async def abort(self) -> None:
        """Drop the transport at once, without the CLOSE_CONNECTION round trip a dead link cannot answer."""
        await self._abort()


async def run_session(settings: ReaderBridgeSettings, listener: SessionListener) -> None:
    """Run one session until the link fails (raises an LLRPError) or the task is cancelled (clean stop)."""
    reader = Reader(
        settings.host,
        settings.port,
        response_timeout=settings.response_timeout_s,
        connect_timeout=settings.connect_timeout_s,
    )
    client = WatchedClient(
        settings.host,
        settings.port,
        response_timeout=settings.response_timeout_s,
        connect_timeout=settings.connect_timeout_s,
    )
    reader.client = client
    started = False
    try:
        refused = await _connect(reader, settings)
        antennas = _usable_antennas(settings, reader)
        await _configure(reader, settings)
        antennas_down = await _antennas_down(reader, antennas)
        listener.on_connected(_identity(reader, refused), antennas_down)
        await _start_rospec(reader, settings, antennas)
        started = True
        listener.on_inventorying()
        await _first_failure(
            _pump_reports(client, listener),
            _pump_events(client, listener),
            _watch_link(client, settings.keepalive_timeout_s),
        )
    except asyncio.CancelledError:
        await _polite_close(reader, client, rospec_started=started)
        raise
    except BaseException:
        await client.abort()
        raise


async def _connect(reader: Reader, settings: ReaderBridgeSettings) -> bool:
    """Connect and read the capabilities; True when an Impinj reader refused the Octane extensions.

    Such a reader (firmware without them, or with them switched off) answers IMPINJ_ENABLE_EXTENSIONS
    with an error status; its standard LLRP still works, so the session goes on without them rather
    than reconnecting for ever with zero reads.
    """
    try:
        await reader.connect()
    except LLRPStatusError as error:
        if not _capabilities_say_impinj(reader):
            raise
        logger.warning(
            "reader %s reports Impinj capabilities but refused IMPINJ_ENABLE_EXTENSIONS (%s): "
            "using standard LLRP (whole-dBm RSSI)",
            settings.reader,
            error,
        )
        return True
    return False


def _capabilities_say_impinj(reader: Reader) -> bool:
    try:
        return reader.is_impinj
    except LLRPError:  # the capabilities never arrived: the failure was not the extensions'
        return False


def _identity(reader: Reader, extensions_refused: bool) -> ReaderIdentity:
    capabilities = reader.capabilities
    extensions = "impinj" if reader.impinj_extensions_enabled else "refused" if extensions_refused else "none"
    return ReaderIdentity(
        model=str(capabilities.model_number),
        firmware=capabilities.firmware,
        max_antennas=capabilities.max_antennas,
        impinj=capabilities.is_impinj,
        extensions=extensions,
    )


def _usable_antennas(settings: ReaderBridgeSettings, reader: Reader) -> list[int]:
    limit = reader.capabilities.max_antennas
    usable = [port for port in settings.antennas if not limit or port <= limit]
    missing = sorted(set(settings.antennas) - set(usable))
    if missing:
        logger.error(
            "reader %s has %d antenna ports; ignoring configured ports %s", settings.reader, limit, missing
        )
    if not usable:
        raise CapabilityError(
            f"none of the configured antennas {list(settings.antennas)} exists on the reader"
        )
    return usable


async def _configure(reader: Reader, settings: ReaderBridgeSettings) -> None:
    """Keepalives for liveness, and the event notifications the status depends on (antennas, ROSpecs)."""
    config = messages.SET_READER_CONFIG(
        reset_to_factory_default=False,
        keepalive_spec=params.KeepaliveSpec(
            keepalive_trigger_type=enums.KeepaliveTriggerType.Periodic,
            periodic_trigger_value=settings.keepalive_ms,
        ),
        reader_event_notification_spec=params.ReaderEventNotificationSpec(
            event_notification_states=[
                params.EventNotificationState(event_type=event, notification_state=True)
                for event in _NOTIFIED_EVENTS
            ]
        ),
    )
    check_status(await reader.client.transact(config))


async def _antennas_down(reader: Reader, antennas: Sequence[int]) -> frozenset[int]:
    """Configured ports the reader reports unplugged now; later changes arrive as AntennaEvents."""
    try:
        config = await reader.get_config(enums.GetReaderConfigRequestedData.AntennaProperties)
    except LLRPError as error:
        if isinstance(error, LLRPConnectionError | LLRPTimeoutError):
            raise
        logger.info("reader gives no antenna properties (%s); assuming every port is connected", error)
        return frozenset()
    return frozenset(
        prop.antenna_id
        for prop in config.antenna_properties
        if not prop.antenna_connected and prop.antenna_id in antennas
    )


async def _start_rospec(reader: Reader, settings: ReaderBridgeSettings, antennas: Sequence[int]) -> None:
    client = reader.client
    power_index = None
    if settings.tx_power_dbm is not None:
        power_index = reader.capabilities.power_index_for_dbm(settings.tx_power_dbm)
    rospec = build_rospec(
        ro_spec_id=ROSPEC_ID,
        antennas=antennas,
        session=settings.session,
        tag_population=settings.tag_population,
        transmit_power_index=power_index,
        # One report per singulation: a count-based trigger above 1 never fires for a small static population.
        report_every_n=1,
        enable_impinj_reports=reader.impinj_extensions_enabled,
    )
    # The bridge owns the reader: ROSpecs left by a crashed run or another tool would mix into our stream.
    await client.transact(messages.DELETE_ROSPEC(ro_spec_id=0))
    while not client.reports.empty():
        client.reports.get_nowait()
    check_status(await client.transact(messages.ADD_ROSPEC(ro_spec=rospec)))
    check_status(await client.transact(messages.ENABLE_ROSPEC(ro_spec_id=ROSPEC_ID)))
    check_status(await client.transact(messages.START_ROSPEC(ro_spec_id=ROSPEC_ID)))
    logger.info(
        "reader %s inventorying antennas %s in session S%d", settings.reader, list(antennas), settings.session
    )


async def _pump_reports(client: LLRPClient, listener: SessionListener) -> None:
    while True:
        report = await client.reports.get()
        for data in report.tag_report_datas:
            try:
                tag = TagReport.from_param(data)
            except (AttributeError, TypeError, ValueError) as error:
                listener.on_rejected(RejectedRead(ReadRejectReason.INVALID_READ, "", f"undecodable: {error}"))
                continue
            listener.on_tag(tag)


async def _pump_events(client: LLRPClient, listener: SessionListener) -> None:
    while True:
        message = await client.events.get()
        if isinstance(message, messages.READER_EVENT_NOTIFICATION):
            _handle_notification(message.reader_event_notification_data, listener)
        elif isinstance(message, messages.ERROR_MESSAGE):
            logger.warning("reader error message: %s", message.llrp_status.error_description)
        else:
            logger.debug("ignoring unsolicited %s", type(message).__name__)


def _handle_notification(data: params.ReaderEventNotificationData, listener: SessionListener) -> None:
    antenna = data.antenna_event
    if antenna is not None:
        connected = int(antenna.event_type) == int(enums.AntennaEventType.Antenna_Connected)
        listener.on_antenna(antenna.antenna_id, connected)
    if data.reader_exception_event is not None:
        logger.warning("reader exception: %s", data.reader_exception_event.message)
    if data.connection_close_event is not None:
        raise LLRPConnectionError("the reader is closing the connection")
    rospec = data.ro_spec_event
    ended = rospec is not None and int(rospec.event_type) != int(enums.ROSpecEventType.Start_Of_ROSpec)
    if rospec is not None and rospec.ro_spec_id == ROSPEC_ID and ended:
        # Null stop trigger: only something outside this bridge ends our ROSpec. Start over.
        raise LLRPError(f"the reader ended ROSpec {ROSPEC_ID} (event {int(rospec.event_type)})")


async def _watch_link(client: WatchedClient, timeout_s: float) -> None:
    tick = min(0.25, timeout_s / 4)
    while True:
        await asyncio.sleep(tick)
        if not client.connected:
            raise LLRPConnectionError("connection to the reader lost")
        silent_s = time.monotonic() - client.last_received
        if silent_s > timeout_s:
            raise LLRPTimeoutError(f"no keepalive or report from the reader for {silent_s:.1f}s")


async def _first_failure(*jobs: Coroutine[Any, Any, None]) -> None:
    """Run jobs that should run forever; the first that ends (they end by failing) ends them all."""
    tasks = [asyncio.create_task(job) for job in jobs]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()
        raise LLRPError("a session task ended without an error")
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _polite_close(reader: Reader, client: WatchedClient, *, rospec_started: bool) -> None:
    """On a clean stop: stop and delete our ROSpec, CLOSE_CONNECTION; bounded, since the link may be bad."""
    with contextlib.suppress(LLRPError, OSError, TimeoutError):
        async with asyncio.timeout(3 * _CLOSE_TIMEOUT_S):
            if rospec_started and client.connected:
                await client.transact(messages.STOP_ROSPEC(ro_spec_id=ROSPEC_ID), timeout=_CLOSE_TIMEOUT_S)
                await client.transact(messages.DELETE_ROSPEC(ro_spec_id=ROSPEC_ID), timeout=_CLOSE_TIMEOUT_S)
            await reader.close()
    await client.abort()
