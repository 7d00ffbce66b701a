"""Locker tables: pickup orders with their lines and history, compartment states, code lockouts, audit."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from smartstore.gateway.db.models import Base


class PickupOrder(Base):
    """A fulfilment order: the part of a customer order one store fulfils, one way (locker or counter
    pickup, delivery, shipping); lifecycle in gateway/lockers/states.py. The table keeps the name it had
    when lockers were the only way; rows made then have no customer order and are locker pickups."""

    __tablename__ = "pickup_orders"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, comment="ORD-XXXXXXXX")
    store_id: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(32))
    external_ref: Mapped[str | None] = mapped_column(String(200), comment="The integrator's reference.")
    size: Mapped[str] = mapped_column(String(1), comment="Smallest compartment size it fits in.")
    locker_id: Mapped[str | None] = mapped_column(String(64))
    compartment_id: Mapped[str | None] = mapped_column(String(64))
    # HMAC of (bank, code): set while the code is live (loaded, ready), NULL after, so the unique
    # constraint below holds among live codes only (NULLs are distinct in both engines).
    code_lookup: Mapped[str | None] = mapped_column(String(64))
    code_hash: Mapped[str | None] = mapped_column(String(200), comment="Salted scrypt; never the code.")
    code_used_at: Mapped[datetime | None] = mapped_column(comment="When the code last opened the door.")
    expires_at: Mapped[datetime | None]
    load_requests: Mapped[int] = mapped_column(Integer, default=0)
    pickup_requests: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # Added with omnichannel orders (#27): nullable, so make_engine adds them to older databases.
    customer_order_id: Mapped[str | None] = mapped_column(String(32), index=True)
    fulfilment: Mapped[str | None] = mapped_column(String(16), comment="NULL: locker_pickup.")
    channel: Mapped[str | None] = mapped_column(String(32))
    slot_start: Mapped[datetime | None] = mapped_column(comment="Booked pickup slot (counter or locker).")
    promised_by: Mapped[datetime | None] = mapped_column(comment="Delivery: at the customer's door by.")
    reminded_at: Mapped[datetime | None]
    lines: Mapped[list[PickupOrderLine]] = relationship(
        order_by="PickupOrderLine.line", lazy="selectin", cascade="all, delete-orphan"
    )
    transitions: Mapped[list[OrderTransition]] = relationship(
        order_by="OrderTransition.id", lazy="selectin", cascade="all, delete-orphan"
    )
    __table_args__ = (
        UniqueConstraint("store_id", "locker_id", "code_lookup", name="uq_pickup_live_code"),
        Index("ix_pickup_orders_store_state", "store_id", "state"),
        Index("ix_pickup_orders_code_lookup", "code_lookup"),
    )


class PickupOrderLine(Base):
    __tablename__ = "pickup_order_lines"
    order_id: Mapped[str] = mapped_column(ForeignKey("pickup_orders.id"), primary_key=True)
    line: Mapped[int] = mapped_column(Integer, primary_key=True, comment="1-based position in the order.")
    gtin: Mapped[str] = mapped_column(String(14))
    quantity: Mapped[int] = mapped_column(Integer)


class OrderTransition(Base):
    """One step of an order's lifecycle: who moved it from what to what, when and why."""

    __tablename__ = "pickup_order_transitions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("pickup_orders.id"), index=True)
    from_state: Mapped[str | None] = mapped_column(String(32))
    to_state: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime]
    by: Mapped[str] = mapped_column(String(100))
    note: Mapped[str] = mapped_column(Text, default="")


class CompartmentState(Base):
    """One compartment: what the gateway owns (service, the order in it, attention needed) and a mirror
    of what the locker last reported (door, occupancy), written only by lockers.compartments.mirror_door."""

    __tablename__ = "locker_compartments"
    store_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    locker_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    compartment_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[str] = mapped_column(String(1))
    in_service: Mapped[bool] = mapped_column(default=True)
    # Mirrored from the locker's reports (the edge owns their meaning): never set from the API.
    occupied: Mapped[bool | None] = mapped_column(comment="Occupancy sensor; NULL until first reported.")
    door_open: Mapped[bool] = mapped_column(default=False)
    # Unique: an order sits in one compartment at most.
    order_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    needs_attention: Mapped[str | None] = mapped_column(String(200), comment="Why an associate must look.")
    updated_at: Mapped[datetime]


class CodeLockout(Base):
    """Refusal counter of one throttle scope within a store: 'bank:{locker}', 'source:{locker}:{who}'
    (a kiosk session or API key) or 'order:{locker}:{id}'. `failures` counts the scope's refused tries
    in its window: wrong codes, then tries refused while it is locked (these never reach the bank's)."""

    __tablename__ = "pickup_code_lockouts"
    store_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    scope: Mapped[str] = mapped_column(String(100), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime | None]
    locked_until: Mapped[datetime | None]


class CodeAttempt(Base):
    """Audit of the kiosk's doors opened, lockouts started and lockouts lifted: never the code itself.
    Other refusals are only counted (CodeLockout, and the Prometheus counter), not written one row each."""

    __tablename__ = "pickup_code_attempts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    store_id: Mapped[str] = mapped_column(String(64))
    locker_id: Mapped[str] = mapped_column(String(64))
    order_id: Mapped[str | None] = mapped_column(String(32))
    result: Mapped[str] = mapped_column(String(32), comment="opened, lockout, lockout_lifted")
    at: Mapped[datetime]
    by: Mapped[str] = mapped_column(String(100), comment="The key (name and prefix) that did it.")
    __table_args__ = (Index("ix_pickup_code_attempts_store_at", "store_id", "at"),)
