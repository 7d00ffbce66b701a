"""Fixtures that start real services: a private Mosquitto per test that needs one, PostgreSQL schemas."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from smartstore.kernel.mqtt import MqttLink, MqttSettings
from smartstore.kernel.storeconfig import EXAMPLE_STORE, StoreConfig, load_store
from smartstore.launcher.broker import free_port, wait_for_listener

REQUIRE_SERVICES = os.environ.get("SMARTSTORE_REQUIRE_SERVICES") == "1"
PG_URL = os.environ.get("SMARTSTORE_TEST_PG")
CHROMIUM = Path("/usr/bin/chromium")  # Debian's; .ci/run installs it


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    if not wait_for_listener("127.0.0.1", port, timeout):
        raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


@dataclass
class Broker:
    port: int
    process: subprocess.Popen[bytes]
    config_path: Path

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    @property
    def settings(self) -> MqttSettings:
        return MqttSettings(url=self.url)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                # Seen once in a CI run: mosquitto 2.0.11 still up 10 s after SIGTERM. A test that needed
                # a clean save then fails on its own assertions; the others just need the port back.
                self.process.kill()
                self.process.wait(timeout=10)

    def start(self) -> None:
        """(Re)start on the same port with the same configuration and persistence."""
        self.process = subprocess.Popen(["mosquitto", "-c", str(self.config_path)])
        wait_for_port(self.port)


# `user root`: started as root (CI), mosquitto would switch to the `mosquitto` user and then fail to
# write its persistence file into pytest's tmp dir, silently losing offline sessions on restart.
BROKER_CONFIG = """\
user root
listener {port} 127.0.0.1
allow_anonymous true
persistence true
persistence_location {dir}/
max_inflight_messages 1000
max_queued_messages 200000
set_tcp_nodelay true
{extra}
"""


def start_mosquitto(tmp_path: Path, extra: str = "") -> Broker:
    binary = shutil.which("mosquitto")
    if binary is None:
        if REQUIRE_SERVICES:
            pytest.fail("mosquitto is not installed (SMARTSTORE_REQUIRE_SERVICES=1)")
        pytest.skip("mosquitto is not installed")
    port = free_port()
    config_path = tmp_path / f"mosquitto-{port}.conf"
    config_path.write_text(BROKER_CONFIG.format(port=port, dir=tmp_path, extra=extra))
    broker = Broker(port, subprocess.Popen([binary, "-c", str(config_path)]), config_path)
    wait_for_port(port)
    return broker


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Broker]:
    """A private Mosquitto on a free port, stopped after the test."""
    broker = start_mosquitto(tmp_path)
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def example_store() -> StoreConfig:
    return load_store(EXAMPLE_STORE)


def _postgres_schema_url() -> Iterator[str]:
    if not PG_URL:
        if REQUIRE_SERVICES:
            pytest.fail("SMARTSTORE_TEST_PG is not set (SMARTSTORE_REQUIRE_SERVICES=1)")
        pytest.skip("SMARTSTORE_TEST_PG not set")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    base = PG_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    separator = "&" if "?" in base else "?"
    yield f"{base}{separator}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: SQLite in a temp dir, and PostgreSQL in a private schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'gateway.db'}"
    else:
        yield from _postgres_schema_url()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'gateway.db'}"


@pytest.fixture
def links() -> Iterator[list[MqttLink]]:
    """MQTT links a test started; stopped when it ends, whatever happened."""
    started: list[MqttLink] = []
    yield started
    for link in started:
        link.stop()


@pytest.fixture
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright (never a browser Playwright downloads)."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM}")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield browser
        browser.close()


@pytest.fixture
def listener() -> Iterator[int]:
    """A port something else listens on, as another gateway, demo or broker would."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", free_port()))
        sock.listen()
        yield int(sock.getsockname()[1])
