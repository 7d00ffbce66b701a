"""The locker state file (lockers.json in the state dir): written whole and atomically on every change."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from smartstore.edge.lockers.alerts import AlertGate
from smartstore.edge.lockers.doors import Compartment
from smartstore.edge.lockers.orders import OrderBook, UsedOrder
from smartstore.edge.lockers.throttle import KeypadThrottle
from smartstore.kernel.atomic_file import atomic_write
from smartstore.kernel.contract.payloads import LockerManifest

logger = logging.getLogger(__name__)

VERSION = 1


@dataclass(slots=True)
class LockerState:
    book: OrderBook = field(default_factory=OrderBook)
    throttles: dict[str, KeypadThrottle] = field(default_factory=dict)
    compartments: dict[tuple[str, str], Compartment] = field(default_factory=dict)
    alerts: AlertGate = field(default_factory=lambda: AlertGate(0.0))


def save(path: Path, state: LockerState) -> None:
    """Write to a temp file, fsync, rename: a used code must stay used across a power cut."""
    data: dict[str, Any] = {
        "version": VERSION,
        "manifests": {k: m.model_dump(mode="json") for k, m in state.book.manifests.items()},
        "used": [used.as_json() for used in state.book.used.values()],
        "throttles": {locker: t.as_json() for locker, t in state.throttles.items()},
        "compartments": {f"{lk}/{c}": comp.as_json() for (lk, c), comp in state.compartments.items()},
        "alert_holds": state.alerts.as_json(),
    }
    atomic_write(path, json.dumps(data, separators=(",", ":")), fsync=True)


def load(path: Path, state: LockerState) -> bool:
    """Fill `state` from the file; False (state untouched) when missing or unreadable."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return False
    except (OSError, ValueError) as error:
        logger.error("locker state %s unreadable, starting empty: %s", path, error)
        return False
    if not isinstance(data, dict) or data.get("version") != VERSION:
        logger.error("locker state %s has an unknown format, starting empty", path)
        return False
    try:
        manifests = {k: LockerManifest.model_validate(m) for k, m in data.get("manifests", {}).items()}
        used = [UsedOrder.from_json(u) for u in data.get("used", [])]
        compartments = {
            tuple(key.split("/", 1)): Compartment.from_json(value)
            for key, value in data.get("compartments", {}).items()
        }
    except (ValidationError, TypeError, ValueError) as error:
        logger.error("locker state %s is invalid, starting empty: %s", path, error)
        return False
    try:
        state.alerts.restore(data.get("alert_holds", {}))  # absent in files of older versions
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        logger.warning("locker state %s: alert holds unreadable, none kept: %s", path, error)
    state.book.manifests = manifests
    state.book.used = {u.order: u for u in used}
    for locker, values in data.get("throttles", {}).items():
        throttle = state.throttles.get(locker)
        if throttle is not None:
            throttle.wrong = int(values.get("wrong", 0))
            throttle.locked_until = float(values.get("locked_until", 0.0))
    for key, compartment in compartments.items():
        if key in state.compartments:
            state.compartments[key] = compartment
    return True
