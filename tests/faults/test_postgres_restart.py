"""PostgreSQL stopped (`pg_ctl stop -m immediate`, i.e. crashed) and started again while the real gateway
ingests: nothing lost, nothing applied twice, and the API answers 503 with Retry-After, never 500."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fault_helpers import AGENT, REPO, STORE, Device, peak_rss_mb, wait_for
from sqlalchemy import func, select, text

from smartstore.gateway.db.engine import make_engine, make_sessionmaker
from smartstore.gateway.security import Role, create_api_key
from smartstore.kernel.contract import payloads as p
from smartstore.kernel.contract import topics
from smartstore.kernel.storeconfig import EXAMPLE_STORE
from smartstore.launcher.broker import free_port

pytestmark = pytest.mark.slow

RICE = "09506000100098"  # not RFID-tagged: each pickup takes exactly one unit, nothing else moves it
START = 100_000
TOTAL = 2000
PER_SECOND = 250.0
DOWN_S = 4.0
REQUIRE_SERVICES = os.environ.get("SMARTSTORE_REQUIRE_SERVICES") == "1"


def _unavailable(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(reason)
    pytest.skip(reason)


@dataclass
class PrivatePostgres:
    """A PostgreSQL cluster of our own on a free port: it can be crashed without touching anyone's."""

    root: Path
    port: int
    as_user: list[str]

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def pg_ctl(self, *args: str, timeout: float = 60) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        command = [*self.as_user, "pg_ctl", "-D", str(self.root / "data"), "-l", str(self.root / "log")]
        subprocess.run([*command, "-o", options, *args], check=True, timeout=timeout, capture_output=True)

    def crash(self) -> None:
        self.pg_ctl("stop", "-m", "immediate")

    def start(self) -> None:
        self.pg_ctl("start", "-w")


@pytest.fixture
def postgres() -> Iterator[PrivatePostgres]:
    if shutil.which("initdb") is None or shutil.which("pg_ctl") is None:
        _unavailable("initdb/pg_ctl are not installed: no private PostgreSQL cluster to crash")
    as_user: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="smartstore-pg-"))
    if os.geteuid() == 0:  # initdb refuses root: run the cluster as the postgres user
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(root)
            _unavailable("running as root and there is no postgres user to run a private cluster as")
        if shutil.which("runuser") is None:
            shutil.rmtree(root)
            _unavailable("running as root and runuser is missing")
        os.chown(root, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    cluster = PrivatePostgres(root, free_port(), as_user)
    subprocess.run(
        [*as_user, "initdb", "-D", str(root / "data"), "-U", "postgres", "--auth=trust", "--no-sync"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    cluster.start()
    try:
        yield cluster
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # already down
            cluster.pg_ctl("stop", "-m", "immediate")
        shutil.rmtree(root, ignore_errors=True)


def _pickups(count: int) -> list[tuple[str, bytes]]:
    topic = topics.signal(STORE, AGENT, topics.SignalType.PICKUP)
    return [
        (
            topic,
            p.encode(
                p.PickupSignal(
                    **p.envelope(seq),
                    locker="locker-1",
                    compartment="c01",
                    order="order-1",
                    lines=[p.PickupLine(gtin=RICE, quantity=1)],
                )
            ),
        )
        for seq in range(1, count + 1)
    ]


def _figures(url: str) -> tuple[int, int]:
    """(events applied, rice on hand), read from the database as an operator would."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            applied = connection.scalar(select(func.count()).select_from(text("applied_events")))
            on_hand = connection.scalar(
                text("SELECT on_hand FROM inventory WHERE store_id = :s AND gtin = :g"),
                {"s": STORE, "g": RICE},
            )
    finally:
        engine.dispose()
    return int(applied or 0), int(on_hand or 0)


def test_a_postgres_crash_midstream_loses_nothing_and_the_api_answers_503(
    postgres: PrivatePostgres, mosquitto: Any, tmp_path: Path
) -> None:
    http_port = free_port()
    log = tmp_path / "gateway.log"
    command = [
        *(sys.executable, "-m", "smartstore.launcher.cli", "gateway", "--db-url", postgres.url),
        *("--mqtt-url", mosquitto.url, "--port", str(http_port), "--store", str(EXAMPLE_STORE)),
        *("--gateway-id", "gw-pg-restart"),
    ]
    with log.open("wb") as sink:
        gateway = subprocess.Popen(command, cwd=REPO, stdout=sink, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{http_port}"
    device: Device | None = None
    try:
        api = httpx.Client(base_url=base, timeout=5)

        def healthy() -> bool:
            assert gateway.poll() is None, log.read_text()
            try:
                return api.get("/healthz").status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(healthy, 30, "the gateway")
        engine = make_engine(postgres.url)
        key = create_api_key(make_sessionmaker(engine), Role.MANAGER, "faults", store_id=STORE)
        engine.dispose()
        api.headers["X-API-Key"] = key
        rice = f"/api/v1/stores/{STORE}/inventory/{RICE}"
        count = {"type": "count", "gtin": RICE, "quantity": START, "zone": "aisle-1"}
        assert api.post(f"/api/v1/stores/{STORE}/movements", json=count).status_code == 201

        device = Device(mosquitto.settings)
        sender = device.publish_in_background(_pickups(TOTAL), per_second=PER_SECOND)
        wait_for(lambda: _figures(postgres.url)[0] >= 300, 30, "300 signals applied")
        applied_before_crash = _figures(postgres.url)[0]
        crashed_at = time.monotonic()
        postgres.crash()
        statuses: list[int] = []
        retry_after: set[str | None] = set()
        codes: set[str] = set()
        while time.monotonic() - crashed_at < DOWN_S:
            response = api.get(rice)
            statuses.append(response.status_code)
            retry_after.add(response.headers.get("retry-after"))
            codes.add(response.json().get("error", {}).get("code", response.text[:80]))
            time.sleep(0.1)
        postgres.start()
        back_at = time.monotonic()
        sender.join(60)
        wait_for(lambda: _figures(postgres.url)[0] >= TOTAL, 60, "every signal applied")
        caught_up_s = time.monotonic() - back_at
        time.sleep(1)  # anything applied twice would land now
        applied, on_hand = _figures(postgres.url)
        after = api.get(rice)
        peak = peak_rss_mb(gateway.pid)
        alive = gateway.poll() is None
    finally:
        if device is not None:
            device.close()
        gateway.send_signal(signal.SIGTERM)
        try:
            gateway.wait(30)
        except subprocess.TimeoutExpired:
            gateway.kill()
            gateway.wait(10)
    taken = START - on_hand  # one unit per pickup applied
    print(
        f"\nsent {TOTAL}, applied {applied}, lost {max(0, TOTAL - taken)},"
        f" duplicated {max(0, taken - TOTAL)}; {applied_before_crash} applied before the crash;"
        f" API while down: {len(statuses)} requests,"
        f" statuses {sorted(set(statuses))} {sorted(codes)}, Retry-After {sorted(map(str, retry_after))};"
        f" caught up {caught_up_s:.1f} s after the start; gateway peak RSS {peak:.0f} MB"
    )
    assert applied_before_crash < TOTAL, "the database was crashed too late to test anything"
    assert alive, log.read_text()[-4000:]
    assert applied == TOTAL
    assert on_hand == START - TOTAL, "a pickup was lost or applied twice"
    assert statuses, "the API was not asked while the database was down"
    assert set(statuses) == {503}, statuses
    assert None not in retry_after
    assert codes == {"database_unavailable"}
    assert after.status_code == 200
    assert after.json()["on_hand"] == START - TOTAL
