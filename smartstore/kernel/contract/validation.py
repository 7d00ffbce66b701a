"""Decode a raw MQTT message into a contract payload, or a rejection with a reason."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from smartstore.kernel.contract import payloads as p
from smartstore.kernel.contract.topics import Channel, Kind, SignalType, TelemetryType, Topic, TopicError

MAX_JSON_BYTES = 4 * 1024 * 1024
MAX_IMAGE_BYTES = 16 * 1024 * 1024
JPEG_MAGIC = b"\xff\xd8\xff"
BaseModelT = TypeVar("BaseModelT", bound=BaseModel)


class RejectReason(StrEnum):
    """Why a message was rejected; a metric label, so the set is small and fixed."""

    BAD_TOPIC = "bad_topic"
    TOO_LARGE = "too_large"
    INVALID_JSON = "invalid_json"
    UNSUPPORTED_VERSION = "unsupported_version"
    INVALID_PAYLOAD = "invalid_payload"
    NOT_JPEG = "not_jpeg"
    UNKNOWN_STORE = "unknown_store"
    UNKNOWN_REFERENCE = "unknown_reference"
    TOPIC_MISMATCH = "topic_mismatch"


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: RejectReason
    detail: str


@dataclass(frozen=True, slots=True)
class Decoded:
    topic: Topic
    payload: p.JsonPayload


@dataclass(frozen=True, slots=True)
class Image:
    topic: Topic
    jpeg: bytes


_SIGNAL_MODELS: dict[SignalType, type[p.Envelope]] = {
    SignalType.SHELF: p.ShelfSignal,
    SignalType.STOCK: p.StockSignal,
    SignalType.PICKUP: p.PickupSignal,
    SignalType.ALERT: p.AlertSignal,
}
_TELEMETRY_MODELS: dict[TelemetryType, type[p.Envelope]] = {TelemetryType.RFID: p.RfidTelemetry}
_CHANNEL_MODELS: dict[str, type[p.Envelope]] = {
    Channel.READS: p.ReadBatch,
    Channel.STATUS: p.DeviceStatus,
    Channel.EVENT: p.LockerEvent,
    Channel.CMD: p.LockerCommand,
    Channel.ACK: p.LockerAck,
    Channel.MANIFEST: p.LockerManifest,
    Channel.KEYPAD: p.KeypadEntry,
}


def model_for(topic: Topic) -> type[p.Envelope] | None:
    """The payload model of a topic; None for binary channels (camera images)."""
    signal_type = topic.signal_type
    if signal_type is not None:
        return _SIGNAL_MODELS[signal_type]
    telemetry_type = topic.telemetry_type
    if telemetry_type is not None:
        return _TELEMETRY_MODELS[telemetry_type]
    if topic.kind is Kind.CAMERA and topic.channel == (Channel.IMAGE,):
        return None
    if topic.snapshot_camera is not None:
        return None  # an edge agent's annotated JPEG: binary like a camera frame
    return _CHANNEL_MODELS[topic.channel[0]]


def describe(error: ValidationError) -> str:
    """First few validation errors as 'location: message', readable in a dead-letter list."""
    parts = []
    for item in error.errors()[:3]:
        location = ".".join(str(part) for part in item["loc"]) or "(payload)"
        parts.append(f"{location}: {item['msg']}")
    more = error.error_count() - len(parts)
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def decode(topic_text: str, raw: bytes) -> Decoded | Image | Rejected:
    try:
        topic = Topic.parse(topic_text)
    except TopicError as error:
        return Rejected(RejectReason.BAD_TOPIC, str(error))
    model = model_for(topic)
    if model is None:
        if len(raw) > MAX_IMAGE_BYTES:
            return Rejected(RejectReason.TOO_LARGE, f"{len(raw)} bytes > {MAX_IMAGE_BYTES}")
        if not raw.startswith(JPEG_MAGIC):
            return Rejected(RejectReason.NOT_JPEG, "image payload does not start with a JPEG SOI")
        return Image(topic, raw)
    if len(raw) > MAX_JSON_BYTES:
        return Rejected(RejectReason.TOO_LARGE, f"{len(raw)} bytes > {MAX_JSON_BYTES}")
    return decode_json(topic, model, raw)


def decode_json(topic: Topic, model: type[p.Envelope], raw: bytes) -> Decoded | Rejected:
    try:
        payload = model.model_validate_json(raw)
    except ValidationError as error:
        return _classify(raw, error)
    return Decoded(topic, payload)  # type: ignore[arg-type]


def _classify(raw: bytes, error: ValidationError) -> Rejected:
    first = error.errors()[0]
    if first["type"] == "json_invalid":
        return Rejected(RejectReason.INVALID_JSON, first["msg"])
    try:
        version = json.loads(raw).get("v")
    except (ValueError, AttributeError):
        version = None
    if version is not None and version != p.SCHEMA_VERSION:
        return Rejected(RejectReason.UNSUPPORTED_VERSION, f"schema version {version!r} != 1")
    return Rejected(RejectReason.INVALID_PAYLOAD, describe(error))


def decode_as(model: type[BaseModelT], raw: bytes) -> BaseModelT:
    """Strict decode for trusted paths (tests, tools); raises ValidationError."""
    return model.model_validate_json(raw)
