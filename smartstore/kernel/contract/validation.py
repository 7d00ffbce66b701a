"""Decode a raw MQTT message into a contract payload, or a rejection with a reason."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from smartstore.kernel.contract import payloads as p
from smartstore.kernel.contract.topics import (
    Channel,
    Kind,
    SignalType,
    TelemetryType,
    Topic,
    TopicError,
    parse_gateway_presence,
)

MAX_JSON_BYTES = 4 * 1024 * 1024
# The shipped broker refuses larger messages (deploy/mosquitto/mosquitto.conf message_size_limit).
MAX_IMAGE_BYTES = 4 * 1024 * 1024
JPEG_MAGIC = b"\xff\xd8\xff"
BaseModelT = TypeVar("BaseModelT", bound=BaseModel)
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
# What a JSON text must contain for a value the databases refuse to be possible: an escaped NUL, a
# non-finite number (NaN, Infinity, or an exponent of 3 digits, which may overflow to inf), or an
# integer of 10+ digits. Cheap to search; only a hit pays for walking the payload (storage_problem).
_MAYBE_UNSTORABLE = re.compile(rb"\\u0000|NaN|Infinity|[eE][+]?[0-9]{3}|(?<![\w\".])[0-9]{10}")


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
    RATE_LIMITED = "rate_limited"  # gateway ingest: a source over its token bucket


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


def decode_gateway_presence(topic_text: str, raw: bytes) -> p.DeviceStatus | Rejected | None:
    """A gateway's presence (topics.gateway_presence); None when `topic_text` is not one."""
    if parse_gateway_presence(topic_text) is None:
        return None
    if len(raw) > MAX_JSON_BYTES:
        return Rejected(RejectReason.TOO_LARGE, f"{len(raw)} bytes > {MAX_JSON_BYTES}")
    try:
        return p.DeviceStatus.model_validate_json(raw)
    except ValidationError as error:
        return _classify(raw, error)


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


def storage_problem(raw: bytes, payload: BaseModel) -> str | None:
    """What in a valid payload a database would refuse, as 'location: problem'; None if nothing.

    PostgreSQL refuses NUL in text and NaN / Infinity in JSON, and integers beyond their column's
    width: checked here, before the batch, so that one such message cannot fail a whole transaction.
    Integers are held to 32 bits but `seq` (64) and values inside free-form maps (JSON).
    """
    if _MAYBE_UNSTORABLE.search(raw) is None:
        return None
    return _walk(payload, "", INT32_MAX)


def _walk(value: object, location: str, int_max: int) -> str | None:
    if isinstance(value, str):
        return f"{location or '(payload)'}: NUL character (not storable as text)" if "\x00" in value else None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return f"{location}: {value} is out of range" if abs(value) > int_max else None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{location}: {value} is not a finite number"
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            width = INT64_MAX if name == "seq" else int_max
            found = _walk(getattr(value, name), f"{location}.{name}" if location else name, width)
            if found is not None:
                return found
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _walk(key, f"{location}(key)", INT64_MAX) or _walk(item, f"{location}.{key}", INT64_MAX)
            if found is not None:
                return found
        return None
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = _walk(item, f"{location}.{index}", int_max)
            if found is not None:
                return found
    return None
