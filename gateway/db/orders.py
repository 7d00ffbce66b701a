"""Omnichannel tables: customer orders, pickup slot bookings, and the domain event log.

A customer order (``CO-…``) is what a channel placed; its fulfilment orders are `PickupOrder` rows
(one per store it was sourced from) that carry ``customer_order_id``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from smartstore.gateway.db.models import Base


class CustomerOrder(Base):
    __tablename__ = "customer_orders"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, comment="CO-XXXXXXXX")
    channel: Mapped[str] = mapped_column(String(32))
    customer_ref: Mapped[str | None] = mapped_column(String(200))
    external_ref: Mapped[str | None] = mapped_column(String(200))
    fulfilment: Mapped[str] = mapped_column(String(16))
    requested_store: Mapped[str | None] = mapped_column(String(64))
    allow_split: Mapped[bool] = mapped_column(Boolean, default=False)
    destination: Mapped[dict[str, Any] | None] = mapped_column(JSON, comment="{lat, lon} for delivery.")
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON, comment="[{gtin, quantity}] as ordered.")
    # The sourcing decision and its reasons, as returned when the order was placed.
    sourcing: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(index=True)


class SlotBooking(Base):
    """Taken places of one pickup slot (a store's counter, or one locker bank) starting at `starts_at`."""

    __tablename__ = "pickup_slot_bookings"
    store_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    point: Mapped[str] = mapped_column(String(64), primary_key=True, comment="'counter' or a locker id.")
    starts_at: Mapped[datetime] = mapped_column(primary_key=True)
    capacity: Mapped[int] = mapped_column(Integer)
    taken: Mapped[int] = mapped_column(Integer, default=0)


class DomainEvent(Base):
    """Every order state change and channel-ATP change, written in the transaction that made it.

    `seq` orders them for readers that resume (outbound webhooks, `GET /api/v1/events`); `id` is the
    event's own id (what a receiver de-duplicates on).
    """

    __tablename__ = "domain_events"
    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    id: Mapped[str] = mapped_column(String(40), unique=True)
    type: Mapped[str] = mapped_column(String(64))
    store_id: Mapped[str | None] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(64), comment="The order id or the GTIN it is about.")
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    at: Mapped[datetime]
    __table_args__ = (Index("ix_domain_events_store_seq", "store_id", "seq"),)
