"""Typed edge-agent configuration from CLI flags and SMARTSTORE_EDGE_* environment, validated at start.

The agent's own settings; each pipeline's section comes from its room (rfid/, vision/, lockers/settings.py).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from smartstore.edge.lockers.settings import LockerSettings
from smartstore.edge.rfid.settings import RfidSettings
from smartstore.edge.vision.settings import VisionSettings
from smartstore.kernel.contract.topics import check_identifier
from smartstore.kernel.mqtt import MqttSettings
from smartstore.kernel.storeconfig import EXAMPLE_STORE


class OutboxSettings(BaseModel):
    """The agent's SQLite outbox (outbox.py): bounds on unsent rows, retention, the PUBACK window, pacing."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_pending_rows: int = Field(200_000, ge=1, description="Unsent rows kept at most; older ones dropped.")
    max_pending_age_s: float = Field(7 * 86400, gt=0, description="Unsent rows older than this are dropped.")
    retention_s: float = Field(
        86400, ge=0, description="Sent rows are kept this long (for replay after a broker loss), then pruned."
    )
    window: int = Field(
        20, ge=1, le=1000, description="Publishes awaiting PUBACK at most (Mosquitto's default inflight)."
    )
    maintenance_interval_s: float = Field(30.0, gt=0, description="Pruning and bound checks.")
    max_publish_per_s: float = Field(
        1000.0,
        gt=0,
        description="Signals published per second at most (a token bucket), so a replayed backlog drains at "
        "a pace the gateway admits. Must stay below the gateway's `ingest_rate.agent_per_s` (2,000 by "
        "default), or the excess is dead-lettered there as `rate_limited` and lost. A busy store sends a "
        "few dozen signals a second: they never wait.",
    )
    publish_burst: int = Field(
        1000,
        ge=1,
        description="Signals published at once before `max_publish_per_s` applies (the bucket's size); "
        "keep it far below the gateway's `ingest_rate.agent_burst`.",
    )
    replay_window_s: float = Field(
        300.0,
        ge=0,
        description="Signals PUBACKed this long before a reconnect (of ours or the gateway's) are sent again "
        "when the gateway announces itself: a crashed broker lost what it acknowledged since its last "
        "autosave, a Last Will arrives 1.5 keepalives late (0: no replay).",
    )
    replay_new_session_s: float = Field(
        3600.0,
        ge=0,
        description="The look back instead when the broker holds no session of ours (it lost its state).",
    )


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
    outbox_retry_s: float = Field(
        2.0,
        gt=0,
        description="While the outbox cannot store (disk full), input waits and it retries this often.",
    )
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
