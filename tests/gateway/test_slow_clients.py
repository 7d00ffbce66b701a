"""A gateway process closes connections whose request head dribbles in; other clients are served meanwhile."""

from __future__ import annotations

import http.client
import os
import select
import socket
import statistics
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from test_gateway_cli import gateway_command, gateway_env, wait_healthy

from smartstore.gateway.api.slow_clients import head_timeout_protocol
from smartstore.gateway.config import GatewaySettings
from smartstore.launcher.broker import free_port

HEAD_TIMEOUT_S = 1.5
HEAD = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow\r\n\r\n"


@pytest.fixture
def gateway_port(tmp_path: Path, mosquitto: Any) -> Iterator[int]:
    """A `smartstore gateway` process with a 1.5 s request head timeout."""
    port = free_port()
    env = {**gateway_env(tmp_path), "SMARTSTORE_REQUEST_HEAD_TIMEOUT_S": str(HEAD_TIMEOUT_S)}
    process = subprocess.Popen(gateway_command(tmp_path, port, mosquitto.url), env=env, text=True)
    try:
        wait_healthy(f"http://127.0.0.1:{port}/healthz", process)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Dribbler:
    """A raw connection that sends a request head one byte at a time and notes when the server closed it."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.opened = time.monotonic()
        self.sent = 0
        self.received = b""
        self.closed_after: float | None = None

    def send_byte(self) -> None:
        if self.closed_after is None and self.sent < len(HEAD) - 1:  # never the head's last byte
            try:
                self.sock.send(HEAD[self.sent : self.sent + 1])
                self.sent += 1
            except OSError:
                self.poll(0.5)

    def poll(self, wait_s: float = 0.0) -> bool:
        """True once the server closed the connection (read to its end)."""
        while self.closed_after is None and select.select([self.sock], [], [], wait_s)[0]:
            try:
                chunk = self.sock.recv(4096)
            except OSError:
                chunk = b""
            if not chunk:
                self.closed_after = time.monotonic() - self.opened
                self.sock.close()
            self.received += chunk
        return self.closed_after is not None


def timed_get(port: int) -> float:
    started = time.monotonic()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as response:
        assert response.status == 200
    return time.monotonic() - started


def dribble_until_closed(dribblers: list[Dribbler], port: int, limit_s: float) -> list[float]:
    """Send a byte on each open dribbler every 0.25 s, and time a normal GET on a new connection each time."""
    latencies: list[float] = []
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline and not all(d.poll() for d in dribblers):
        for dribbler in dribblers:
            dribbler.send_byte()
        latencies.append(timed_get(port))
        time.sleep(0.25)
    return latencies


def test_a_dribbled_head_is_closed_after_the_timeout_while_others_are_served(gateway_port: int) -> None:
    dribbler = Dribbler(gateway_port)
    silent = socket.create_connection(("127.0.0.1", gateway_port), timeout=5)  # connects, sends nothing
    silent_opened = time.monotonic()

    latencies = dribble_until_closed([dribbler], gateway_port, limit_s=HEAD_TIMEOUT_S + 5)

    # Before: the connection stayed open as long as a byte came every few seconds (uvicorn's keep-alive
    # timer restarts on each byte and no other timer covers the head).
    assert dribbler.closed_after is not None, "a dribbled head kept its connection open"
    assert HEAD_TIMEOUT_S - 0.2 <= dribbler.closed_after <= HEAD_TIMEOUT_S + 2
    assert dribbler.received.startswith(b"HTTP/1.1 408 ")
    assert latencies, "no normal request was made meanwhile"
    assert max(latencies) < 1.0  # normal requests on other connections are served meanwhile
    silent.settimeout(HEAD_TIMEOUT_S + 2)
    assert silent.recv(1) == b""  # a connection that never sends a byte is closed too, without an answer
    assert time.monotonic() - silent_opened <= HEAD_TIMEOUT_S + 2
    silent.close()


def test_a_keep_alive_client_sending_its_next_request_promptly_is_unaffected(gateway_port: int) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", gateway_port, timeout=5)
    connection.auto_open = False  # a closed connection must fail the test, not be silently reopened
    connection.connect()
    opened = time.monotonic()
    for _ in range(4):
        connection.request("GET", "/healthz")
        response = connection.getresponse()
        response.read()
        assert response.status == 200
        time.sleep(HEAD_TIMEOUT_S * 0.6)  # each next request within the timeout, counted from the response
    assert time.monotonic() - opened > 2 * HEAD_TIMEOUT_S  # the timeout restarted after each response
    connection.close()


@pytest.mark.slow
def test_200_dribbling_connections_do_not_slow_a_normal_request(gateway_port: int) -> None:
    started = time.monotonic()
    dribblers = [Dribbler(gateway_port) for _ in range(200)]
    opened_in = time.monotonic() - started

    latencies = dribble_until_closed(dribblers, gateway_port, limit_s=opened_in + HEAD_TIMEOUT_S + 5)

    closed_after = [d.closed_after for d in dribblers]
    assert None not in closed_after, f"{closed_after.count(None)} of 200 dribbled connections still open"
    slowest = max(c for c in closed_after if c is not None)
    assert slowest <= HEAD_TIMEOUT_S + 2
    assert latencies, "no normal request was made meanwhile"
    assert max(latencies) < 1.0
    report = (
        f"200 dribblers (opened in {opened_in:.2f} s) closed after {min(c for c in closed_after if c):.2f}"
        f"-{slowest:.2f} s; normal GET meanwhile: median {statistics.median(latencies) * 1000:.1f} ms, "
        f"max {max(latencies) * 1000:.1f} ms over {len(latencies)} requests"
    )
    print(report)
    if path := os.environ.get("SMARTSTORE_SLOW_CLIENTS_REPORT"):
        Path(path).write_text(report + "\n")


@pytest.mark.parametrize("seconds", [0, -1.0])
def test_the_head_timeout_must_be_positive(seconds: float) -> None:
    with pytest.raises(ValidationError, match="request_head_timeout_s"):
        GatewaySettings(request_head_timeout_s=seconds)
    with pytest.raises(ValueError, match="> 0"):
        head_timeout_protocol(seconds)
