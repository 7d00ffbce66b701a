"""Payload size limits per kind of topic, shared by the receiver process (light: no I/O imports), the
classifier and the side link's guard."""

from __future__ import annotations

from dataclasses import dataclass

from smartstore.kernel.contract.topics import Channel
from smartstore.kernel.contract.validation import MAX_IMAGE_BYTES, MAX_JSON_BYTES


@dataclass(frozen=True, slots=True)
class SizeLimits:
    """Largest payload accepted per kind of topic, in bytes; larger ones are refused unparsed."""

    signal: int = MAX_JSON_BYTES
    status: int = MAX_JSON_BYTES
    telemetry: int = MAX_JSON_BYTES
    snapshot: int = MAX_IMAGE_BYTES
    locker: int = MAX_JSON_BYTES  # locker events and command acks

    def for_topic(self, topic: str) -> int:
        # smartstore/v1/{store}/{kind}/{device}/{channel}[/...]: the channel decides.
        parts = topic.split("/", 6)
        channel = parts[5] if len(parts) > 5 else ""
        if channel == Channel.STATUS:
            return self.status
        if channel == Channel.TELEMETRY:
            return self.telemetry
        if channel == Channel.SNAPSHOT:
            return self.snapshot
        if channel in (Channel.EVENT, Channel.ACK):
            return self.locker
        return self.signal
