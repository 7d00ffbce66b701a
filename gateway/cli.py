"""`smartstore gateway`: start the signal consumer and the REST API in one process."""

from __future__ import annotations

import argparse
import errno
import logging
import socket
import sys
import threading
from pathlib import Path

import uvicorn

from smartstore.gateway.config import GatewaySettings
from smartstore.kernel.mqtt import MqttSettings
from smartstore.kernel.shutdown import on_stop_signals

logger = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", dest="stores", action="append", type=Path, help="store file (repeatable)")
    parser.add_argument("--db-url", help="SQLAlchemy URL; default sqlite:///var/smartstore.db")
    parser.add_argument("--mqtt-url", help="broker URL, e.g. mqtt://127.0.0.1:1883")
    parser.add_argument("--mqtt-protocol", choices=["5", "3.1.1"])
    parser.add_argument("--host", dest="http_host", help="HTTP bind address (default 127.0.0.1)")
    parser.add_argument("--port", dest="http_port", type=int, help="HTTP port (default 8080)")
    parser.add_argument("--gateway-id", help="MQTT client id / status device name")


def settings_from_args(args: argparse.Namespace) -> GatewaySettings:
    """CLI flags override SMARTSTORE_* environment variables, which override defaults."""
    overrides: dict[str, object] = {
        key: value
        for key in ("stores", "db_url", "http_host", "http_port", "gateway_id")
        if (value := getattr(args, key, None)) is not None
    }
    base = GatewaySettings()
    mqtt = base.mqtt.model_dump()
    if getattr(args, "mqtt_url", None):
        mqtt["url"] = args.mqtt_url
    if getattr(args, "mqtt_protocol", None):
        mqtt["protocol"] = args.mqtt_protocol
    overrides["mqtt"] = MqttSettings(**mqtt)
    return GatewaySettings(**{**base.model_dump(), **overrides})


def run(args: argparse.Namespace) -> int:
    from smartstore.gateway.api.app import create_app
    from smartstore.gateway.api.slow_clients import head_timeout_protocol
    from smartstore.gateway.inventory.catalog import sync_stores
    from smartstore.gateway.runtime import GatewayRuntime

    settings = settings_from_args(args)
    # The port first: a busy one is one line, before any database, secret or broker session is touched.
    try:
        listener = bind_http(settings.http_host, settings.http_port)
    except OSError as error:
        print(f"smartstore gateway: {http_bind_problem(settings, error)}", file=sys.stderr)
        return 2
    # uvicorn catches SIGINT/SIGTERM while it serves and raises them again once it stopped. With the
    # default SIGTERM handler that second signal killed the process before ingest drained and its
    # receiver process was joined, so the multiprocessing resource tracker reported the receiver's
    # events as "10 leaked semaphore objects" at every stop of the demo (which stops with SIGTERM).
    # These handlers only ask the server to stop (also when it has not started yet); the stop then
    # runs to its end (bounded by SignalConsumer.stop's time-outs).
    stopping = threading.Event()
    servers: list[uvicorn.Server] = []

    def request_stop() -> None:
        stopping.set()
        for server in servers:
            server.should_exit = True

    on_stop_signals(request_stop, "the gateway")
    if settings.db_url.startswith("sqlite:///") and not settings.db_url.startswith("sqlite:////"):
        Path(settings.db_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    try:
        runtime = GatewayRuntime.build(settings, services=True)
    except BaseException:
        listener.close()
        raise
    try:
        sync_stores(runtime.sessions, runtime.stores)
        # Ingest and side services run before the API serves and stop after it stopped.
        with runtime.running():
            logger.info("gateway API on http://%s:%d", settings.http_host, settings.http_port)
            server = uvicorn.Server(
                uvicorn.Config(
                    create_app(runtime),
                    log_level="warning",
                    access_log=False,
                    # Open SSE streams never end by themselves; don't let them hold Ctrl-C forever.
                    timeout_graceful_shutdown=3,
                    # Beyond this uvicorn answers 503 itself; body, time and rate limits are the API's.
                    limit_concurrency=settings.api.max_connections,
                    # Request line and headers: at most 16 KiB (400 above), sent within the head timeout.
                    h11_max_incomplete_event_size=16 * 1024,
                    http=head_timeout_protocol(settings.request_head_timeout_s),
                )
            )
            servers.append(server)
            server.should_exit = stopping.is_set()
            server.run(sockets=[listener])
    finally:
        listener.close()
        runtime.engine.dispose()
    return 0


def bind_http(host: str, port: int) -> socket.socket:
    """The API's listening socket, bound the way uvicorn binds it (uvicorn then serves on it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        # A port left in TIME_WAIT by a previous run is free; one with a listener is not.
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
    except OSError:
        listener.close()
        raise
    return listener


def http_bind_problem(settings: GatewaySettings, error: OSError) -> str:
    where = f"{settings.http_host}:{settings.http_port}"
    if error.errno == errno.EADDRINUSE:
        return (
            f"{where} (the HTTP API) is already in use, perhaps by another gateway or demo; "
            "choose another with --port or SMARTSTORE_HTTP_PORT"
        )
    return f"cannot listen on {where} (the HTTP API): {error.strerror or error}; see --host and --port"
