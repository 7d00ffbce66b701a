"""Commit ingest batches durably: on the writer's own connection, retrying while the database is
down, and isolating a message that breaks its batch (it is dead-lettered, the others applied)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from smartstore.gateway.db.util import begin_write, utc_now
from smartstore.gateway.events import EventBus
from smartstore.gateway.ingest.decode import Inbound
from smartstore.gateway.ingest.writer import BatchResult, BatchWriter, dead_letter_one

logger = logging.getLogger(__name__)

_TRANSIENT_RETRIES = 3


class BatchCommitter:
    """The writer thread's way to the database (used from that thread only).

    A batch that fails while the database answers `SELECT 1` is retried a few times if the error
    looks transient, then applied one message at a time, so only the message that cannot be
    applied is dead-lettered. While the database is down, the batch waits and retries, unacked.
    """

    def __init__(self, engine: Engine, bus: EventBus, writer: BatchWriter, stopping: threading.Event) -> None:
        self._engine = engine
        self._bus = bus
        self._writer = writer
        self._stopping = stopping
        self._db: Connection | None = None

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _commit_once(self, inbound: Sequence[Inbound]) -> BatchResult:
        try:
            with Session(bind=self._connection(), expire_on_commit=False) as session:
                begin_write(session)
                views = self._bus.subscriber_count > 0
                result = self._writer.apply(session, inbound, utc_now(), views=views)
                session.commit()
            return result
        except Exception:
            self._writer.forget()
            self._drop_connection()
            raise

    def _connection(self) -> Connection:
        """The writer's own connection, kept across batches: the writer's cache of database rows
        is validated against it (see ingest_cache.InventoryCache)."""
        if self._db is None:
            self._db = self._engine.connect()
        return self._db

    def _drop_connection(self) -> None:
        if self._db is not None:
            try:
                self._db.invalidate()
                self._db.close()
            except Exception:
                logger.debug("closing a failed connection failed too", exc_info=True)
            self._db = None

    def commit(self, inbound: Sequence[Inbound]) -> BatchResult | None:
        """Commit the batch; None when given up (stopping with the database down): not acked."""
        attempt = 0
        while True:
            try:
                return self._commit_once(inbound)
            except Exception as error:
                attempt += 1
                if self._database_down():
                    if self._stopping.is_set():
                        logger.error(
                            "database unavailable while stopping; %d messages left unacknowledged",
                            len(inbound),
                        )
                        return None
                    logger.warning("database unavailable (%s); retrying in a moment", error)
                    self._stopping.wait(min(5.0, 0.2 * attempt))
                    continue
                if attempt < _TRANSIENT_RETRIES and _looks_transient(error):
                    logger.warning("batch commit failed (%s); retrying", error)
                    continue
                logger.exception(
                    "batch of %d failed; applying one by one to isolate the culprit", len(inbound)
                )
                return self._apply_one_by_one(inbound)

    def _apply_one_by_one(self, inbound: Sequence[Inbound]) -> BatchResult | None:
        total = BatchResult()
        for message in inbound:
            attempt = 0
            while True:
                try:
                    total.merge(self._commit_once([message]))
                    break
                except Exception as error:
                    attempt += 1
                    if self._database_down():
                        if self._stopping.is_set():
                            return None
                        self._stopping.wait(min(5.0, 0.2 * attempt))
                        continue
                    logger.exception("message on %s cannot be applied; dead-lettering it", message.topic)
                    total.merge(self._dead_letter(message, f"{type(error).__name__}: {error}"))
                    break
        return total

    def _dead_letter(self, message: Inbound, detail: str) -> BatchResult:
        try:
            with Session(bind=self._connection(), expire_on_commit=False) as session:
                result = dead_letter_one(session, message, detail, utc_now())
                session.commit()
            return result
        except Exception:
            logger.exception("could not dead-letter %s: payload %r", message.topic, message.payload[:2000])
            result = BatchResult()
            result.rejected["invalid_payload"] += 1
            return result

    def _database_down(self) -> bool:
        try:
            with self._engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return False
        except Exception:
            return True


def _looks_transient(error: Exception) -> bool:
    return isinstance(error, OperationalError) or (
        isinstance(error, DBAPIError) and error.connection_invalidated
    )
