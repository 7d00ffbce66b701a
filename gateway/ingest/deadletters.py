"""Dead letters kept bounded: an excerpt, the real size and SHA-256 of each, pruned by age and count."""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from smartstore.gateway.config import GatewaySettings
from smartstore.gateway.db.models import DeadLetter
from smartstore.gateway.ingest.decode import Inbound
from smartstore.gateway.ingest.limits import SizeLimits

logger = logging.getLogger(__name__)

DETAIL_MAX = 2000
_PRUNE_EVERY_S = 60.0


@dataclass(frozen=True, slots=True)
class DeadLetterPolicy:
    """How much of a rejected message is kept, and for how long."""

    excerpt_bytes: int = 1024
    max_rows: int = 10_000
    max_age: timedelta = timedelta(days=7)

    @classmethod
    def from_settings(cls, settings: GatewaySettings) -> DeadLetterPolicy:
        return cls(
            excerpt_bytes=settings.dead_letter_excerpt_bytes,
            max_rows=settings.dead_letter_max_rows,
            max_age=timedelta(hours=settings.dead_letter_max_age_h),
        )

    @property
    def slack(self) -> int:
        """Rows written past max_rows before a prune is due: at most max_rows + slack are kept."""
        return max(1, self.max_rows // 10)


def size_limits(settings: GatewaySettings) -> SizeLimits:
    return SizeLimits(
        signal=settings.max_signal_bytes,
        status=settings.max_status_bytes,
        telemetry=settings.max_telemetry_bytes,
        snapshot=settings.max_snapshot_bytes,
        locker=settings.max_locker_bytes,
    )


def dead_letter_row(
    inbound: Inbound, reason: str, detail: str, now: datetime, policy: DeadLetterPolicy
) -> dict[str, Any]:
    """The row of one rejected message: never more than the policy's excerpt of its payload."""
    payload = inbound.payload
    if inbound.oversize is not None:
        size, digest = inbound.oversize  # the receiver kept only the excerpt, and hashed the whole
    else:
        size, digest = len(payload), hashlib.sha256(payload).hexdigest()
    return {
        "received_at": now,
        "topic": _text(inbound.topic[:500]),
        "reason": reason,
        "detail": _text(detail[:DETAIL_MAX]),
        "payload": payload[: policy.excerpt_bytes],
        "payload_size": size,
        "payload_sha256": digest,
    }


def _text(value: str) -> str:
    """Text any database stores: PostgreSQL refuses NUL, which a hostile topic or detail may carry."""
    return value.replace("\x00", "\\x00") if "\x00" in value else value


class DeadLetterPruner:
    """Deletes what the policy does not keep, in the writer's transaction: once `slack` letters were
    written since the last prune, or a minute passed (for age), so a flood costs one DELETE per
    `slack` letters."""

    def __init__(self, policy: DeadLetterPolicy) -> None:
        self.policy = policy
        self._written = 0
        self._last = -math.inf

    def note(self, written: int) -> None:
        self._written += written

    def maybe_prune(self, session: Session, now: datetime) -> int:
        clock = time.monotonic()
        if self._written < self.policy.slack and clock - self._last < _PRUNE_EVERY_S:
            return 0
        self._written, self._last = 0, clock
        return prune_dead_letters(session, self.policy, now)


def prune_dead_letters(session: Session, policy: DeadLetterPolicy, now: datetime) -> int:
    """Delete dead letters older than max_age and all but the newest max_rows; the rows deleted."""
    connection = session.connection()
    deleted = connection.execute(
        delete(DeadLetter).where(DeadLetter.received_at < now - policy.max_age)
    ).rowcount
    cutoff = connection.scalar(
        select(DeadLetter.id).order_by(DeadLetter.id.desc()).offset(policy.max_rows).limit(1)
    )
    if cutoff is not None:
        deleted += connection.execute(delete(DeadLetter).where(DeadLetter.id <= cutoff)).rowcount
    if deleted:
        logger.info(
            "pruned %d dead letters (kept: %d at most, %s old at most)",
            deleted,
            policy.max_rows,
            policy.max_age,
        )
    return deleted
