"""What a caller may cost the API, over real sockets: key before body, body size and time, rate limits,
bounded integers, and 503 while the database is down."""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
import uvicorn
from api_helpers import BERLIN, MILK, Keys, auth, open_alert, wait_until
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from smartstore.gateway.api.app import create_app
from smartstore.gateway.api.errors import database_unavailable
from smartstore.gateway.api.rate_limit import TokenBuckets
from smartstore.gateway.config import ApiLimits
from smartstore.gateway.db.engine import make_engine, make_sessionmaker
from smartstore.gateway.runtime import GatewayRuntime
from smartstore.launcher.broker import free_port

MOVEMENTS = f"/api/v1/stores/{BERLIN}/movements"
INVENTORY = f"/api/v1/stores/{BERLIN}/inventory"
SALE = b'{"type": "sale", "gtin": "' + MILK.encode() + b'", "quantity": 1}'


def limited_app(runtime: GatewayRuntime, **limits: object) -> FastAPI:
    settings = runtime.settings.model_copy(update={"api": ApiLimits.model_validate(limits)})
    return create_app(dataclasses.replace(runtime, settings=settings))


@contextmanager
def serving(app: FastAPI) -> Iterator[tuple[str, int]]:
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="api-limits-server", daemon=True)
    thread.start()
    wait_until(lambda: server.started, what="uvicorn to start")
    try:
        yield "127.0.0.1", port
    finally:
        server.should_exit = True
        thread.join(timeout=5)


def exchange(
    address: tuple[str, int], head: str, body: bytes = b"", timeout: float = 10.0
) -> tuple[int, bytes]:
    """Send a request head (and maybe part of a body) as is; the status and everything read until close."""
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    status = int(received.split(b" ", 2)[1])
    return status, received


def post_head(path: str, length: int, key: str | None = None) -> str:
    lines = [f"POST {path} HTTP/1.1", "Host: test", "Content-Type: application/json"]
    lines += [f"Content-Length: {length}", "Idempotency-Key: limits-1"]
    if key is not None:
        lines.append(f"Authorization: Bearer {key}")
    return "\n".join(lines) + "\n"


def test_the_key_is_checked_before_a_single_byte_of_the_body_is_read(api_runtime: GatewayRuntime) -> None:
    with serving(create_app(api_runtime)) as address:
        started = time.monotonic()
        # 300 MB announced, none sent: the answer cannot wait for the body, and the connection is closed.
        status, response = exchange(address, post_head(MOVEMENTS, 300_000_000))
        assert (status, time.monotonic() - started < 2) == (401, True)
        assert b'"missing_api_key"' in response
        assert b"connection: close" in response.lower()
        status, response = exchange(
            address, post_head(MOVEMENTS, 300_000_000, key="ssk_aaaaaaaa_" + "A" * 40)
        )
        assert (status, b'"invalid_api_key"' in response) == (401, True)


def test_a_store_bound_key_is_refused_another_stores_path_before_the_body(
    api_runtime: GatewayRuntime, keys: Keys
) -> None:
    with serving(create_app(api_runtime)) as address:
        hamburg_path = MOVEMENTS.replace(BERLIN, "store-hamburg-02")
        status, response = exchange(address, post_head(MOVEMENTS, 300_000_000, key=keys.hamburg_manager))
        assert (status, b'"store_forbidden"' in response) == (403, True)
        status, _ = exchange(address, post_head(hamburg_path, len(SALE), key=keys.hamburg_manager), SALE)
        assert status != 403


def test_a_body_over_the_cap_is_413_from_content_length_at_once_or_while_streaming(
    api_runtime: GatewayRuntime, keys: Keys
) -> None:
    with serving(limited_app(api_runtime, body_max_bytes=4096)) as address:
        started = time.monotonic()
        status, response = exchange(address, post_head(MOVEMENTS, 10_000_000, key=keys.admin))
        assert (status, time.monotonic() - started < 2) == (413, True)
        assert b'"payload_too_large"' in response

        def chunks() -> Iterator[bytes]:  # no Content-Length: chunked, counted as it comes
            for _ in range(100):
                yield b" " * 1024

        base = f"http://{address[0]}:{address[1]}"
        headers = {**auth(keys.admin), "Idempotency-Key": "limits-2", "Content-Type": "application/json"}
        streamed = httpx.post(base + MOVEMENTS, content=chunks(), headers=headers, timeout=10)
        assert (streamed.status_code, streamed.json()["error"]["code"]) == (413, "payload_too_large")
        # A body within the cap still goes through.
        small = httpx.post(base + MOVEMENTS, content=SALE, headers=headers, timeout=10)
        assert small.status_code == 201, small.text


