"""What a running gateway is made of: built whole at start; `running()` starts and stops its services."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from smartstore.gateway.config import GatewaySettings
from smartstore.gateway.db.engine import make_engine, make_sessionmaker
from smartstore.gateway.events import EventBus
from smartstore.gateway.ingest.consumer import SignalConsumer
from smartstore.gateway.ingest.deadletters import DeadLetterPolicy, size_limits
from smartstore.gateway.ingest.guarded_link import SizeGuardedLink
from smartstore.gateway.lockers.link import LockerLink
from smartstore.gateway.monitoring.metrics import GatewayMetrics
from smartstore.gateway.monitoring.snapshots import SnapshotFeed, SnapshotStore
from smartstore.gateway.monitoring.telemetry import RfidTelemetryBook, TelemetrySubscriber
from smartstore.gateway.orders.sweeper import OrderSweeper
from smartstore.gateway.restock.services import RestockServices
from smartstore.kernel.storeconfig import StoreConfig, load_store

logger = logging.getLogger(__name__)


class Service(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...


@dataclass
class GatewayRuntime:
    settings: GatewaySettings
    stores: dict[str, StoreConfig]
    engine: Engine
    sessions: sessionmaker[Session]
    bus: EventBus = field(default_factory=EventBus)
    metrics: GatewayMetrics = field(default_factory=GatewayMetrics)
    # Latest annotated camera JPEGs, fed by the SnapshotFeed on the side link.
    snapshots: SnapshotStore = field(default_factory=SnapshotStore)
    # Latest edge RFID telemetry, fed by the TelemetrySubscriber on the side link.
    telemetry: RfidTelemetryBook = field(default_factory=RfidTelemetryBook)
    # The signal consumer, when there is one; /healthz reads its broker link state.
    consumer: SignalConsumer | None = None
    # The locker link, when there is one: opens doors, publishes manifests.
    lockers: LockerLink | None = None
    # What `running()` starts, in this order, and stops in the reverse one.
    services: list[Service] = field(default_factory=list)

    @classmethod
    def build(cls, settings: GatewaySettings, *, services: bool = False) -> GatewayRuntime:
        """Stores, database, event bus, metrics, snapshot and telemetry stores; with `services`, also
        everything that talks to the broker (built here, connected by `running()`).

        Without services the runtime serves the API alone, which is what most tests need.
        """
        stores = {config.store.id: config for config in map(load_store, settings.stores)}
        engine = make_engine(settings.db_url)
        runtime = cls(settings, stores, engine, make_sessionmaker(engine))
        if services:
            runtime._build_services()
        return runtime

    def new_consumer(self) -> SignalConsumer:
        """A signal consumer on this runtime's database, bus and metrics; not started."""
        return SignalConsumer(self.settings, self.stores, self.engine, self.bus, self.metrics)

    def _build_services(self) -> None:
        settings = self.settings
        # The side services share one client (one id, one connection); the ingest keeps its own,
        # in its own process, with a persistent session and manual acks.
        # Size limits per topic: an oversized message reaches none of them (dead letter, metric).
        side_link = SizeGuardedLink(
            settings.mqtt,
            f"{settings.gateway_id}-services",
            limits=size_limits(settings),
            policy=DeadLetterPolicy.from_settings(settings),
            sessions=self.sessions,
            metrics=self.metrics,
        )
        self.consumer = self.new_consumer()
        self.lockers = LockerLink(settings, self.stores, self.sessions, self.bus, side_link)
        # The feed and the subscriber live on as the link's message handlers.
        SnapshotFeed(side_link, self.snapshots, self.stores.keys())
        TelemetrySubscriber(side_link, self.telemetry)
        restock = RestockServices(self.stores, self.sessions, self.bus)
        # Promises at risk and slot reminders; no-shows are expiries, swept by the locker link.
        orders = OrderSweeper(
            self.stores, self.sessions, self.bus, interval_s=settings.order_sweep_interval_s
        )
        # The side link connects last, so every handler is in place when the first message arrives.
        self.services = [self.consumer, restock, orders, self.lockers, side_link]

    @contextmanager
    def running(self) -> Iterator[GatewayRuntime]:
        """Start every service in order; on the way out stop those started, in reverse order."""
        started: list[Service] = []
        try:
            for service in self.services:
                service.start()
                started.append(service)
            yield self
        finally:
            for service in reversed(started):
                try:
                    service.stop()
                except Exception:
                    # One service failing to stop must not leave the others running.
                    logger.exception("%s did not stop cleanly", type(service).__name__)
