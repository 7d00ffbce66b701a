"""Loading into a locker whose controller process is killed (-9) or frozen (SIGSTOP): refused while it is
offline, flagged when an open command goes unanswered; never a `loaded` order left silently."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from locker_stack import LOCKER, RICE, STORE, Gateway, locker_store_file, start_gateway, wait_for

from smartstore.gateway.db.lockers import CompartmentState
from smartstore.gateway.db.models import Alert, Device

pytestmark = pytest.mark.slow
SMARTSTORE = Path(sys.executable).parent / "smartstore"
LOADS_WHILE_OFFLINE = 20


def start_locker_process(store_file: Path, mqtt_url: str, log: Path) -> subprocess.Popen[bytes]:
    """The simulated locker banks in a process of their own (`smartstore sim`, lockers only)."""
    command = [str(SMARTSTORE), "sim", "--store", str(store_file), "--mqtt-url", mqtt_url, "--no-cameras"]
    command += ["--sales-per-hour", "0", "--locker-loads-per-hour", "0", "--speed", "20"]
    command += ["--read-interval", "30"]
    return subprocess.Popen(command, stdout=log.open("ab"), stderr=subprocess.STDOUT)


def locker_state(gateway: Gateway) -> str | None:
    with gateway.runtime.sessions() as session:
        device = session.get(Device, (STORE, "locker", LOCKER))
        return None if device is None else device.state


def new_order(gateway: Gateway) -> str:
    created = gateway.api(
        "POST",
        "/pickup-orders",
        gateway.keys.integrator,
        json={"lines": [{"gtin": RICE, "quantity": 1}]},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def load(gateway: Gateway, order: str) -> Any:
    return gateway.api("POST", f"/pickup-orders/{order}/load", gateway.keys.manager, json={})


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        kb = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return kb / 1024


def test_loads_while_the_locker_is_killed_or_frozen(mosquitto: Any, db_url: str, tmp_path: Path) -> None:
    store_file = locker_store_file(tmp_path)
    gateway = start_gateway(
        db_url,
        store_file,
        mosquitto.settings,
        tmp_path,
        locker_open_timeout_s=2.0,
        locker_sweep_interval_s=0.5,
    )
    log = tmp_path / "sim.log"
    locker = start_locker_process(store_file, mosquitto.url, log)
    rss_before = rss_mb()
    try:
        gateway.stock(RICE, "aisle-1", LOADS_WHILE_OFFLINE + 5)
        wait_for(lambda: locker_state(gateway) == "online", timeout=20, what="the locker online")
        orders = [new_order(gateway) for _ in range(LOADS_WHILE_OFFLINE + 2)]

        # kill -9: the broker publishes the locker's Last Will, the gateway marks it offline.
        locker.send_signal(signal.SIGKILL)
        locker.wait(10)
        wait_for(lambda: locker_state(gateway) == "offline", what="the Last Will applied")
        answers = [load(gateway, order) for order in orders[:LOADS_WHILE_OFFLINE]]
        assert {(a.status_code, a.json()["error"]["code"]) for a in answers} == {(503, "locker_offline")}
        assert {gateway.order(order)["state"] for order in orders} == {"reserved"}  # no code, no compartment

        # Back: a load opens the door and the simulated associate closes it with the goods inside.
        locker = start_locker_process(store_file, mosquitto.url, log)
        wait_for(lambda: locker_state(gateway) == "online", timeout=20, what="the locker back online")
        first = load(gateway, orders[0])
        assert (first.status_code, first.json()["command_sent"]) == (200, True)
        wait_for(
            lambda: gateway.order(orders[0])["state"] == "ready", timeout=15, what="the first order ready"
        )

        # Frozen: still "online" (the TCP link stays up), but nothing answers the open command.
        os.kill(locker.pid, signal.SIGSTOP)
        sent_at = time.monotonic()
        frozen = load(gateway, orders[1])
        assert (frozen.status_code, frozen.json()["command_sent"]) == (200, True)
        compartment = frozen.json()["compartment"]

        def flagged() -> str | None:
            with gateway.runtime.sessions() as session:
                row = session.get(CompartmentState, (STORE, LOCKER, compartment))
                return None if row is None else row.needs_attention

        wait_for(flagged, timeout=10, what="the unanswered open to be flagged")
        flagged_after = time.monotonic() - sent_at
        assert flagged() == "load open not confirmed: no answer from the locker"
        with gateway.runtime.sessions() as session:
            causes = [alert.cause for alert in session.query(Alert).filter(Alert.state == "open")]
        assert f"locker.open_unconfirmed:{orders[1]}" in causes
        os.kill(locker.pid, signal.SIGCONT)
        rss_after = rss_mb()
        print(
            f"\n[lockers offline] {LOADS_WHILE_OFFLINE} loads while killed: {LOADS_WHILE_OFFLINE} x 503 "
            f"locker_offline, 0 codes issued; after restart 1 load -> ready; frozen: load flagged after "
            f"{flagged_after:.1f} s (timeout 2 s, sweep 0.5 s); test process RSS {rss_before:.0f} -> "
            f"{rss_after:.0f} MB"
        )
    finally:
        if locker.poll() is None:
            os.kill(locker.pid, signal.SIGCONT)
            locker.terminate()
            try:
                locker.wait(10)
            except subprocess.TimeoutExpired:
                locker.kill()
        gateway.stop()
