"""`smartstore edge`: run the edge agent of one store until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from smartstore.edge.config import EdgeSettings
from smartstore.kernel.shutdown import on_stop_signals
from smartstore.kernel.storeconfig import StoreConfigError, load_store

logger = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", dest="store_file", type=Path, help="store YAML (default: example store)")
    parser.add_argument("--mqtt-url", help="broker URL, e.g. mqtt://127.0.0.1:1883")
    parser.add_argument("--mqtt-protocol", choices=["5", "3.1.1"])
    parser.add_argument("--agent-id", help="agent name in topics and client id (default edge-1)")
    parser.add_argument("--state-dir", type=Path, help="outbox, dead letters, tag state (var/edge-<store>)")


def settings_from_args(args: argparse.Namespace) -> EdgeSettings:
    """CLI flags override SMARTSTORE_EDGE_* environment variables, which override defaults."""
    overrides: dict[str, Any] = {
        key: value
        for key in ("store_file", "agent_id", "state_dir")
        if (value := getattr(args, key, None)) is not None
    }
    mqtt = {
        field: value
        for field, key in (("url", "mqtt_url"), ("protocol", "mqtt_protocol"))
        if (value := getattr(args, key, None)) is not None
    }
    if mqtt:
        # pydantic-settings deep-merges this over SMARTSTORE_EDGE_MQTT__* instead of replacing it.
        overrides["mqtt"] = mqtt
    return EdgeSettings(**overrides)


def run(args: argparse.Namespace) -> int:
    from smartstore.edge.agent import EdgeAgent

    try:
        settings = settings_from_args(args)
        store = load_store(settings.store_file)
    except ValidationError as error:
        print(f"invalid edge settings:\n{error}", file=sys.stderr)
        return 2
    except StoreConfigError as error:
        print(error, file=sys.stderr)
        return 2
    stop = threading.Event()
    on_stop_signals(stop.set, "the edge agent")
    agent = EdgeAgent(settings, store)
    agent.start()
    try:
        while not stop.wait(1.0):
            pass
    finally:
        agent.stop()
    return 0
