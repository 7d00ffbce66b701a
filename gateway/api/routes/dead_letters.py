"""`/dead-letters`: rejected messages with their reason, newest first, in pages of bounded excerpts."""

from __future__ import annotations

import base64
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from sqlalchemy import ColumnElement, LargeBinary, Row, func, select

from smartstore.gateway.api.deps import DeadLetterReader, SessionDep
from smartstore.gateway.api.schemas import MAX_PAGE, DeadLetterPublic, Page
from smartstore.gateway.db.models import DeadLetter
from smartstore.kernel.contract.topics import store_topic_prefix

router = APIRouter(prefix="/dead-letters", tags=["dead letters"])


# Rows written since dead letters are bounded hold an excerpt already; older ones may hold a whole
# payload, so the database cuts every one: a page never carries more than MAX_PAGE x this.
EXCERPT_BYTES = 1024
DETAIL_CHARS = 2000
_COLUMNS = (
    DeadLetter.id,
    DeadLetter.received_at,
    DeadLetter.topic,
    DeadLetter.reason,
    func.substr(DeadLetter.detail, 1, DETAIL_CHARS).label("detail"),
    func.substr(DeadLetter.payload, 1, EXCERPT_BYTES, type_=LargeBinary).label("payload"),
    func.coalesce(DeadLetter.payload_size, func.length(DeadLetter.payload)).label("payload_size"),
    DeadLetter.payload_sha256,
)


def to_dead_letter_public(row: Row[Any]) -> DeadLetterPublic:
    payload = bytes(row.payload or b"")
    encoding: Literal["utf-8", "base64"] = "utf-8"
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        text, encoding = base64.b64encode(payload).decode("ascii"), "base64"
    return DeadLetterPublic(
        id=row.id,
        received_at=row.received_at,
        topic=row.topic,
        reason=row.reason,
        detail=row.detail,
        payload=text,
        payload_encoding=encoding,
        payload_size=row.payload_size or 0,
        payload_sha256=row.payload_sha256,
    )


@router.get("", response_model=Page[DeadLetterPublic], summary="Rejected messages, newest first")
def list_dead_letters(
    principal: DeadLetterReader,
    session: SessionDep,
    reason: Annotated[str | None, Query(max_length=32, description="Only this rejection reason.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Page[DeadLetterPublic]:
    """Paged; each payload is its first 1 KiB at most, with the message's real size and SHA-256."""
    conditions: list[ColumnElement[bool]] = []
    if reason:
        conditions.append(DeadLetter.reason == reason)
    if principal.store_id is not None:
        # A store-bound key sees only messages that were sent on its store's topics.
        conditions.append(
            DeadLetter.topic.startswith(store_topic_prefix(principal.store_id), autoescape=True)
        )
    total = session.scalar(select(func.count()).select_from(DeadLetter).where(*conditions)) or 0
    rows = session.execute(
        select(*_COLUMNS).where(*conditions).order_by(DeadLetter.id.desc()).limit(limit).offset(offset)
    ).all()
    return Page[DeadLetterPublic](
        items=[to_dead_letter_public(row) for row in rows], total=total, limit=limit, offset=offset
    )
