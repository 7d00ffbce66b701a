"""`Idempotency-Key`: one dependency that replays a retried request's first answer or claims its key."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from smartstore.gateway.api.deps import SessionDep
from smartstore.gateway.api.errors import ApiError
from smartstore.gateway.db.models import IdempotencyRecord

logger = logging.getLogger(__name__)

REPLAY_HEADER = "Idempotent-Replayed"

KeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Any unique string per request: a retry with the same key and body is applied once "
        "and answered with the first answer. Required for pickup orders.",
    ),
]


def request_fingerprint(body: BaseModel) -> str:
    """Hash of the normalized body: a GTIN-13 and its GTIN-14 form are the same request."""
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(slots=True)
class Idempotency:
    """The request's key (None without the header) and the session its record is written in.

    The record is inserted first, in the same transaction as the request's effect, so a concurrent
    twin blocks on it and then replays our answer; a rolled-back request keeps no record, so its key
    may be used again.
    """

    key: str | None
    session: Session
    scope: str = ""
    fingerprint: str = ""

    def replay_or_claim(self, scope: str, body: BaseModel, now: datetime) -> JSONResponse | None:
        """The stored answer to this key in `scope` (a caller and resource), or None once claimed.

        Without a key nothing is claimed. 422 when the key came with another body, 409 while a twin
        with the same key is still running.
        """
        if self.key is None:
            return None
        self.scope, self.fingerprint = scope, request_fingerprint(body)
        return self._replay() or self._claim(now)

    def remember(self, status_code: int, content: dict[str, Any]) -> None:
        """Store the answer with the claimed key (not committed: the caller commits it with the effect)."""
        if self.key is None:
            return
        record = self.session.get(IdempotencyRecord, (self.key, self.scope))
        assert record is not None  # claimed by replay_or_claim, in this transaction
        record.status_code = status_code
        record.response = content

    def _replay(self) -> JSONResponse | None:
        record = self.session.get(IdempotencyRecord, (self.key, self.scope), populate_existing=True)
        if record is None:
            return None
        if record.request_hash != self.fingerprint:
            raise ApiError(
                422,
                "idempotency_key_reused",
                "this Idempotency-Key was used with a different request body; use a new key",
            )
        return JSONResponse(record.response, status_code=record.status_code, headers={REPLAY_HEADER: "true"})

    def _claim(self, now: datetime) -> JSONResponse | None:
        assert self.key is not None
        self.session.add(
            IdempotencyRecord(
                key=self.key,
                scope=self.scope,
                request_hash=self.fingerprint,
                status_code=0,
                response={},
                created_at=now,
            )
        )
        try:
            self.session.flush()
        except (IntegrityError, OperationalError) as error:
            self.session.rollback()
            replay = self._replay()
            if replay is not None:
                logger.debug("Idempotency-Key %s: a concurrent twin applied it first; replaying", self.key)
                return replay
            logger.info(
                "Idempotency-Key %s: concurrent request still running (%s)", self.key, type(error).__name__
            )
            raise ApiError(
                409, "idempotency_key_in_use", "a request with this Idempotency-Key is in progress"
            ) from None
        return None


def idempotency(session: SessionDep, key: KeyHeader = None) -> Idempotency:
    return Idempotency(key, session)


IdempotencyDep = Annotated[Idempotency, Depends(idempotency)]
