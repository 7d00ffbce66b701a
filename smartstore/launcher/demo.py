"""`smartstore demo`: a whole simulated store on loopback — broker, gateway, edge agent and simulator."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

from pydantic import ValidationError

from smartstore.devices.sim.cli import Outage
from smartstore.kernel.clock import utc_now
from smartstore.kernel.contract import topics
from smartstore.kernel.contract.payloads import new_event_id
from smartstore.kernel.shutdown import on_stop_signals
from smartstore.kernel.storeconfig import EXAMPLE_STORE, Area, StoreConfig, StoreConfigError, load_store
from smartstore.launcher.broker import BrokerStartError, port_is_free
from smartstore.launcher.demo_lockers import locker_lines
from smartstore.launcher.demo_orders import DemoOrderTraffic, OrderTrafficSettings, order_lines
from smartstore.launcher.demo_stack import LOOPBACK, Demo, DemoSettings

logger = logging.getLogger(__name__)

HAND_AGENT = "demo-hand"  # named in the example store's devices.agents, so the gateway takes its signals
ROLES = ("admin", "manager", "integrator", "kiosk")
KEY_ENV = {role: f"SMARTSTORE_{role.upper()}_KEY" for role in ROLES}
# Unplugged by default so whoever watches the demo sees a device alert raised and cleared: sim minute 30
# for 20 sim minutes, i.e. 30 s after the start for 20 s at the default speed.
DEFAULT_OUTAGE_READER = "reader-aisle-2"
DEFAULT_OUTAGE_START_S = 1800.0
DEFAULT_OUTAGE_DURATION_S = 1200.0


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--http-port", type=int, default=8080, help="gateway HTTP port (default 8080)")
    parser.add_argument("--mqtt-port", type=int, default=1884, help="embedded broker port (default 1884)")
    parser.add_argument("--mqtt-url", help="use this broker instead of the embedded one")
    parser.add_argument("--mqtt-protocol", choices=["5", "3.1.1"], help="default 3.1.1 embedded, else 5")
    parser.add_argument("--duration", type=float, default=0.0, help="seconds to run; 0 = until Ctrl-C")
    parser.add_argument("--store", type=Path, default=EXAMPLE_STORE, help="store file (default: example)")
    parser.add_argument("--speed", type=float, default=60.0, help="sim seconds per real second")
    parser.add_argument("--seed", type=int, default=7, help="simulation seed")
    parser.add_argument(
        "--data-dir", type=Path, help="where the DB, logs and truth go (default: new temp dir)"
    )
    parser.add_argument(
        "--outage",
        action="append",
        default=[],
        metavar="DEVICE@START+DURATION",
        help="unplug a simulated device at START for DURATION sim seconds (repeatable); default: "
        f"{DEFAULT_OUTAGE_READER}@{DEFAULT_OUTAGE_START_S:g}+{DEFAULT_OUTAGE_DURATION_S:g}",
    )
    parser.add_argument("--no-outage", action="store_true", help="unplug no device")
    parser.add_argument(
        "--order-every",
        type=float,
        default=40.0,
        help="a simulated web order loaded into a locker and collected with its code this often "
        "(seconds; 0 = none, default 40)",
    )


def scheduled_outages(settings: DemoSettings, store: StoreConfig) -> list[Outage]:
    """The outages the simulator gets: those asked for, else one of a reader serving only the salesfloor."""
    devices = store.devices
    if settings.outages is not None:
        known = (
            {d.id for d in devices.readers}
            | {d.id for d in devices.cameras}
            | {d.id for d in devices.lockers}
        )
        unknown = sorted({o.device for o in settings.outages} - known)
        if unknown:
            raise ValueError(f"--outage: no device {', '.join(unknown)} in the store file")
        return list(settings.outages)
    salesfloor = {zone.id for zone in store.zones if zone.area is Area.SALESFLOOR}
    readers = [r.id for r in devices.readers if all(a.zone in salesfloor for a in r.antennas)]
    if not readers:
        return []
    device = DEFAULT_OUTAGE_READER if DEFAULT_OUTAGE_READER in readers else readers[0]
    return [Outage(device=device, start_s=DEFAULT_OUTAGE_START_S, duration_s=DEFAULT_OUTAGE_DURATION_S)]


def duration_words(sim_s: float, speed: float) -> str:
    """Sim seconds as the sim clock shows them, with the real seconds they take at `speed`."""
    whole = round(sim_s)
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d} sim (~{sim_s / speed:.0f} s real)"


def create_demo_keys(db_url: str, store_id: str) -> dict[str, str]:
    """One key per role: fixed by SMARTSTORE_<ROLE>_KEY when set, else random; the kiosk key is bound
    to the demo's store (a kiosk key must name the store whose lockers it opens)."""
    # Imported here: the gateway's database stack loads only once the demo really starts.
    from smartstore.gateway.keys_cli import provision_keys

    given = {role: key for role in ROLES if (key := os.environ.get(KEY_ENV[role]))}
    keys: dict[str, str] = {}
    for role in ROLES:  # one at a time, so that a malformed key is named by its variable
        try:
            keys |= provision_keys(db_url, {role: f"demo-{role}"}, given, {"kiosk": store_id})
        except ValueError as error:
            raise ValueError(f"{KEY_ENV[role]}: {error}") from None
    return keys


