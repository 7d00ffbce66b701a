"""What the dashboard needs running beside the ingest: task reconciliation at start, the availability
sampler and the RFID telemetry subscriber."""

from __future__ import annotations

import logging
import threading

from smartstore.gateway.db.util import utc_now
from smartstore.gateway.monitoring.telemetry import TelemetrySubscriber
from smartstore.gateway.restock.kpis import record_osa_sample
from smartstore.gateway.restock.store import reconcile
from smartstore.gateway.runtime import GatewayRuntime

logger = logging.getLogger(__name__)

DEFAULT_OSA_INTERVAL_S = 60.0


class DashboardServices:
    """Started and stopped with the gateway; each part fails alone, never the gateway."""

    def __init__(
        self,
        runtime: GatewayRuntime,
        *,
        osa_interval_s: float = DEFAULT_OSA_INTERVAL_S,
        telemetry: bool = True,
    ) -> None:
        if osa_interval_s <= 0:
            raise ValueError("osa_interval_s must be positive")
        self.runtime = runtime
        self._interval = osa_interval_s
        self._stopping = threading.Event()
        self._sampler: threading.Thread | None = None
        self.subscriber = (
            TelemetrySubscriber(
                runtime.settings.mqtt, f"{runtime.settings.gateway_id}-telemetry", runtime.telemetry
            )
            if telemetry
            else None
        )

    def start(self) -> None:
        self.reconcile_tasks()
        self._stopping.clear()
        self._sampler = threading.Thread(target=self._sample_loop, name="osa-sampler", daemon=True)
        self._sampler.start()
        if self.subscriber is not None:
            self.subscriber.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._sampler is not None:
            self._sampler.join(10)
            self._sampler = None
        if self.subscriber is not None:
            self.subscriber.stop()

    def reconcile_tasks(self) -> None:
        """Open or close tasks for slot states that changed while no task logic ran."""
        for config in self.runtime.stores.values():
            try:
                with self.runtime.sessions() as session:
                    events = reconcile(session, config, utc_now())
                    session.commit()
            except Exception:
                logger.exception("restock tasks of %s could not be reconciled", config.store.id)
                continue
            for type_, store, data in events:
                self.runtime.bus.publish(type_, store, data)
            if events:
                logger.info("restock tasks of %s reconciled: %d changed", config.store.id, len(events))

    def sample_once(self) -> None:
        now = utc_now()
        for config in self.runtime.stores.values():
            try:
                with self.runtime.sessions() as session:
                    sample = record_osa_sample(session, config, now)
                    session.commit()
            except Exception:
                # The database may be down for a while; the next tick tries again.
                logger.warning("availability of %s not sampled", config.store.id, exc_info=True)
                continue
            self.runtime.bus.publish("osa", config.store.id, {"at": now.isoformat(), "osa": sample.osa})

    def _sample_loop(self) -> None:
        while not self._stopping.is_set():
            self.sample_once()
            self._stopping.wait(self._interval)