def test_a_body_slower_than_the_timeout_is_408_and_the_connection_closed(
    api_runtime: GatewayRuntime, keys: Keys
) -> None:
    with serving(limited_app(api_runtime, body_timeout_s=1.0)) as address:
        started = time.monotonic()
        # Content-Length lies: 1,000 announced, 10 sent, then silence.
        status, response = exchange(address, post_head(MOVEMENTS, 1000, key=keys.admin), b'{"type": "')
        elapsed = time.monotonic() - started
    assert status == 408
    assert b'"request_timeout"' in response
    assert 0.9 < elapsed < 3.0  # the recv loop ended: the server closed the connection


def test_rate_limit_per_key_and_per_address_answers_429_with_retry_after(
    api_runtime: GatewayRuntime, keys: Keys
) -> None:
    app = limited_app(api_runtime, burst=3, rate_per_s=0.5, anonymous_burst=2, anonymous_rate_per_s=0.25)
    with TestClient(app, raise_server_exceptions=False) as client:
        statuses = [client.get(INVENTORY, headers=auth(keys.admin)).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        refused = client.get(INVENTORY, headers=auth(keys.admin))
        assert refused.json()["error"]["code"] == "too_many_requests"
        assert 1 <= int(refused.headers["retry-after"]) <= 2
        # Another key has its own bucket.
        assert client.get(INVENTORY, headers=auth(keys.manager)).status_code == 200
        # Without a valid key: the client address's bucket, then 429 before the key is even judged.
        anonymous = [client.get(INVENTORY, headers=auth("nonsense")).status_code for _ in range(3)]
        assert anonymous == [401, 401, 429]
        assert 1 <= int(client.get(INVENTORY).headers["retry-after"]) <= 4


def test_token_buckets_refill_and_stay_bounded() -> None:
    now = [0.0]
    buckets = TokenBuckets(rate_per_s=2.0, burst=2, max_buckets=100, clock=lambda: now[0])
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.5]
    now[0] = 0.5  # one token back
    assert (buckets.take("a"), buckets.take("a")) == (0.0, 0.5)
    for caller in range(1000):
        buckets.take(str(caller))
    assert len(buckets) == 100


@pytest.mark.parametrize(
    ("path", "params"),
    [
        (INVENTORY, {"offset": "9223372036854775808"}),
        (INVENTORY, {"offset": "2147483648"}),
        (INVENTORY, {"min_atp": "9223372036854775808"}),
        (f"/api/v1/stores/{BERLIN}/alerts", {"offset": "2147483648"}),
        ("/api/v1/dead-letters", {"offset": "9223372036854775808"}),
    ],
)
def test_integers_beyond_the_database_are_422(
    client: TestClient, keys: Keys, path: str, params: dict[str, str]
) -> None:
    response = client.get(path, params=params, headers=auth(keys.admin))
    assert (response.status_code, response.json()["error"]["code"]) == (422, "validation_error")


def test_ids_beyond_the_database_are_422_and_the_largest_is_404(
    client: TestClient, keys: Keys, api_runtime: GatewayRuntime
) -> None:
    open_alert(api_runtime, BERLIN, "rfid.reader_offline:reader-aisle-1")
    for path in ("/api/v1/alerts/{}/clear", "/api/v1/alerts/{}/acknowledge", "/api/v1/tasks/{}/resolve"):
        assert client.post(path.format(2**31), headers=auth(keys.admin)).status_code == 422
        assert client.post(path.format(0), headers=auth(keys.admin)).status_code == 422
        assert client.post(path.format(2**31 - 1), headers=auth(keys.admin)).status_code == 404


def test_while_the_database_is_down_the_api_answers_503_with_retry_after(
    api_runtime: GatewayRuntime, keys: Keys
) -> None:
    dead = make_engine(f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere", create_schema=False)
    down = dataclasses.replace(api_runtime, engine=dead, sessions=make_sessionmaker(dead))
    try:
        with TestClient(create_app(down), raise_server_exceptions=False) as client:
            for response in (
                client.get(INVENTORY, headers=auth(keys.admin)),
                client.post(MOVEMENTS, content=SALE, headers={**auth(keys.admin), "Idempotency-Key": "x"}),
            ):
                assert response.status_code == 503, response.text
                assert response.json()["error"]["code"] == "database_unavailable"
                assert int(response.headers["retry-after"]) >= 1
            assert client.get(INVENTORY).status_code == 401  # no key: nothing to look up
    finally:
        dead.dispose()


def test_only_connection_failures_count_as_the_database_being_down(tmp_path: object) -> None:
    refused = create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nowhere")
    sqlite = create_engine("sqlite://")
    errors: list[SQLAlchemyError] = []
    for engine, statement in ((refused, "SELECT 1"), (sqlite, "SELECT * FROM no_such_table")):
        try:
            with engine.connect() as connection:
                connection.execute(text(statement))
        except SQLAlchemyError as error:
            errors.append(error)
        finally:
            engine.dispose()
    assert [database_unavailable(error) for error in errors] == [True, False]
