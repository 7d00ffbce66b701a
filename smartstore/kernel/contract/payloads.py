"""Pydantic models of every JSON payload on the wire, schema version 1."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from smartstore.kernel.clock import utc_now
from smartstore.kernel.contract.gtin import is_valid_gtin14
from smartstore.kernel.contract.topics import IDENTIFIER_PATTERN

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


class RssiUnit(StrEnum):
    """How a reader writes peak RSSI: dBm, or an integer count of tenths or hundredths of a dBm."""

    DBM = "dBm"
    DBM_X10 = "dBm_x10"
    DBM_X100 = "dBm_x100"


RSSI_SCALE: dict[RssiUnit, float] = {RssiUnit.DBM: 1.0, RssiUnit.DBM_X10: 10.0, RssiUnit.DBM_X100: 100.0}
RSSI_DBM_MIN = -128.0
RSSI_DBM_MAX = 20.0


def rssi_to_dbm(value: float, unit: RssiUnit | None = None) -> float | None:
    """RSSI in dBm, or None when out of range; without a unit it is told by magnitude (see protocol.md)."""
    if unit is not None:
        dbm = value / RSSI_SCALE[unit]
        return dbm if RSSI_DBM_MIN <= dbm <= RSSI_DBM_MAX else None
    # Tag RSSI is -20…-100 dBm in practice, so the three units have disjoint magnitudes.
    for scale in (1.0, 10.0, 100.0):
        if RSSI_DBM_MIN * scale <= value <= RSSI_DBM_MAX * scale:
            return value / scale
    return None


class TagRead(WireModel):
    epc: EpcHex = Field(description="EPC bank contents as hex.")
    antenna: int = Field(ge=1, le=65535, description="Reader antenna port.")
    rssi: float = Field(
        ge=RSSI_DBM_MIN * 100,
        le=RSSI_DBM_MAX * 100,
        description="Peak RSSI in the batch's `rssi_unit`; without one, dBm, dBm*10 or dBm*100 by magnitude.",
    )
    ts: Timestamp = Field(description="Reader time of the (first) read.")
    count: int = Field(default=1, ge=1, description="Times the tag was seen in this report.")


class ReadBatch(Envelope):
    """rfid/{reader}/reads: a batch of tag reads from one reader."""

    reads: list[TagRead] = Field(max_length=MAX_READS_PER_BATCH)
    rssi_unit: RssiUnit | None = Field(
        default=None, description="Unit of every `reads[].rssi`; absent: told by magnitude."
    )

    @model_validator(mode="after")
    def _check_rssi_range(self) -> ReadBatch:
        for index, read in enumerate(self.reads):
            if rssi_to_dbm(read.rssi, self.rssi_unit) is None:
                unit = self.rssi_unit.value if self.rssi_unit else "any unit"
                raise ValueError(f"reads.{index}.rssi: {read.rssi} is out of range for {unit}")
        return self


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


class PickupLine(WireModel):
    gtin: Gtin
    quantity: int = Field(ge=1)


class ManifestOrder(WireModel):
    """One ready order of a locker bank, as the edge needs it to serve an offline pickup."""

    order: str = Field(min_length=1, max_length=64, description="Order id, e.g. 'ORD-…'.")
    compartment: Identifier
    code_hash: str = Field(
        min_length=1, max_length=256, description="Salted scrypt hash of the pickup code (pickup_codes)."
    )
    expires_at: Timestamp = Field(description="The code is refused after this time.")
    lines: list[PickupLine] = Field(default_factory=list, max_length=200)


class LockerManifest(Envelope):
    """locker/{locker}/manifest, retained: every ready order of the bank; replaces the previous one."""

    locker: Identifier
    orders: list[ManifestOrder] = Field(default_factory=list, max_length=1000)


class KeypadEntry(Envelope):
    """locker/{locker}/keypad: a code typed on the bank's own keypad; the edge checks it and opens."""

    request: str = Field(min_length=1, max_length=64, description="Id of this entry, for logs and audit.")
    code: str = Field(pattern=r"^[0-9]{6,8}$", description="The 6-8 digits typed.")


class LockerRequestPurpose(StrEnum):
    """Why a door is opened: the first part of a `LockerCommand.request` id."""

    PICKUP = "pickup"
    LOAD = "load"


@dataclass(frozen=True, slots=True)
class LockerRequest:
    """A parsed `{purpose}:{order}:{n}` request id (n counts the openings for that order)."""

    purpose: LockerRequestPurpose
    order: str
    attempt: int

    def __str__(self) -> str:
        return f"{self.purpose.value}:{self.order}:{self.attempt}"


def locker_request(purpose: LockerRequestPurpose, order: str, attempt: int = 1) -> str:
    """The request id for opening a door for `order`; at most 64 characters like the field."""
    text = str(LockerRequest(purpose, order, attempt))
    if len(text) > 64 or ":" in order or not order:
        raise ValueError(f"order id {order!r} cannot be carried in a request id")
    return text


def parse_locker_request(request: str | None) -> LockerRequest | None:
    """`pickup:ORD-1:1` -> LockerRequest; None for any other request id (they are not errors)."""
    if not request:
        return None
    parts = request.split(":")
    if len(parts) != 3 or not parts[1] or not parts[2].isdigit():
        return None
    try:
        purpose = LockerRequestPurpose(parts[0])
    except ValueError:
        return None
    return LockerRequest(purpose, parts[1], int(parts[2]))


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


# --- edge telemetry (retained, best effort, not part of inventory) ------------------------------


class ReadAges(WireModel):
    """Tags of a reader's zones by time since they were last read."""

    under_5s: int = Field(ge=0)
    under_30s: int = Field(ge=0)
    under_5min: int = Field(ge=0)
    older: int = Field(ge=0)


class ReaderSummary(WireModel):
    reader: Identifier
    online: bool = Field(description="Status online, inventorying, reporting, no antenna down.")
    reads_per_s: float = Field(ge=0, description="Reads accepted per second over the summary interval.")
    unique_tags: int = Field(ge=0, description="Distinct EPCs the reader reported in the interval.")
    tags_in_zones: int = Field(ge=0, description="Tags present in the reader's zones now.")
    read_ages: ReadAges
    clock_offset_s: float | None = Field(
        default=None, description="Estimated receive time minus reader time; None before the first read."
    )
    antennas_down: list[int] = Field(default_factory=list)


class RfidTelemetry(Envelope):
    """edge/{agent}/telemetry/rfid, retained: a per-reader summary for the dashboard."""

    interval_s: float = Field(gt=0, description="Seconds the rates are averaged over.")
    readers: list[ReaderSummary] = Field(max_length=1000)
    rejected_reads: dict[str, int] = Field(
        default_factory=dict, description="Reads dropped since start, by reason (garbage EPC, weak, ...)."
    )


JsonPayload = (
    ReadBatch
    | DeviceStatus
    | LockerEvent
    | LockerCommand
    | LockerAck
    | LockerManifest
    | KeypadEntry
    | ShelfSignal
    | StockSignal
    | PickupSignal
    | AlertSignal
    | RfidTelemetry
)
Signal = ShelfSignal | StockSignal | PickupSignal | AlertSignal


def envelope(seq: int, ts: datetime | None = None) -> dict[str, object]:
    """The common fields for a new payload: `Model(**envelope(seq), ...)`."""
    return {"v": SCHEMA_VERSION, "id": new_event_id(), "ts": ts or utc_now(), "seq": seq}


def encode(payload: WireModel) -> bytes:
    return payload.model_dump_json(exclude_none=True).encode()
