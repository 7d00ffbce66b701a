"""`/dead-letters`: rejected messages with their reason, newest first."""

from __future__ import annotations

import base64
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from sqlalchemy import ColumnElement, func, select

from smartstore.gateway.api.deps import DeadLetterReader, SessionDep
from smartstore.gateway.api.schemas import MAX_PAGE, DeadLetterPublic, Page
from smartstore.gateway.db.models import DeadLetter
from smartstore.kernel.contract.topics import store_topic_prefix

router = APIRouter(prefix="/dead-letters", tags=["dead letters"])


def to_dead_letter_public(row: DeadLetter) -> DeadLetterPublic:
    payload = bytes(row.payload)
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
        payload_size=len(payload),
    )


@router.get("", response_model=Page[DeadLetterPublic], summary="Rejected messages, newest first")
def list_dead_letters(
    principal: DeadLetterReader,
    session: SessionDep,
    reason: Annotated[str | None, Query(max_length=32, description="Only this rejection reason.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[DeadLetterPublic]:
    conditions: list[ColumnElement[bool]] = []
    if reason:
        conditions.append(DeadLetter.reason == reason)
    if principal.store_id is not None:
        # A store-bound key sees only messages that were sent on its store's topics.
        conditions.append(
            DeadLetter.topic.startswith(store_topic_prefix(principal.store_id), autoescape=True)
        )
    total = session.scalar(select(func.count()).select_from(DeadLetter).where(*conditions)) or 0
    rows = session.scalars(
        select(DeadLetter).where(*conditions).order_by(DeadLetter.id.desc()).limit(limit).offset(offset)
    ).all()
    return Page[DeadLetterPublic](
        items=[to_dead_letter_public(row) for row in rows], total=total, limit=limit, offset=offset
    )
