"""Typed gateway configuration, from CLI flags and SMARTSTORE_* environment variables, validated at start."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from smartstore.kernel.contract.validation import MAX_IMAGE_BYTES, MAX_JSON_BYTES
from smartstore.kernel.mqtt import MqttSettings
from smartstore.kernel.storeconfig import EXAMPLE_STORE


class ApiLimits(BaseModel):
    """What one HTTP caller may cost the gateway (env `SMARTSTORE_API` as JSON, e.g. '{"rate_per_s": 5}').

    Rate limits are token buckets kept in memory, per gateway process: two gateways behind one balancer
    grant a key twice the rate.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    body_max_bytes: int = Field(
        64 * 1024, ge=1024, le=64 * 1024 * 1024, description="Largest request body of any route (413 above)."
    )
    body_timeout_s: float = Field(
        10.0, gt=0, le=600, description="Time a request may take to send its whole body (408 after it)."
    )
    rate_per_s: float = Field(10.0, gt=0, description="Requests per second each API key may sustain.")
    burst: int = Field(100, ge=1, description="Requests an API key may make at once (its bucket's size).")
    anonymous_rate_per_s: float = Field(
        1.0, gt=0, description="Requests per second per client address without a valid key."
    )
    anonymous_burst: int = Field(20, ge=1, description="Burst per client address without a valid key.")
    buckets_max: int = Field(
        10_000, ge=100, description="Buckets kept at most; the least recently used are dropped first."
    )
    max_connections: int = Field(
        1000, ge=10, description="Connections and requests served at once (SSE streams count); 503 above."
    )


class IngestRateLimits(BaseModel):
    """Token bucket per MQTT source at ingest (env `SMARTSTORE_INGEST_RATE` as JSON); beyond: dead letter.

    Far above what real sources send: an edge agent sends a few dozen signals a second in a busy
    store and paces its replays below `agent_per_s` (its `outbox.max_publish_per_s`, 1,000); a reader,
    camera or locker publishes its status every few seconds. What the broker queued for the gateway
    while it was away arrives at once, whatever the edge's pace: `agent_burst` covers that queue.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    agent_per_s: float = Field(2000.0, gt=0, description="Signals per second an edge agent may sustain.")
    agent_burst: int = Field(
        200_000,
        ge=1,
        description="Signals an edge agent may send at once. At least the broker's `max_queued_messages` "
        "(200,000 in deploy/mosquitto): the backlog the broker queued for the gateway's persistent session "
        "while it was down is delivered at once when it returns, and must drain through the burst, not be "
        "dead-lettered as `rate_limited`.",
    )
    device_per_s: float = Field(5.0, gt=0, description="Statuses per second a device may sustain.")
    device_burst: int = Field(60, ge=1, description="Statuses a device may send at once.")


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SMARTSTORE_", extra="forbid", frozen=True)

    gateway_id: str = Field("gateway-1", description="Client id and status topic device name.")
    stores: list[Path] = Field(default_factory=lambda: [EXAMPLE_STORE], description="Store files served.")
    db_url: str = Field("sqlite:///var/smartstore.db", description="SQLAlchemy URL (sqlite or postgresql).")
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    http_host: str = Field("127.0.0.1", description="Bind address of the REST API.")
    http_port: int = Field(8080, ge=0, le=65535)
    request_head_timeout_s: float = Field(
        10.0,
        gt=0,
        le=600,
        description="Time a client has to send a request's line and headers, from its connection or the "
        "end of the previous response; then the connection is closed (slow clients, slowloris).",
    )
    api: ApiLimits = Field(default_factory=ApiLimits, description="Body, time and rate limits of the API.")
    ingest_batch_max: int = Field(2000, ge=1, description="Signals applied per transaction at most.")
    ingest_batch_wait_ms: int = Field(20, ge=0, description="How long a batch may wait to fill.")
    ingest_queue_max: int = Field(50_000, ge=100, description="Bound of the receive queue.")
    ingest_rate: IngestRateLimits = Field(
        default_factory=IngestRateLimits, description="Rate limits per edge agent and per device."
    )
    pickup_code_secret: SecretStr | None = Field(
        None,
        description="Key (16+ bytes) of the pickup-code lookup HMAC; default: a random one kept in "
        "pickup_code_secret_file. Never store it in the database: with it a code is found in ms.",
    )
    pickup_code_secret_file: Path | None = Field(
        None, description="Where the generated key is kept; default: next to the SQLite file, else var/."
    )
    locker_sweep_interval_s: float = Field(
        30.0, gt=0, le=3600, description="How often overdue pickup orders are expired."
    )
    order_sweep_interval_s: float = Field(
        15.0,
        gt=0,
        le=3600,
        description="How often delivery promises at risk are alerted (and those handed over cleared) and "
        "pickup-slot reminders are written to the event log.",
    )
    locker_open_timeout_s: float = Field(
        60.0,
        gt=0,
        le=3600,
        description="A load's open command the locker has not confirmed (ack or door event) by then "
        "flags the compartment and raises an alert naming the order (swept every locker_sweep_interval_s).",
    )
    max_signal_bytes: int = Field(
        1_048_576,
        ge=1024,
        le=MAX_JSON_BYTES,
        description="Largest signal payload; larger: dead letter.",
    )
    max_status_bytes: int = Field(
        16_384, ge=1024, le=MAX_JSON_BYTES, description="Largest device status payload accepted."
    )
    max_telemetry_bytes: int = Field(
        262_144, ge=1024, le=MAX_JSON_BYTES, description="Largest edge telemetry payload accepted."
    )
    max_snapshot_bytes: int = Field(
        2_097_152, ge=1024, le=MAX_IMAGE_BYTES, description="Largest annotated snapshot JPEG accepted."
    )
    max_locker_bytes: int = Field(
        16_384, ge=1024, le=MAX_JSON_BYTES, description="Largest locker event or command ack accepted."
    )
    dead_letter_excerpt_bytes: int = Field(
        1024, ge=0, le=65_536, description="Bytes of a rejected payload kept (with its size and SHA-256)."
    )
    dead_letter_max_rows: int = Field(10_000, ge=10, description="Dead letters kept at most.")
    dead_letter_max_age_h: float = Field(168.0, gt=0, description="Dead letters older than this are pruned.")
