"""Tag state on disk (JSON, replaced atomically), so a restart resumes instead of re-announcing every tag."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smartstore.edge.rfid.epc import EpcIdentity, decode_epc
from smartstore.edge.rfid.tags import TagRecord, ZoneStats
from smartstore.kernel.atomic_file import atomic_write

logger = logging.getLogger(__name__)

STATE_VERSION = 2


@dataclass(slots=True)
class SavedState:
    tags: list[TagRecord] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)  # other parts' state, e.g. raised alerts


def _row(tag: TagRecord) -> list[Any]:
    identity = tag.identity
    current = tag.stats.get(tag.zone)
    mean_dbm = round(10.0 * math.log10(current.mean_mw), 2) if current is not None else None
    return [
        identity.epc,
        identity.scheme,
        identity.gtin,
        identity.serial,
        tag.zone,
        tag.prev_zone,
        tag.last_zone,
        round(tag.last_seen, 3),
        1 if tag.present else 0,
        round(tag.departed_at, 3),
        mean_dbm,
        current.reads if current is not None else 0,
    ]


def _tag(row: list[Any]) -> TagRecord:
    epc, scheme, gtin, serial, zone, prev_zone, last_zone, last_seen, present, departed_at, mean, reads = row
    tag = TagRecord(
        EpcIdentity(str(epc), str(scheme), gtin and str(gtin), serial and str(serial)),
        None,
        str(zone),
        float(last_seen),
    )
    tag.prev_zone = str(prev_zone) if prev_zone is not None else None
    tag.last_zone = str(last_zone)
    tag.present = bool(present)
    tag.departed_at = float(departed_at)
    if mean is not None and tag.present:
        tag.stats[tag.zone] = ZoneStats(10.0 ** (float(mean) / 10.0), int(reads), float(last_seen))
    return tag


def _v1_tag(row: list[Any]) -> TagRecord | None:
    """The first processor's rows, [epc, gtin, zone, last_seen]: re-decoded, since they lack the identity."""
    epc, _gtin, zone, last_seen = row
    identity = decode_epc(str(epc))
    if not isinstance(identity, EpcIdentity):
        return None
    return TagRecord(identity, None, str(zone), float(last_seen))


def save_state(path: Path, tags: Iterable[TagRecord], extras: dict[str, Any]) -> bool:
    state = {"version": STATE_VERSION, "tags": [_row(tag) for tag in tags], "extras": extras}
    try:
        atomic_write(path, json.dumps(state, separators=(",", ":")))
    except OSError:
        logger.exception("could not save RFID tag state to %s", path)
        return False
    return True


def load_state(path: Path) -> SavedState:
    """What was saved, or an empty state (logged) when the file is missing or unreadable."""
    if not path.exists():
        return SavedState()
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        version = state.get("version")
        if version == STATE_VERSION:
            tags = [_tag(row) for row in state["tags"]]
            extras = state.get("extras", {})
            if not isinstance(extras, dict):
                raise TypeError("extras is not an object")
        elif version == 1:
            tags = [tag for tag in (_v1_tag(row) for row in state["tags"]) if tag is not None]
            extras = {}
        else:
            raise ValueError(f"state version {version!r}")
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        logger.warning("ignoring unreadable RFID tag state %s; starting empty", path, exc_info=True)
        return SavedState()
    logger.info("restored %d RFID tags from %s", len(tags), path)
    return SavedState(tags, extras)
