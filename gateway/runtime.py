"""What a running gateway is made of; built once at start and handed to the ingest and the API."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from smartstore.gateway.config import GatewaySettings
from smartstore.gateway.db.engine import make_engine, make_sessionmaker
from smartstore.gateway.events import EventBus
from smartstore.gateway.monitoring.metrics import GatewayMetrics
from smartstore.gateway.monitoring.snapshots import SnapshotStore
from smartstore.gateway.monitoring.telemetry import RfidTelemetryBook
from smartstore.kernel.storeconfig import StoreConfig, load_store

if TYPE_CHECKING:
    from smartstore.gateway.lockers.link import LockerLink


@dataclass
class GatewayRuntime:
    settings: GatewaySettings
    stores: dict[str, StoreConfig]
    engine: Engine
    sessions: sessionmaker[Session]
    bus: EventBus = field(default_factory=EventBus)
    metrics: GatewayMetrics = field(default_factory=GatewayMetrics)
    # Latest annotated camera JPEGs; filled by a SnapshotFeed that the app lifespan runs.
    snapshots: SnapshotStore = field(default_factory=SnapshotStore)
    # Latest edge RFID telemetry, fed by gateway.telemetry.TelemetrySubscriber when one runs.
    telemetry: RfidTelemetryBook = field(default_factory=RfidTelemetryBook)
    # The running SignalConsumer, when there is one; /healthz reads its broker link state.
    consumer: object | None = None
    # The running gateway.locker_link.LockerLink, when there is one: opens doors, publishes manifests.
    lockers: LockerLink | None = None

    @classmethod
    def build(cls, settings: GatewaySettings) -> GatewayRuntime:
        stores = {config.store.id: config for config in map(load_store, settings.stores)}
        engine = make_engine(settings.db_url)
        return cls(settings, stores, engine, make_sessionmaker(engine))
