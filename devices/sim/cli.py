"""`smartstore sim`: run the simulated store's devices against a broker until stopped."""

from __future__ import annotations

import argparse
import logging
import threading
import time
from pathlib import Path

from pydantic import ValidationError

from smartstore.devices.sim.runner import Simulator, SimulatorError
from smartstore.devices.sim.settings import Outage as Outage  # public: the demo schedules outages
from smartstore.devices.sim.settings import SimSettings
from smartstore.kernel.mqtt import MqttSettings
from smartstore.kernel.shutdown import on_stop_signals
from smartstore.kernel.storeconfig import EXAMPLE_STORE, StoreConfigError, load_store

logger = logging.getLogger(__name__)

LOCKER_FAULTS = ("jammed", "leave_open", "leave_item", "phantom", "out_of_service")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", type=Path, default=EXAMPLE_STORE, help="store file (default: example)")
    parser.add_argument("--mqtt-url", default="mqtt://127.0.0.1:1883", help="broker URL")
    parser.add_argument("--mqtt-protocol", choices=["5", "3.1.1"], default="5")
    parser.add_argument("--seed", type=int, default=7, help="same seed + store => same world events")
    parser.add_argument("--speed", type=float, default=60.0, help="sim seconds per real second")
    parser.add_argument("--duration", type=float, default=0.0, help="real seconds to run, 0 = forever")
    parser.add_argument("--truth", type=Path, default=None, help="ground-truth JSONL file")
    parser.add_argument("--read-interval", type=float, default=1.0, help="real seconds between reads")
    parser.add_argument(
        "--outage",
        action="append",
        default=[],
        metavar="DEVICE@START+DURATION",
        help="unplug a device at START for DURATION sim seconds (repeatable)",
    )
    parser.add_argument("--sales-per-hour", type=float, default=None, help="shopper picks per sim hour")
    parser.add_argument("--no-cameras", action="store_true", help="do not simulate cameras")
    parser.add_argument("--no-lockers", action="store_true", help="do not simulate locker banks")
    parser.add_argument(
        "--locker-loads-per-hour",
        type=float,
        default=None,
        help="associate loads per bank and sim hour without an order (default 3; 0 when the gateway loads)",
    )
    parser.add_argument(
        "--locker-fault",
        action="append",
        default=[],
        metavar="FAULT:LOCKER/COMPARTMENT",
        help="jammed, leave_open, leave_item, phantom or out_of_service; e.g. jammed:locker-1/c07",
    )


def settings_from_args(args: argparse.Namespace) -> SimSettings:
    world: dict[str, object] = {}
    if args.sales_per_hour is not None:
        world["sales_per_hour"] = args.sales_per_hour
    faults: dict[str, list[str]] = {}
    for text in args.locker_fault:
        fault, _, where = text.partition(":")
        if fault not in LOCKER_FAULTS or "/" not in where:
            raise ValueError(
                f"--locker-fault {text!r}: want FAULT:LOCKER/COMPARTMENT, FAULT one of {LOCKER_FAULTS}"
            )
        faults.setdefault(fault, []).append(where)
    locker: dict[str, object] = dict(faults)
    if args.locker_loads_per_hour is not None:
        locker["loads_per_hour"] = args.locker_loads_per_hour
    return SimSettings.model_validate(
        {
            "mqtt": MqttSettings(url=args.mqtt_url, protocol=args.mqtt_protocol),
            "seed": args.seed,
            "speed": args.speed,
            "duration_s": args.duration,
            "truth_path": args.truth,
            "read_interval_s": args.read_interval,
            "outages": [Outage.parse(text) for text in args.outage],
            "cameras": not args.no_cameras,
            "lockers": not args.no_lockers,
            "world": world,
            "locker": locker,
        }
    )


def run(args: argparse.Namespace) -> int:
    try:
        settings = settings_from_args(args)
        store = load_store(args.store)
        simulator = Simulator(settings, store)
    except (ValidationError, StoreConfigError, SimulatorError, ValueError) as error:
        logger.error("cannot start the simulator: %s", error)
        return 2
    stop = threading.Event()
    on_stop_signals(stop.set, "the simulator")
    simulator.start()
    if not simulator.wait_online(10.0):
        logger.warning("not every device is connected to %s yet; they keep trying", settings.mqtt.url)
    logger.info(
        "simulating %s: %d items, %d readers, %d cameras, %d locker banks at %gx",
        store.store.id,
        simulator.world.on_hand,
        len(simulator.readers),
        len(simulator.cameras),
        len(simulator.lockers),
        settings.speed,
    )
    deadline = time.monotonic() + settings.duration_s if settings.duration_s else None
    while not stop.wait(0.2):
        if deadline is not None and time.monotonic() >= deadline:
            break
    simulator.stop()
    totals = simulator.truth_snapshot()["totals"]
    logger.info("stopped at sim time %s: %s", simulator.sim_time.isoformat(), totals)
    return 0
