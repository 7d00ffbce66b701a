"""`smartstore reader`: bridge one LLRP reader of the store file to MQTT until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path

from pydantic import ValidationError

from smartstore.devices.llrp.bridge import ReaderBridge
from smartstore.devices.llrp.settings import ReaderBridgeSettings, UnknownReaderError, settings_for_reader
from smartstore.kernel.mqtt import MqttSettings
from smartstore.kernel.shutdown import STOP_SIGNALS
from smartstore.kernel.storeconfig import EXAMPLE_STORE, StoreConfigError, load_store

logger = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", type=Path, default=EXAMPLE_STORE, help="store file (default: example)")
    parser.add_argument("--reader", required=True, help="reader id from the store file's devices.readers")
    parser.add_argument("--mqtt-url", default="mqtt://127.0.0.1:1883", help="broker URL")
    parser.add_argument("--mqtt-protocol", choices=["5", "3.1.1"], default="5")
    parser.add_argument("--host", default=None, help="reader address (overrides the store file)")
    parser.add_argument("--port", type=int, default=None, help="reader LLRP port (overrides the store file)")
    parser.add_argument("--session", type=int, choices=[0, 1], default=1, help="Gen2 session S0 or S1")
    parser.add_argument("--report-interval-ms", type=int, default=500, help="one ReadBatch per interval")
    parser.add_argument("--keepalive-ms", type=int, default=2000, help="reader KEEPALIVE period")
    parser.add_argument("--tx-power-dbm", type=float, default=None, help="transmit power (default: reader's)")


def settings_from_args(args: argparse.Namespace) -> ReaderBridgeSettings:
    store = load_store(args.store)
    return settings_for_reader(
        store,
        args.reader,
        host=args.host,
        port=args.port,
        session=args.session,
        report_interval_ms=args.report_interval_ms,
        keepalive_ms=args.keepalive_ms,
        tx_power_dbm=args.tx_power_dbm,
        mqtt=MqttSettings(url=args.mqtt_url, protocol=args.mqtt_protocol),
    )


async def serve(settings: ReaderBridgeSettings) -> None:
    """Run the bridge until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # The loop's own handlers, not on_stop_signals: they wake the loop, which a plain handler would not.
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, stop.set)
    logger.info(
        "bridging reader %s at %s:%d (antennas %s) to %s",
        settings.reader,
        settings.host,
        settings.port,
        list(settings.antennas),
        settings.mqtt.url,
    )
    await ReaderBridge(settings).run(stop)


def run(args: argparse.Namespace) -> int:
    try:
        settings = settings_from_args(args)
    except (ValidationError, StoreConfigError, UnknownReaderError) as error:
        logger.error("cannot start the reader bridge: %s", error)
        return 2
    asyncio.run(serve(settings))
    return 0
