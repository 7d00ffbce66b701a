"""What the restock dashboard needs running beside the ingest: task reconciliation at start and the
availability sampler."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping

from sqlalchemy.orm import Session, sessionmaker

from smartstore.gateway.db.util import utc_now
from smartstore.gateway.events import EventBus
from smartstore.gateway.restock.kpis import record_osa_sample
from smartstore.gateway.restock.store import reconcile
from smartstore.kernel.storeconfig import StoreConfig

logger = logging.getLogger(__name__)

DEFAULT_OSA_INTERVAL_S = 60.0


class RestockServices:
    """Started and stopped with the gateway; each part fails alone, never the gateway."""

    def __init__(
        self,
        stores: Mapping[str, StoreConfig],
        sessions: sessionmaker[Session],
        bus: EventBus,
        *,
        osa_interval_s: float = DEFAULT_OSA_INTERVAL_S,
    ) -> None:
        if osa_interval_s <= 0:
            raise ValueError("osa_interval_s must be positive")
        self.stores = stores
        self.sessions = sessions
        self.bus = bus
        self._interval = osa_interval_s
        self._stopping = threading.Event()
        self._sampler: threading.Thread | None = None

    def start(self) -> None:
        self.reconcile_tasks()
        self._stopping.clear()
        self._sampler = threading.Thread(target=self._sample_loop, name="osa-sampler", daemon=True)
        self._sampler.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._sampler is not None:
            self._sampler.join(10)
            self._sampler = None

    def reconcile_tasks(self) -> None:
        """Open or close tasks for slot states that changed while no task logic ran."""
        for config in self.stores.values():
            try:
                with self.sessions() as session:
                    events = reconcile(session, config, utc_now())
                    session.commit()
            except Exception:
                logger.exception("restock tasks of %s could not be reconciled", config.store.id)
                continue
            for type_, store, data in events:
                self.bus.publish(type_, store, data)
            if events:
                logger.info("restock tasks of %s reconciled: %d changed", config.store.id, len(events))

    def sample_once(self) -> None:
        now = utc_now()
        for config in self.stores.values():
            try:
                with self.sessions() as session:
                    sample = record_osa_sample(session, config, now)
                    session.commit()
            except Exception:
                # The database may be down for a while; the next tick tries again.
                logger.warning("availability of %s not sampled", config.store.id, exc_info=True)
                continue
            self.bus.publish("osa", config.store.id, {"at": now.isoformat(), "osa": sample.osa})

    def _sample_loop(self) -> None:
        while not self._stopping.is_set():
            self.sample_once()
            self._stopping.wait(self._interval)
