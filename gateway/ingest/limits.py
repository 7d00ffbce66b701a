"""Payload size limits per kind of topic, shared by the receiver process (light: no I/O imports), the
classifier and the side link's guard; the classifier's token buckets per source."""

from __future__ import annotations

from dataclasses import dataclass

from smartstore.kernel.contract.topics import Channel, Kind
from smartstore.kernel.contract.validation import MAX_IMAGE_BYTES, MAX_JSON_BYTES
from smartstore.kernel.token_bucket import take_token


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


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Messages per second each source may sustain, and at once (its bucket), by kind of source.

    A source is (store, kind, device) of the topic: the edge agent (`edge`, all its signals) or one
    device (reader, camera, locker: its status).
    """

    agent_per_s: float = 2000.0
    # At least the shipped broker's max_queued_messages (deploy/mosquitto, 200,000): what it queued for
    # the gateway while it was down arrives at once on its return and must drain through the burst, not
    # be dead-lettered as rate_limited. The edge paces its own replays below agent_per_s. Same as config.
    agent_burst: int = 200_000
    device_per_s: float = 5.0
    device_burst: int = 60


class SourceBuckets:
    """A token bucket per source; `admit` says whether one more message of it may be applied now.

    Fed only sources of routes already checked against the store files (known stores and devices),
    so the table is bounded by the stores' devices; `max_sources` bounds it anyway.
    """

    def __init__(self, limits: RateLimits, max_sources: int = 100_000) -> None:
        self._limits = limits
        self._max = max_sources
        self._buckets: dict[tuple[str, str, str], list[float]] = {}  # [tokens, when counted]
        self.refused = 0

    def admit(self, source: tuple[str, str, str], now: float) -> bool:
        bucket = self._buckets.get(source)
        agent = source[1] == Kind.EDGE
        rate = self._limits.agent_per_s if agent else self._limits.device_per_s
        burst = float(self._limits.agent_burst if agent else self._limits.device_burst)
        if bucket is None:
            if len(self._buckets) >= self._max:
                self._buckets.clear()  # forgetting grants full buckets: a bound on memory only
            bucket = self._buckets[source] = [burst, now]
        bucket[0], wait = take_token(bucket[0], bucket[1], now, rate, burst)
        bucket[1] = max(now, bucket[1])  # a clock stepping back grants nothing twice
        if wait == 0.0:
            return True
        self.refused += 1
        return False