def shelf_signal_example(store: StoreConfig, state: str, fill: float) -> tuple[str, str] | None:
    """Topic and JSON of a hand-written shelf signal for the first camera-watched slot of the store."""
    for shelf in store.planogram:
        if shelf.camera:
            slot = shelf.slots[0]
            payload = {
                "v": 1,
                "id": new_event_id(),
                "ts": utc_now().isoformat(timespec="seconds").replace("+00:00", "Z"),
                "seq": 1,
                "camera": shelf.camera,
                "slots": [{"slot": slot.id, "gtin": slot.gtin, "state": state, "fill": fill}],
            }
            return topics.signal(store.store.id, HAND_AGENT, topics.SignalType.SHELF), json.dumps(payload)
    return None


def banner(demo: Demo, keys: dict[str, str]) -> str:
    base = f"http://{LOOPBACK}:{demo.settings.http_port}"
    store_id = demo.store.store.id
    host, port = demo.mqtt_host_port()
    pub = f"mosquitto_pub -h {host} -p {port} -V {'mqttv5' if demo.protocol == '5' else 'mqttv311'} -q 1"
    lines = [
        "",
        "=" * 78,
        " smartstore demo — a simulated store, running",
        "=" * 78,
        f" Dashboard   {base}/dashboard",
        f" API docs    {base}/api/docs",
        f" Health      {base}/healthz      Metrics  {base}/metrics",
        f" MQTT        {demo.mqtt_url} (MQTT {demo.protocol})",
        "",
        " API keys (this run only unless fixed by SMARTSTORE_<ROLE>_KEY):",
        *(f"   {role:<11} {key}" for role, key in keys.items()),
        "",
        " Try it:",
        "   # unified inventory, as an integrator sees it",
        f"   curl -s -H 'X-API-Key: {keys['integrator']}' {base}/api/v1/stores/{store_id}/inventory",
    ]
    example = shelf_signal_example(demo.store, "empty", 0.0)
    if example:
        topic, payload = example
        lines += [
            "   # a hand-written valid shelf signal: that slot turns empty (give each send a new id)",
            f"   {pub} -t '{topic}' -m '{payload}'",
            "   # a malformed one: rejected with a reason and dead-lettered, the gateway carries on",
            f'   {pub} -t \'{topic}\' -m \'{{"v": 1, "id": "{new_event_id()}", "slots": "none"}}\'',
        ]
    lines += [
        "   # what was rejected and why",
        f"   curl -s -H 'X-API-Key: {keys['admin']}' {base}/api/v1/dead-letters",
        "",
        *locker_lines(demo.store, keys, base, demo.settings.store, demo.mqtt_url, demo.protocol),
        *order_lines(demo.store, keys, base),
        *outage_lines(demo, keys, base),
        f" Data dir    {demo.data_dir}  (SQLite DB, edge state; kept after exit)",
        f" Logs        {demo.logs_dir}/{{gateway,edge,sim}}.log  (errors are also shown here)",
        f" Truth       {demo.truth_path}  (the simulator's ground truth, JSON lines)",
        "",
        " DEMO ONLY: it binds to 127.0.0.1 and runs open on loopback"
        + (": the embedded MQTT broker has no authentication and no TLS." if demo.broker else "."),
        f" Stops after {demo.settings.duration_s:g} s." if demo.settings.duration_s else " Ctrl-C stops.",
        "=" * 78,
        "",
    ]
    return "\n".join(lines)


def outage_lines(demo: Demo, keys: dict[str, str], base: str) -> list[str]:
    if not demo.outages:
        return []
    speed = demo.settings.speed
    store_url = f"{base}/api/v1/stores/{demo.store.store.id}"
    lines = [" Outages (sim time since the start; --no-outage turns the default one off):"]
    for outage in demo.outages:
        lines.append(
            f"   {outage.device} will be unplugged at {duration_words(outage.start_s, speed)}"
            f" for {duration_words(outage.duration_s, speed)}"
        )
    lines += [
        "   # watch its device alert open and clear, and the device go offline and back",
        f"   curl -s -H 'X-API-Key: {keys['manager']}' '{store_url}/alerts?state=open'",
        f"   curl -s -H 'X-API-Key: {keys['manager']}' {store_url}/devices",
        "",
    ]
    return lines


