"""Typed gateway configuration, from CLI flags and SMARTSTORE_* environment variables, validated at start."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from smartstore.kernel.mqtt import MqttSettings
from smartstore.kernel.storeconfig import EXAMPLE_STORE


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SMARTSTORE_", extra="forbid", frozen=True)

    gateway_id: str = Field("gateway-1", description="Client id and status topic device name.")
    stores: list[Path] = Field(default_factory=lambda: [EXAMPLE_STORE], description="Store files served.")
    db_url: str = Field("sqlite:///var/smartstore.db", description="SQLAlchemy URL (sqlite or postgresql).")
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    http_host: str = Field("127.0.0.1", description="Bind address of the REST API.")
    http_port: int = Field(8080, ge=0, le=65535)
    ingest_batch_max: int = Field(2000, ge=1, description="Signals applied per transaction at most.")
    ingest_batch_wait_ms: int = Field(20, ge=0, description="How long a batch may wait to fill.")
    ingest_queue_max: int = Field(50_000, ge=100, description="Bound of the receive queue.")
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
