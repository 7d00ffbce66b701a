"""Dashboard tables: restock tasks opened by empty or low slots, and on-shelf availability samples."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from smartstore.gateway.db.models import Base


class RestockTask(Base):
    """Lifecycle open -> acknowledged -> resolved -> closed; at most one live task per (store, slot).

    `closed` is reached only on evidence: the camera sees the slot ok again (closed_by="camera").
    """

    __tablename__ = "restock_tasks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    store_id: Mapped[str] = mapped_column(String(64))
    slot_id: Mapped[str] = mapped_column(String(64))
    gtin: Mapped[str] = mapped_column(String(14))
    camera_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32), comment="What the stock said when the task opened.")
    slot_state: Mapped[str] = mapped_column(String(8), comment="Latest empty/low state of the slot.")
    state: Mapped[str] = mapped_column(String(16))
    opened_at: Mapped[datetime] = mapped_column(comment="When the slot went empty or low.")
    updated_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(100))
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(100))
    closed_at: Mapped[datetime | None]
    closed_by: Mapped[str | None] = mapped_column(String(100))
    # Live tasks carry their slot here, closed ones NULL: one live task per slot, any number closed.
    live_slot: Mapped[str | None] = mapped_column(String(64))
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    __table_args__ = (
        UniqueConstraint("store_id", "live_slot", name="uq_restock_live_slot"),
        Index("ix_restock_store_state", "store_id", "state"),
        Index("ix_restock_store_closed", "store_id", "closed_at"),
    )


class OsaSample(Base):
    """On-shelf availability of a store at one instant, written by the runtime's sampler."""

    __tablename__ = "osa_samples"
    store_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    at: Mapped[datetime] = mapped_column(primary_key=True)
    planned: Mapped[int] = mapped_column(Integer)
    ok: Mapped[int] = mapped_column(Integer)
    low: Mapped[int] = mapped_column(Integer)
    empty: Mapped[int] = mapped_column(Integer)
    unknown: Mapped[int] = mapped_column(Integer)
    osa: Mapped[float | None] = mapped_column(
        Float, comment="(ok + low) / planned; NULL without a planogram."
    )
