"""Typed edge-agent configuration from CLI flags and SMARTSTORE_EDGE_* environment, validated at start."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from smartstore.edge.vision.detector import DetectorSettings
from smartstore.edge.vision.motion import MotionSettings
from smartstore.edge.vision.slots import SlotFillSettings
from smartstore.kernel.contract.topics import check_identifier
from smartstore.kernel.mqtt import MqttSettings
from smartstore.kernel.storeconfig import EXAMPLE_STORE

SHIPPED_MODEL_NAME = "shelf-detector.onnx"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RfidSettings(_Section):
    """The RFID pipeline (edge/rfid); zone settings (min RSSI, mobility, timeouts) are in the store file."""

    stock_publish_interval_s: float = Field(
        2.0, gt=0, description="Changed counts go out at most this often."
    )
    snapshot_interval_s: float = Field(60.0, gt=0, description="Full count snapshot for gateway resync.")
    read_interval_s: float = Field(
        1.0, gt=0, description="Expected seconds between a reader's batches (learned upwards if slower)."
    )
    silent_reports: int = Field(
        3, ge=1, le=100, description="A reader silent this many intervals no longer covers its zones."
    )
    zone_window_s: float = Field(
        5.0, gt=0, description="Reads of a tag in a zone further apart than this restart its zone statistics."
    )
    rssi_average_reads: int = Field(
        10, ge=1, le=1000, description="A zone's mean RSSI (in mW) follows about this many latest reads."
    )
    clock_offset_batches: int = Field(
        15, ge=1, le=1000, description="Batches in the running median of a reader's clock offset."
    )
    clock_jump_s: float = Field(
        30.0, gt=0, description="A batch this far off the offset median restarts the estimate (clock set)."
    )
    departure_check_interval_s: float = Field(1.0, gt=0, description="How often absent tags are checked.")
    store_wide_hold: bool = Field(
        True,
        description="Timeout departures (no exit seen) also wait while any zone is not covered: the tag "
        "may have been carried into it.",
    )
    departed_retention_s: float = Field(
        86400.0, ge=0, description="Departed tags are remembered this long, to report their return."
    )
    max_tags: int = Field(
        2_000_000, ge=1000, description="Tags tracked at most; new ones beyond are dropped."
    )
    low_stock_settle_s: float = Field(
        60.0, ge=0, description="A zone must be covered this long before its low-stock alerts are judged."
    )
    telemetry_interval_s: float = Field(10.0, gt=0, description="Per-reader summary for the dashboard.")
    persist_interval_s: float = Field(30.0, gt=0, description="How often tag state is saved to disk.")
    store_check_interval_s: float = Field(
        5.0, gt=0, description="How often the store file is checked for changes to reload zone settings."
    )
    epc_cache_max: int = Field(500_000, ge=1000, description="Decoded EPCs remembered (LRU).")
    recent_batch_ids: int = Field(20_000, ge=100, description="Batch ids remembered to drop duplicates.")


def shipped_model_path() -> Path:
    """The detector packaged with smartstore (`models/shelf-detector.onnx`, package data of `models`)."""
    # Package data only: the edge never imports the models component's code (training, torch).
    return Path(str(files("smartstore.models") / SHIPPED_MODEL_NAME))


class VisionSettings(_Section):
    """Shelf cameras (edge/vision): the ONNX detector, gated on motion, judging planogram slots."""

    enabled: bool = Field(True, description="Run the shelf vision processor at all.")
    model_path: Path = Field(
        default_factory=shipped_model_path,
        description="ONNX detector (classes product, gap); if missing, vision logs an error and stays off.",
    )
    detector: DetectorSettings = Field(
        default_factory=DetectorSettings, description="Score / NMS thresholds, onnxruntime intra-op threads."
    )
    motion: MotionSettings = Field(
        default_factory=MotionSettings, description="Motion gate: stable time, re-check interval, max wait."
    )
    slots: SlotFillSettings = Field(
        default_factory=SlotFillSettings, description="Slot fill: k confirmations, min coverage, classes."
    )
    confirm_interval_s: float = Field(
        3.0, ge=0, description="A slot change seen once is looked at again this soon (still scene only)."
    )
    snapshot_interval_s: float = Field(60.0, gt=0, description="Full slot snapshot ShelfSignal per camera.")
    stale_after_intervals: float = Field(
        3.0, gt=0, description="A camera silent this many frame intervals has its slots stale in snapshots."
    )
    annotated_snapshots: bool = Field(
        True, description="Save and publish (retained) an annotated JPEG after each inference."
    )
    snapshot_quality: int = Field(80, ge=20, le=100, description="JPEG quality of annotated snapshots.")
    capture_reconnect_s: float = Field(
        5.0,
        gt=0,
        description="A VideoCapture source (file, RTSP, USB) is reopened this long after a failure.",
    )


class LockerSettings(_Section):
    """Locker pickups at the edge (edge/lockers): keypad codes checked against the gateway's manifest."""

    max_wrong_codes: int | None = Field(
        None,
        ge=1,
        le=100,
        description="Wrong keypad codes in a row before a bank locks its keypad; None: the store file's "
        "store.pickup_max_failures, as the gateway uses.",
    )
    lockout_s: float | None = Field(
        None,
        gt=0,
        description="How long a locked keypad refuses every code; None: store.pickup_lockout_minutes.",
    )
    used_retention_s: float = Field(
        86400.0,
        gt=0,
        description="Used orders are remembered (and refused) this long, and until their expiry at least.",
    )


