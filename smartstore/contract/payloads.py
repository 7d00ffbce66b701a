"""Pydantic models of every JSON payload on the wire, schema version 1."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from smartstore.contract.topics import IDENTIFIER_PATTERN
from smartstore.gtin import is_valid_gtin14

SCHEMA_VERSION: Literal[1] = 1
MAX_READS_PER_BATCH = 10_000


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _gtin14(value: str) -> str:
    if not is_valid_gtin14(value):
        raise ValueError("GTIN-14 check digit does not match")
    return value


Identifier = Annotated[str, StringConstraints(pattern=IDENTIFIER_PATTERN)]
EventId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{8,64}$")]
Timestamp = Annotated[AwareDatetime, AfterValidator(_utc)]
Gtin = Annotated[str, StringConstraints(pattern=r"^[0-9]{14}$"), AfterValidator(_gtin14)]
EpcHex = Annotated[str, StringConstraints(pattern=r"^[0-9A-Fa-f]{8,128}$", to_upper=True)]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]


def new_event_id() -> str:
    return uuid.uuid4().hex


def utc_now() -> datetime:
    return datetime.now(UTC)


class WireModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Envelope(WireModel):
    """Fields every JSON payload carries: version, unique event id, time and per-source seq."""

    v: Literal[1] = Field(description="Schema version of the payload.")
    id: EventId = Field(description="Unique event id; consumers apply each id at most once.")
    ts: Timestamp = Field(description="When the event happened, RFC 3339, UTC.")
    seq: int = Field(ge=0, description="Per-source sequence number, +1 per message; gaps are visible.")


class ShelfState(StrEnum):
    OK = "ok"
    LOW = "low"
    EMPTY = "empty"
    UNKNOWN = "unknown"


class DeviceState(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


class StockSource(StrEnum):
    RFID = "rfid"
    CAMERA = "camera"
    POS = "pos"
    MANUAL = "manual"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


# --- raw device data -------------------------------------------------------------------------


class TagRead(WireModel):
    epc: EpcHex = Field(description="EPC bank contents as hex.")
    antenna: int = Field(ge=1, le=65535, description="Reader antenna port.")
    rssi: float = Field(ge=-128.0, le=20.0, description="Peak RSSI in dBm.")
    ts: Timestamp = Field(description="Reader time of the (first) read.")
    count: int = Field(default=1, ge=1, description="Times the tag was seen in this report.")


class ReadBatch(Envelope):
    """rfid/{reader}/reads: a batch of tag reads from one reader."""

    reads: list[TagRead] = Field(max_length=MAX_READS_PER_BATCH)


class DeviceStatus(Envelope):
    """{kind}/{device}/status, retained; the offline one is the MQTT Last Will."""

    state: DeviceState
    firmware: str | None = Field(default=None, max_length=64)
    info: dict[str, str | int | float | bool] = Field(default_factory=dict)


class LockerEventType(StrEnum):
    DOOR_OPENED = "door_opened"
    DOOR_CLOSED = "door_closed"
    OCCUPANCY_CHANGED = "occupancy_changed"
    DOOR_LEFT_OPEN = "door_left_open"
    DOOR_JAMMED = "door_jammed"


class LockerEvent(Envelope):
    """locker/{locker}/event: what a compartment's door and occupancy sensors saw."""

    compartment: Identifier
    event: LockerEventType
    occupied: bool | None = Field(default=None, description="Occupancy sensor after the event.")
    request: str | None = Field(default=None, max_length=64, description="Command that caused it.")


class LockerCommand(Envelope):
    """locker/{locker}/cmd: ask the controller to act on a compartment."""

    request: str = Field(min_length=1, max_length=64)
    action: Literal["open"]
    compartment: Identifier


class LockerAck(Envelope):
    """locker/{locker}/ack: the controller's answer to one command."""

    request: str = Field(min_length=1, max_length=64)
    result: Literal["done", "failed"]
    reason: str | None = Field(default=None, max_length=200)


# --- edge -> gateway signals -------------------------------------------------------------------


class SlotObservation(WireModel):
    slot: Identifier
    gtin: Gtin
    state: ShelfState
    fill: Fraction = Field(description="Share of the slot covered by product, 0..1.")
    confidence: Fraction = 1.0
    stale: bool = Field(default=False, description="Slot occluded; state is the last known one.")


class ShelfSignal(Envelope):
    """edge/{agent}/signal/shelf: slot states seen by one camera."""

    camera: Identifier
    slots: list[SlotObservation] = Field(min_length=1, max_length=2000)
    snapshot: bool = Field(default=False, description="Periodic full state rather than a change.")


class ZoneCount(WireModel):
    zone: Identifier
    gtin: Gtin
    count: int = Field(ge=0)


class StockSignal(Envelope):
    """edge/{agent}/signal/stock: absolute per-zone product counts."""

    source: StockSource = StockSource.RFID
    counts: list[ZoneCount] = Field(max_length=100_000)
    snapshot: bool = Field(
        default=False,
        description="True: `counts` is the whole content of `zones`; anything unlisted there is 0.",
    )
    zones: list[Identifier] = Field(default_factory=list, description="Zones a snapshot covers.")


class PickupLine(WireModel):
    gtin: Gtin
    quantity: int = Field(ge=1)


class PickupSignal(Envelope):
    """edge/{agent}/signal/pickup: a customer took an order out of a locker compartment."""

    locker: Identifier
    compartment: Identifier
    order: str | None = Field(default=None, max_length=64)
    lines: list[PickupLine] = Field(default_factory=list, max_length=200)
    offline: bool = Field(default=False, description="Validated at the edge while uplink was down.")


class AlertSignal(Envelope):
    """edge/{agent}/signal/alert: raise or clear an alert; one open alert per cause."""

    cause: str = Field(min_length=1, max_length=200, description="Stable key, e.g. 'rfid.zone_low:…'.")
    action: Literal["raise", "clear"]
    severity: Severity = Severity.WARNING
    message: str = Field(default="", max_length=500)
    device: Identifier | None = None


JsonPayload = (
    ReadBatch
    | DeviceStatus
    | LockerEvent
    | LockerCommand
    | LockerAck
    | ShelfSignal
    | StockSignal
    | PickupSignal
    | AlertSignal
)
Signal = ShelfSignal | StockSignal | PickupSignal | AlertSignal


def envelope(seq: int, ts: datetime | None = None) -> dict[str, object]:
    """The common fields for a new payload: `Model(**envelope(seq), ...)`."""
    return {"v": SCHEMA_VERSION, "id": new_event_id(), "ts": ts or utc_now(), "seq": seq}


def encode(payload: WireModel) -> bytes:
    return payload.model_dump_json(exclude_none=True).encode()
