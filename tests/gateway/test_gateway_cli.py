"""`smartstore gateway` as a process: a busy HTTP port is one line; SIGTERM and Ctrl-C stop it cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from smartstore.kernel.storeconfig import EXAMPLE_STORE
from smartstore.launcher.broker import free_port


def gateway_command(tmp_path: Path, port: int, mqtt_url: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "smartstore.launcher.cli",
        "gateway",
        "--store",
        str(EXAMPLE_STORE),
        "--db-url",
        f"sqlite:///{tmp_path / 'gateway.db'}",
        "--mqtt-url",
        mqtt_url,
        "--port",
        str(port),
        "--gateway-id",
        f"gw-cli-{port}",
    ]


def gateway_env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "SMARTSTORE_PICKUP_CODE_SECRET_FILE": str(tmp_path / "pickup.secret")}


def test_a_busy_http_port_is_one_line_before_anything_starts(tmp_path: Path, listener: int) -> None:
    # Nothing listens on the broker port: the gateway must not get as far as trying it.
    command = gateway_command(tmp_path, listener, f"mqtt://127.0.0.1:{free_port()}")
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=60, env=gateway_env(tmp_path), check=False
    )

    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"smartstore gateway: 127.0.0.1:{listener} (the HTTP API) is already in use, perhaps by another "
        "gateway or demo; choose another with --port or SMARTSTORE_HTTP_PORT"
    ]
    assert result.stdout == ""
    assert list(tmp_path.iterdir()) == []  # no database, no secret file


def wait_healthy(url: str, process: subprocess.Popen[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the gateway exited during start-up"
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout:.0f} s")


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_drains_ingest_and_leaks_nothing(tmp_path: Path, mosquitto: Any, signum: int) -> None:
    port = free_port()
    process = subprocess.Popen(
        gateway_command(tmp_path, port, mosquitto.url),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=gateway_env(tmp_path),
    )
    try:
        wait_healthy(f"http://127.0.0.1:{port}/healthz", process)
        process.send_signal(signum)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    # Before: SIGTERM killed the process once uvicorn had stopped (exit -15), before ingest stopped, and
    # the resource tracker reported "10 leaked semaphore objects" (the receiver's two events).
    assert "leaked" not in output
    assert "Traceback" not in output
    assert "ingest stopped" in output  # the consumer drained and joined its receiver process
    assert process.returncode == 0
