"""Configuration of one LLRP reader bridge, built from the store file and validated before anything starts."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from smartstore.kernel.contract.payloads import Identifier
from smartstore.kernel.mqtt import MqttSettings
from smartstore.kernel.storeconfig import StoreConfig


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BackoffSettings(_Model):
    """Delays between reconnect attempts: exponential, capped and jittered so readers do not stampede."""

    initial_s: float = Field(
        0.5, gt=0, le=60, title="First delay", description="Seconds after the first failure."
    )
    max_s: float = Field(30.0, gt=0, le=600, title="Cap", description="Longest delay in seconds.")
    multiplier: float = Field(2.0, ge=1.0, le=10.0, title="Growth", description="Factor per failed attempt.")
    jitter: float = Field(
        0.2, ge=0.0, lt=1.0, title="Jitter", description="Each delay is scaled by a random 1 ± jitter."
    )
    stable_s: float = Field(
        10.0,
        ge=0,
        title="Stable session",
        description="A session that inventoried this long resets the delay to `initial_s`.",
    )

    @model_validator(mode="after")
    def _check_order(self) -> BackoffSettings:
        if self.initial_s > self.max_s:
            raise ValueError("initial_s must not exceed max_s")
        return self


class ReaderBridgeSettings(_Model):
    """All `smartstore reader` needs for one reader: where it is, how to inventory, where to publish."""

    store: Identifier = Field(title="Store id", description="Topic level of every message.")
    reader: Identifier = Field(title="Reader id", description="The reader's id in the store file.")
    host: str = Field(min_length=1, title="Reader host", description="LLRP reader address.")
    port: int = Field(5084, ge=1, le=65535, title="Reader port", description="LLRP TCP port.")
    antennas: tuple[int, ...] = Field(
        min_length=1, title="Antenna ports", description="Ports to inventory, from the store file."
    )
    session: Literal[0, 1] = Field(
        1,
        title="Gen2 session",
        description="S1 (default) or S0: both keep static tags answering, which presence needs.",
    )
    tag_population: int = Field(32, ge=1, le=65535, description="Expected tags in the field (Q hint).")
    tx_power_dbm: float | None = Field(None, description="Transmit power; None keeps the reader's setting.")
    report_interval_ms: int = Field(500, ge=50, le=60_000, description="One ReadBatch per interval at most.")
    keepalive_ms: int = Field(2000, ge=100, le=60_000, description="Period of the reader's LLRP KEEPALIVE.")
    keepalive_misses: int = Field(
        3, ge=1, le=20, description="Silent keepalive periods after which the link counts as dead."
    )
    connect_timeout_s: float = Field(5.0, gt=0, le=120)
    response_timeout_s: float = Field(5.0, gt=0, le=120)
    max_unacked_batches: int = Field(
        2000, ge=1, description="Batches the broker has not confirmed yet; beyond this new ones are dropped."
    )
    status_refresh_s: float = Field(
        60.0, gt=0, description="Republish status this often when counters moved."
    )
    backoff: BackoffSettings = Field(default_factory=BackoffSettings)
    mqtt: MqttSettings = Field(default_factory=MqttSettings)

    @model_validator(mode="after")
    def _check_antennas(self) -> ReaderBridgeSettings:
        if len(set(self.antennas)) != len(self.antennas):
            raise ValueError("antennas: duplicate port")
        if any(not 1 <= port <= 65535 for port in self.antennas):
            raise ValueError("antennas: ports must be 1..65535 (0 would mean every port)")
        return self

    @property
    def keepalive_timeout_s(self) -> float:
        return self.keepalive_ms * self.keepalive_misses / 1000.0

    @property
    def report_interval_s(self) -> float:
        return self.report_interval_ms / 1000.0


class UnknownReaderError(ValueError):
    """The requested reader id is not in the store file."""


def settings_for_reader(store: StoreConfig, reader_id: str, **overrides: Any) -> ReaderBridgeSettings:
    """Bridge settings for `reader_id` from the store file; `overrides` (e.g. host, port, mqtt) win."""
    for reader in store.devices.readers:
        if reader.id == reader_id:
            values: dict[str, Any] = {
                "store": store.store.id,
                "reader": reader.id,
                "host": reader.host,
                "port": reader.port,
                "antennas": tuple(antenna.port for antenna in reader.antennas),
            }
            values.update({key: value for key, value in overrides.items() if value is not None})
            return ReaderBridgeSettings.model_validate(values)
    known = ", ".join(reader.id for reader in store.devices.readers) or "none"
    raise UnknownReaderError(f"reader {reader_id!r} is not in store {store.store.id} (known: {known})")