class OutboxSettings(_Section):
    max_pending_rows: int = Field(200_000, ge=1, description="Unsent rows kept at most; older ones dropped.")
    max_pending_age_s: float = Field(7 * 86400, gt=0, description="Unsent rows older than this are dropped.")
    retention_s: float = Field(86400, ge=0, description="Sent rows are pruned after this.")
    window: int = Field(
        20, ge=1, le=1000, description="Publishes awaiting PUBACK at most (Mosquitto's default inflight)."
    )
    maintenance_interval_s: float = Field(30.0, gt=0, description="Pruning and bound checks.")


class EdgeSettings(BaseSettings):
    """Everything `smartstore edge` needs; nested fields from env as SMARTSTORE_EDGE_RFID__READ_INTERVAL_S."""

    model_config = SettingsConfigDict(
        env_prefix="SMARTSTORE_EDGE_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    agent_id: str = Field("edge-1", description="MQTT client id and device name of the agent's topics.")
    store_file: Path = Field(EXAMPLE_STORE, description="Store YAML the agent serves.")
    state_dir: Path | None = Field(None, description="Outbox, dead letters, tag state; var/edge-<store>.")
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    queue_max: int = Field(10_000, ge=10, description="Bound of the receive queue (non-image messages).")
    enqueue_timeout_s: float = Field(
        2.0, gt=0, description="How long a full queue may hold up the MQTT thread before dead-lettering."
    )
    tick_interval_s: float = Field(0.25, gt=0, le=10, description="Timer resolution of the processors.")
    recent_ids_max: int = Field(50_000, ge=100, description="Event ids remembered to drop duplicates.")
    deadletter_max_rows: int = Field(10_000, ge=10, description="Dead letters kept; oldest pruned.")
    stats_interval_s: float = Field(60.0, gt=0, description="How often a stats line is logged.")
    rfid: RfidSettings = Field(default_factory=RfidSettings)
    vision: VisionSettings = Field(default_factory=VisionSettings)
    outbox: OutboxSettings = Field(default_factory=OutboxSettings)
    lockers: LockerSettings = Field(default_factory=LockerSettings)

    @field_validator("agent_id")
    @classmethod
    def _check_agent_id(cls, value: str) -> str:
        return check_identifier(value, "agent id")

    def state_dir_for(self, store_id: str) -> Path:
        return self.state_dir if self.state_dir is not None else Path("var") / f"edge-{store_id}"
