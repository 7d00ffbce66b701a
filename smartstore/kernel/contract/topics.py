"""MQTT topic names of the smartstore wire contract: the only place topic strings are built."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

ROOT = "smartstore"
VERSION = "v1"

# Identifiers become topic levels, so they must never contain MQTT separators or wildcards.
IDENTIFIER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_IDENTIFIER = re.compile(IDENTIFIER_PATTERN)


class Kind(StrEnum):
    """Who publishes under a topic: a device family, an edge agent or the gateway."""

    RFID = "rfid"
    CAMERA = "camera"
    LOCKER = "locker"
    EDGE = "edge"
    GATEWAY = "gateway"


class SignalType(StrEnum):
    """The four edge -> gateway signal families."""

    SHELF = "shelf"
    STOCK = "stock"
    PICKUP = "pickup"
    ALERT = "alert"


class TelemetryType(StrEnum):
    """Edge agent telemetry families: retained summaries for dashboards, never inventory."""

    RFID = "rfid"


class Channel(StrEnum):
    """Last topic level(s) of device and agent topics."""

    READS = "reads"
    IMAGE = "image"
    EVENT = "event"
    CMD = "cmd"
    ACK = "ack"
    STATUS = "status"
    SIGNAL = "signal"
    TELEMETRY = "telemetry"
    SNAPSHOT = "snapshot"
    MANIFEST = "manifest"
    KEYPAD = "keypad"


class TopicError(ValueError):
    """A topic string that is not part of the contract."""


def check_identifier(value: str, what: str = "identifier") -> str:
    if not _IDENTIFIER.match(value):
        raise TopicError(f"{what} {value!r} must match {IDENTIFIER_PATTERN}")
    return value


@dataclass(frozen=True, slots=True)
class Topic:
    """A parsed contract topic: smartstore/v1/{store}/{kind}/{device}/{channel...}."""

    store: str
    kind: Kind
    device: str
    channel: tuple[str, ...]

    def __str__(self) -> str:
        return "/".join((ROOT, VERSION, self.store, self.kind.value, self.device, *self.channel))

    @property
    def signal_type(self) -> SignalType | None:
        if self.kind is Kind.EDGE and len(self.channel) == 2 and self.channel[0] == Channel.SIGNAL:
            return SignalType(self.channel[1])
        return None

    @property
    def telemetry_type(self) -> TelemetryType | None:
        if self.kind is Kind.EDGE and len(self.channel) == 2 and self.channel[0] == Channel.TELEMETRY:
            return TelemetryType(self.channel[1])
        return None

    @property
    def snapshot_camera(self) -> str | None:
        """The camera of an edge agent's annotated snapshot topic (`edge/{agent}/snapshot/{camera}`)."""
        if self.kind is Kind.EDGE and len(self.channel) == 2 and self.channel[0] == Channel.SNAPSHOT:
            return self.channel[1]
        return None

    @classmethod
    def parse(cls, topic: str) -> Topic:
        parts = topic.split("/")
        if len(parts) < 6 or parts[0] != ROOT:
            raise TopicError(f"not a smartstore topic: {topic!r}")
        if parts[1] != VERSION:
            raise TopicError(f"unsupported contract version {parts[1]!r} in {topic!r}")
        store, kind_text, device, *channel = parts[2:]
        check_identifier(store, "store")
        check_identifier(device, "device")
        try:
            kind = Kind(kind_text)
        except ValueError:
            raise TopicError(f"unknown device kind {kind_text!r} in {topic!r}") from None
        parsed = cls(store, kind, device, tuple(channel))
        _check_channel(parsed, topic)
        return parsed


_CHANNELS_BY_KIND: dict[Kind, frozenset[str]] = {
    Kind.RFID: frozenset({Channel.READS, Channel.STATUS}),
    Kind.CAMERA: frozenset({Channel.IMAGE, Channel.STATUS}),
    Kind.LOCKER: frozenset(
        {Channel.EVENT, Channel.CMD, Channel.ACK, Channel.STATUS, Channel.MANIFEST, Channel.KEYPAD}
    ),
    Kind.EDGE: frozenset({Channel.STATUS}),
    Kind.GATEWAY: frozenset({Channel.STATUS}),
}


def _check_channel(topic: Topic, text: str) -> None:
    if topic.kind is Kind.EDGE and topic.channel[:1] == (Channel.SIGNAL,):
        if len(topic.channel) == 2 and topic.channel[1] in SignalType.__members__.values():
            return
        raise TopicError(f"unknown signal topic {text!r}")
    if topic.kind is Kind.EDGE and topic.channel[:1] == (Channel.TELEMETRY,):
        if len(topic.channel) == 2 and topic.channel[1] in TelemetryType.__members__.values():
            return
        raise TopicError(f"unknown telemetry topic {text!r}")
    if topic.kind is Kind.EDGE and topic.channel[:1] == (Channel.SNAPSHOT,):
        if len(topic.channel) == 2 and _IDENTIFIER.match(topic.channel[1]):
            return
        raise TopicError(f"unknown snapshot topic {text!r}")
    if len(topic.channel) != 1 or topic.channel[0] not in _CHANNELS_BY_KIND[topic.kind]:
        raise TopicError(f"unknown channel for {topic.kind.value} in {text!r}")