def busy_ports(settings: DemoSettings) -> list[str]:
    """One line per port the demo needs that something else already listens on."""
    wanted = [("--http-port", settings.http_port, "the gateway's HTTP port")]
    if not settings.mqtt_url:
        wanted.append(("--mqtt-port", settings.mqtt_port, "the embedded broker's port"))
    return [
        f"{LOOPBACK}:{port} ({what}) is already in use, perhaps by another demo; choose another with {flag}"
        for flag, port, what in wanted
        if not port_is_free(LOOPBACK, port)
    ]


def settings_from_args(args: argparse.Namespace) -> DemoSettings:
    return DemoSettings(
        http_port=args.http_port,
        mqtt_port=args.mqtt_port,
        mqtt_url=args.mqtt_url,
        mqtt_protocol=args.mqtt_protocol,
        duration_s=args.duration,
        store=args.store,
        speed=args.speed,
        seed=args.seed,
        data_dir=args.data_dir,
        outages=() if args.no_outage else (tuple(Outage.parse(text) for text in args.outage) or None),
        order_every_s=args.order_every,
    )


def run(args: argparse.Namespace) -> int:
    try:
        if args.no_outage and args.outage:
            raise ValueError("--outage and --no-outage contradict each other")
        settings = settings_from_args(args)
        store = load_store(settings.store)
        outages = scheduled_outages(settings, store)
    except (ValidationError, StoreConfigError, ValueError) as error:
        print(f"smartstore demo: {error}", file=sys.stderr)
        return 2
    # Checked before anything starts: a busy port made the broker fall back to another demo's broker, or
    # the gateway die behind a banner that another process's /healthz had answered.
    if busy := busy_ports(settings):
        for line in busy:
            print(f"smartstore demo: {line}", file=sys.stderr)
        return 2
    data_dir = (settings.data_dir or Path(tempfile.mkdtemp(prefix="smartstore-demo-"))).resolve()
    (data_dir / "logs").mkdir(parents=True, exist_ok=True)
    demo = Demo(settings.model_copy(update={"store": settings.store.resolve()}), store, data_dir, outages)
    print(
        f"smartstore demo: DEMO ONLY — binds to 127.0.0.1, MQTT without authentication; data in {data_dir}",
        flush=True,
    )
    on_stop_signals(demo.stopping.set, "the demo")
    running = False
    try:
        demo.start_broker()
        keys = create_demo_keys(demo.db_url, demo.store.store.id)
        if not demo.start_components():
            return 1
        offline = demo.wait_lockers_online(keys["manager"])
        if demo.stopping.is_set():
            return 0
        if offline and demo.dead_child() is None:  # a dead child is reported by demo.wait() below
            print(
                f"smartstore demo: the gateway has not seen locker {', '.join(offline)} online within "
                f"{settings.lockers_timeout_s:g} s: loading orders answers locker_offline until it does; "
                f"see {demo.logs_dir / 'sim.log'} and {demo.logs_dir / 'gateway.log'}",
                file=sys.stderr,
                flush=True,
            )
        running = True
        print(banner(demo, keys), flush=True)
        if settings.order_every_s > 0:
            base = f"http://{LOOPBACK}:{settings.http_port}"
            traffic = DemoOrderTraffic(
                OrderTrafficSettings(base, interval_s=settings.order_every_s, seed=settings.seed), store, keys
            )
            traffic.start()
        try:
            return demo.wait()
        finally:
            if settings.order_every_s > 0:
                traffic.close()
    except BrokerStartError as error:
        print(f"smartstore demo: {error}", file=sys.stderr)
        return 1
    except ValueError as error:  # e.g. a malformed SMARTSTORE_<ROLE>_KEY (ApiKeyError)
        print(f"smartstore demo: {error}", file=sys.stderr)
        return 1
    finally:
        demo.shutdown()
        if not running and settings.data_dir is None:
            forget_failed_start(demo)
        print("smartstore demo: stopped", flush=True)


def forget_failed_start(demo: Demo) -> None:
    """A start that failed leaves no temp directory behind: its logs' last lines go to stderr first."""
    for log in sorted(demo.logs_dir.glob("*.log")):
        tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-15:]
        if tail:
            print(f"smartstore demo: last lines of {log.name}:", *tail, sep="\n  ", file=sys.stderr)
    shutil.rmtree(demo.data_dir, ignore_errors=True)
    print(f"smartstore demo: removed {demo.data_dir} (the start failed)", file=sys.stderr)
