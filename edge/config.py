"""Typed edge-agent configuration from CLI flags and SMARTSTORE_EDGE_* environment, validated at start."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from smartstore.contract.topics import check_identifier
from smartstore.mqtt import MqttSettings
from smartstore.storeconfig import EXAMPLE_STORE


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


class ShelfSettings(_Section):
    confirmations: int = Field(2, ge=1, description="Agreeing observations before a slot changes state.")
    snapshot_interval_s: float = Field(60.0, gt=0, description="Full slot snapshot per camera.")
    canny_low: int = Field(50, ge=0, le=1000)
    canny_high: int = Field(150, ge=1, le=1000)
    column_edge_density: float = Field(
        0.06, gt=0, lt=1, description="Edge pixels per column above which the column shows product."
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
    shelf: ShelfSettings = Field(default_factory=ShelfSettings)
    outbox: OutboxSettings = Field(default_factory=OutboxSettings)

    @field_validator("agent_id")
    @classmethod
    def _check_agent_id(cls, value: str) -> str:
        return check_identifier(value, "agent id")

    @model_validator(mode="after")
    def _check_canny(self) -> EdgeSettings:
        if self.shelf.canny_low >= self.shelf.canny_high:
            raise ValueError("shelf.canny_low must be below shelf.canny_high")
        return self

    def state_dir_for(self, store_id: str) -> Path:
        return self.state_dir if self.state_dir is not None else Path("var") / f"edge-{store_id}"