def _topic(store: str, kind: Kind, device: str, *channel: str) -> str:
    check_identifier(store, "store")
    check_identifier(device, "device")
    return str(Topic(store, kind, device, channel))


def rfid_reads(store: str, reader: str) -> str:
    return _topic(store, Kind.RFID, reader, Channel.READS)


def camera_image(store: str, camera: str) -> str:
    return _topic(store, Kind.CAMERA, camera, Channel.IMAGE)


def locker_event(store: str, locker: str) -> str:
    return _topic(store, Kind.LOCKER, locker, Channel.EVENT)


def locker_cmd(store: str, locker: str) -> str:
    return _topic(store, Kind.LOCKER, locker, Channel.CMD)


def locker_ack(store: str, locker: str) -> str:
    return _topic(store, Kind.LOCKER, locker, Channel.ACK)


def locker_manifest(store: str, locker: str) -> str:
    """Retained list of a locker bank's ready orders (gateway -> edge), for offline pickups."""
    return _topic(store, Kind.LOCKER, locker, Channel.MANIFEST)


def locker_keypad(store: str, locker: str) -> str:
    """Codes typed on a locker bank's own keypad (controller -> edge), validated by the edge offline."""
    return _topic(store, Kind.LOCKER, locker, Channel.KEYPAD)


def status(store: str, kind: Kind, device: str) -> str:
    return _topic(store, kind, device, Channel.STATUS)


def signal(store: str, agent: str, signal_type: SignalType) -> str:
    return _topic(store, Kind.EDGE, agent, Channel.SIGNAL, signal_type.value)


def edge_telemetry(store: str, agent: str, telemetry_type: TelemetryType) -> str:
    return _topic(store, Kind.EDGE, agent, Channel.TELEMETRY, telemetry_type.value)


def edge_snapshot(store: str, agent: str, camera: str) -> str:
    """Retained annotated JPEG of a camera's latest inference (boxes, slot states), for dashboards."""
    return _topic(store, Kind.EDGE, agent, Channel.SNAPSHOT, check_identifier(camera, "camera"))


# Gateway presence: one retained topic per gateway, outside every store (Sparkplug's STATE topic is the
# model). A gateway serves many stores over one MQTT connection, and a connection has one Last Will:
# on a store-level topic only that store's edge agents would learn that the gateway died, and the
# others would never send their unconfirmed tail again (edge/replay.py). "_gateways" can never be a
# store id (identifiers start with a letter or digit), and the topic has one level fewer than every
# store topic, so no store-level filter (`smartstore/v1/+/+/+/status`) matches it.
GATEWAYS = "_gateways"
PRESENCE = "presence"


def gateway_presence(gateway_id: str) -> str:
    return "/".join((ROOT, VERSION, GATEWAYS, check_identifier(gateway_id, "gateway"), PRESENCE))


def gateway_presence_filter() -> str:
    """Every gateway's presence: what each edge agent watches, whichever gateway serves its store."""
    return "/".join((ROOT, VERSION, GATEWAYS, "+", PRESENCE))


def parse_gateway_presence(topic: str) -> str | None:
    """The gateway id of a presence topic; None for any other topic."""
    parts = topic.split("/")
    if len(parts) != 5 or parts[:3] != [ROOT, VERSION, GATEWAYS] or parts[4] != PRESENCE:
        return None
    return parts[3] if _IDENTIFIER.match(parts[3]) else None


# Subscription filters. `store` may be "+" to cover every store on the broker.


def _filter(store: str, *levels: str) -> str:
    if store != "+":
        check_identifier(store, "store")
    return "/".join((ROOT, VERSION, store, *levels))


def signals_filter(store: str = "+") -> str:
    return _filter(store, Kind.EDGE, "+", Channel.SIGNAL, "+")


def telemetry_filter(store: str = "+") -> str:
    return _filter(store, Kind.EDGE, "+", Channel.TELEMETRY, "+")


def snapshot_filter(store: str = "+") -> str:
    return _filter(store, Kind.EDGE, "+", Channel.SNAPSHOT, "+")


def status_filter(store: str = "+") -> str:
    return _filter(store, "+", "+", Channel.STATUS)


def device_data_filters(store: str) -> list[str]:
    """What an edge agent subscribes to: every raw device topic of its store."""
    return [
        _filter(store, Kind.RFID, "+", Channel.READS),
        _filter(store, Kind.CAMERA, "+", Channel.IMAGE),
        _filter(store, Kind.LOCKER, "+", Channel.EVENT),
        _filter(store, Kind.LOCKER, "+", Channel.ACK),
    ]


def locker_manifest_filter(store: str) -> str:
    return _filter(store, Kind.LOCKER, "+", Channel.MANIFEST)


def locker_feedback_filters(store: str) -> list[str]:
    """What the gateway reads of its lockers (read-only): door/occupancy events and command acks."""
    return [_filter(store, Kind.LOCKER, "+", Channel.EVENT), _filter(store, Kind.LOCKER, "+", Channel.ACK)]


def locker_keypad_filter(store: str) -> str:
    return _filter(store, Kind.LOCKER, "+", Channel.KEYPAD)


def locker_cmd_filter(store: str) -> str:
    return _filter(store, Kind.LOCKER, "+", Channel.CMD)


def store_topic_prefix(store: str) -> str:
    """The start every topic of `store` shares, e.g. to match stored topic strings by store."""
    return _filter(check_identifier(store, "store"), "")
