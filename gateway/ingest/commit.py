"""Commit ingest batches durably: on the writer's own connection, retrying while the database is
down, and isolating a message that breaks its batch (it is dead-lettered, the others applied)."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Sequence

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from smartstore.gateway.db.util import begin_write, utc_now
from smartstore.gateway.events import EventBus
from smartstore.gateway.ingest.decode import Inbound
from smartstore.gateway.ingest.writer import BatchResult, BatchWriter

logger = logging.getLogger(__name__)

_TRANSIENT_RETRIES = 3


class BatchCommitter:
    """The writer thread's way to the database (used from that thread only).

    A batch that fails while the database answers `SELECT 1` is retried a few times if the error
    looks transient, then bisected, so only the message that cannot be applied is dead-lettered
    and the others are applied in a few transactions (not one each). While the database is down,
    the batch waits and retries, unacked.
    """

    def __init__(self, engine: Engine, bus: EventBus, writer: BatchWriter, stopping: threading.Event) -> None:
        self._engine = engine
        self._bus = bus
        self._writer = writer
        self._stopping = stopping
        self._db: Connection | None = None
        self._last_error = ""

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
        except Exception as error:
            self._writer.forget()
            if _looks_transient(error):
                self._drop_connection()
            # else the database answered (the session rolled back): the connection stays usable
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
                logger.exception("batch of %d failed; bisecting it to isolate the culprit", len(inbound))
                self._last_error = f"{type(error).__name__}: {error}"
                return self._isolate(inbound)

    def _isolate(self, inbound: Sequence[Inbound]) -> BatchResult | None:
        """Bisect a failed batch: commit each half, split again what fails, dead-letter a single
        message that fails. One culprit costs about 2*log2(n) transactions, not n; order is kept."""
        total = BatchResult()
        if len(inbound) == 1:
            total.merge(self._dead_letter(inbound[0], self._last_error))
            return total
        half = len(inbound) // 2
        work: deque[Sequence[Inbound]] = deque([inbound[:half], inbound[half:]])
        while work:
            part = work.popleft()
            attempt = 0
            while True:
                try:
                    total.merge(self._commit_once(part))
                    break
                except Exception as error:
                    attempt += 1
                    # Only an error that may be the connection's needs the (costly) check.
                    if _looks_transient(error) and self._database_down():
                        if self._stopping.is_set():
                            return None  # not acked: what did commit is skipped on redelivery
                        self._stopping.wait(min(5.0, 0.2 * attempt))
                        continue
                    if len(part) > 1:
                        half = len(part) // 2
                        work.extendleft((part[half:], part[:half]))  # first half first
                        break
                    logger.exception("message on %s cannot be applied; dead-lettering it", part[0].topic)
                    total.merge(self._dead_letter(part[0], f"{type(error).__name__}: {error}"))
                    break
        return total

    def _dead_letter(self, message: Inbound, detail: str) -> BatchResult:
        try:
            with Session(bind=self._connection(), expire_on_commit=False) as session:
                result = self._writer.dead_letter_one(session, message, detail, utc_now())
                session.commit()
            return result
        except Exception:
            logger.exception("could not dead-letter %s: payload %r", message.topic, message.payload[:1024])
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
