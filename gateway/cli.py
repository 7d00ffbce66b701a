"""`smartstore gateway`: start the signal consumer and the REST API in one process."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import uvicorn

from smartstore.gateway.config import GatewaySettings
from smartstore.kernel.mqtt import MqttSettings

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
    from smartstore.gateway.inventory.catalog import sync_stores
    from smartstore.gateway.runtime import GatewayRuntime

    settings = settings_from_args(args)
    if settings.db_url.startswith("sqlite:///") and not settings.db_url.startswith("sqlite:////"):
        Path(settings.db_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    runtime = GatewayRuntime.build(settings, services=True)
    try:
        sync_stores(runtime.sessions, runtime.stores)
        # Ingest and side services run before the API serves and stop after it stopped.
        with runtime.running():
            logger.info("gateway API on http://%s:%d", settings.http_host, settings.http_port)
            uvicorn.run(
                create_app(runtime),
                host=settings.http_host,
                port=settings.http_port,
                log_level="warning",
                access_log=False,
                # Open SSE streams never end by themselves; don't let them hold Ctrl-C forever.
                timeout_graceful_shutdown=3,
                # Beyond this uvicorn answers 503 itself; body, time and rate limits are the API's (ApiGuard).
                limit_concurrency=settings.api.max_connections,
                h11_max_incomplete_event_size=16 * 1024,  # request line and headers
            )
    finally:
        runtime.engine.dispose()
    return 0
