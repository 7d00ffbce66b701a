"""Tag events (arrived, moved, departed with reason, returned) appended to a rotating JSON-lines file."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

from smartstore.edge.rfid.tags import TagEvent

logger = logging.getLogger(__name__)


class TagEventLog:
    """An audit trail of what the edge concluded about each tag; one file kept beside the current one.

    Used as the RFID processor's event sink, so it runs on the dispatcher thread: no locking.
    """

    def __init__(self, path: Path, max_bytes: int = 50 * 1024 * 1024) -> None:
        self.path = path
        self.max_bytes = max_bytes
        path.parent.mkdir(parents=True, exist_ok=True)

    def __call__(self, events: Sequence[TagEvent]) -> None:
        if not events:
            return
        lines = "".join(json.dumps(_as_json(event), separators=(",", ":")) + "\n" for event in events)
        try:
            if self.path.exists() and self.path.stat().st_size + len(lines) > self.max_bytes:
                self.path.replace(self.path.with_suffix(self.path.suffix + ".1"))
            with self.path.open("a", encoding="utf-8") as log:
                log.write(lines)
        except OSError:
            # The log is evidence for people, not state: a full disk must not stop inventory.
            logger.exception("could not append %d tag events to %s", len(events), self.path)


def _as_json(event: TagEvent) -> dict[str, object]:
    record: dict[str, object] = {"t": round(event.t, 3), "kind": event.kind.value, "epc": event.epc}
    if event.gtin is not None:
        record["gtin"] = event.gtin
    record["zone"] = event.zone
    if event.from_zone is not None:
        record["from_zone"] = event.from_zone
    if event.reason is not None:
        record["reason"] = event.reason.value
    return record


def read_events(path: Path) -> list[dict[str, object]]:
    """The events in one log file, oldest first (for tests and tools)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
