"""Hostile HTTP clients against a real gateway API process (uvicorn, default limits): what they cost it.

Prints the figures of docs/reliability.md ("HTTP API: no caller costs more than it costs itself"):
`pytest tests/gateway/api/test_api_hostile.py -m slow -s`.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from api_helpers import BERLIN, wait_until

from smartstore.gateway.security import generate_key
from smartstore.launcher.broker import free_port

pytestmark = pytest.mark.slow

MOVEMENTS = f"/api/v1/stores/{BERLIN}/movements"
HUGE = 300 * 1024 * 1024
SERVER = """
import sys, uvicorn
from smartstore.gateway.api.app import create_app
from smartstore.gateway.config import GatewaySettings
from smartstore.gateway.inventory.catalog import sync_stores
from smartstore.gateway.runtime import GatewayRuntime
from smartstore.gateway.security import Role, create_api_key
from smartstore.kernel.mqtt import MqttSettings
db_url, port, key = sys.argv[1:4]
runtime = GatewayRuntime.build(GatewaySettings(db_url=db_url, mqtt=MqttSettings(url="mqtt://127.0.0.1:1")))
sync_stores(runtime.sessions, runtime.stores)
create_api_key(runtime.sessions, "admin", "ops", key=key)
uvicorn.run(create_app(runtime), host="127.0.0.1", port=int(port), log_level="warning")
"""


class Gateway:
    def __init__(self, process: subprocess.Popen[bytes], port: int, key: str) -> None:
        self.process, self.port, self.key = process, port, key
        self.base = f"http://127.0.0.1:{port}"

    def memory_kib(self, field: str = "VmRSS") -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise AssertionError(f"no {field}")


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    port, key = free_port(), generate_key()
    db_url = f"sqlite:///{tmp_path / 'gateway.db'}"
    process = subprocess.Popen([sys.executable, "-c", SERVER, db_url, str(port), key])
    try:
        wait_until(lambda: _answers(port), timeout=30, what="the gateway API")
        yield Gateway(process, port, key)
    finally:
        process.kill()
        process.wait()


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def push(port: int, head: str, total: int, *, chunked: bool = False) -> tuple[int | None, int, float]:
    """Send `head`, then up to `total` body bytes as fast as the server takes them.

    (status or None, body bytes the server let us send, seconds until the answer or the reset)."""
    started = time.monotonic()
    sent = 0
    block = b"x" * (1024 * 1024)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n")
        try:
            while sent < total:
                data = block[: total - sent]
                sock.sendall(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
                sent += len(data)
        except OSError:
            pass  # refused: the server closed the connection
        try:
            answer = sock.recv(4096)
        except OSError:
            answer = b""
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else None
    return status, sent, time.monotonic() - started


def head(length: int | None, key: str | None) -> str:
    lines = [f"POST {MOVEMENTS} HTTP/1.1", "Host: test", "Content-Type: application/json"]
    lines.append(f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked")
    if key is not None:
        lines.append(f"Authorization: Bearer {key}")
    return "\n".join([*lines, "Idempotency-Key: hostile-1"]) + "\n"


def parallel(port: int, heads: list[str], *, chunked: bool = False) -> list[tuple[int | None, int, float]]:
    results: list[tuple[int | None, int, float]] = [(None, 0, 0.0)] * len(heads)

    def run(index: int) -> None:
        results[index] = push(port, heads[index], HUGE, chunked=chunked)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(heads))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_hostile_bodies_cost_the_gateway_next_to_nothing(gateway: Gateway) -> None:
    before = gateway.memory_kib()
    figures: dict[str, object] = {"rss_before_mib": round(before / 1024, 1)}

    no_key = parallel(gateway.port, [head(HUGE, None)] * 3)
    assert [status for status, _, _ in no_key] == [401] * 3
    figures["3x300MB_no_key"] = [(s, round(sent / 2**20, 1), round(t, 2)) for s, sent, t in no_key]

    keyed = parallel(gateway.port, [head(HUGE, gateway.key)] * 3)
    assert [status for status, _, _ in keyed] == [413] * 3
    figures["3x300MB_admin_key_content_length"] = [(s, round(n / 2**20, 1), round(t, 2)) for s, n, t in keyed]

    chunked = parallel(gateway.port, [head(None, gateway.key)] * 3, chunked=True)
    assert [status for status, _, _ in chunked] == [413] * 3
    figures["3x300MB_admin_key_chunked"] = [(s, round(n / 2**20, 1), round(t, 2)) for s, n, t in chunked]

    after = gateway.memory_kib()
    figures["rss_after_mib"] = round(after / 1024, 1)
    figures["rss_peak_mib"] = round(gateway.memory_kib("VmHWM") / 1024, 1)
    print("\nhostile bodies:", figures)
    assert after - before < 50 * 1024  # 900 MB offered each time; a few MiB of buffers at most

    # A lying Content-Length (1,000 announced, 10 sent) is answered at the body deadline (10 s).
    status, _, seconds = push(gateway.port, head(1000, gateway.key), 10)
    print(f"lying Content-Length: {status} after {seconds:.1f} s")
    assert status == 408
    assert 9 < seconds < 13


def test_one_key_hammering_gets_429_with_retry_after_and_others_are_served(gateway: Gateway) -> None:
    inventory = f"{gateway.base}/api/v1/stores/{BERLIN}/inventory?limit=1"
    auth = {"Authorization": f"Bearer {gateway.key}"}
    started = time.monotonic()
    with httpx.Client(headers=auth, timeout=10) as client:
        statuses = [client.get(inventory).status_code for _ in range(1000)]
        last = client.get(inventory)
    elapsed = time.monotonic() - started
    served, refused = statuses.count(200), statuses.count(429)
    print(f"\n1000 requests in {elapsed:.1f} s with one key: {served} served, {refused} 429")
    assert served + refused == 1000
    # burst 100 plus 10/s for the time it took
    assert 100 <= served <= 100 + 10 * elapsed + 2
    if last.status_code == 429:
        assert int(last.headers["retry-after"]) >= 1
    started = time.monotonic()
    anonymous = [httpx.get(inventory, timeout=10).status_code for _ in range(40)]
    elapsed = time.monotonic() - started
    print(f"40 requests without a key in {elapsed:.1f} s: {anonymous.count(401)} x 401, 429 for the rest")
    assert anonymous.count(401) + anonymous.count(429) == 40
    assert 20 <= anonymous.count(401) <= 20 + elapsed + 1  # burst 20, then 1/s
