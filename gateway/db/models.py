"""Gateway tables: inventory per store x GTIN and what feeds it, alerts, devices, keys, dead letters."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from smartstore.gateway.db.types import UtcDateTime


class Base(DeclarativeBase):
    # SQLite keeps datetimes as text without offset: each must be bound in UTC (see UtcDateTime).
    type_annotation_map = {datetime: UtcDateTime(), dict[str, Any]: JSON}


class Store(Base):
    __tablename__ = "stores"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))


class Product(Base):
    """A store's catalog entry: GTIN-14 -> name and retailer SKU."""

    __tablename__ = "products"
    store_id: Mapped[str] = mapped_column(ForeignKey("stores.id"), primary_key=True)
    gtin: Mapped[str] = mapped_column(String(14), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    sku: Mapped[str] = mapped_column(String(64))
    rfid_tagged: Mapped[bool]


class Inventory(Base):
    """Unified figures per store x GTIN; available_to_promise = max(0, on_hand - reserved - safety_stock)."""

    __tablename__ = "inventory"
    store_id: Mapped[str] = mapped_column(ForeignKey("stores.id"), primary_key=True)
    gtin: Mapped[str] = mapped_column(String(14), primary_key=True)
    salesfloor: Mapped[int] = mapped_column(Integer, default=0)
    backroom: Mapped[int] = mapped_column(Integer, default=0)
    on_hand: Mapped[int] = mapped_column(Integer, default=0)
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    safety_stock: Mapped[int] = mapped_column(Integer, default=0)
    available_to_promise: Mapped[int] = mapped_column(Integer, default=0)
    # What online channels may promise (holdback and shelf rule, gateway.inventory.allocation). Added with
    # channel allocation (#27): nullable, so make_engine adds it to older databases; NULL = not computed
    # yet (readers compute it from the row).
    online_available_to_promise: Mapped[int | None] = mapped_column(Integer, nullable=True)
    shelf_state: Mapped[str] = mapped_column(String(8), default="unknown")
    shelf_fill: Mapped[float | None] = mapped_column(Float, nullable=True)
    # Which source last set each figure and when: {"on_hand": {"source": "rfid", "at": "..."}, ...}
    sources: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime]
    # Name and SKU for views, loaded in one extra IN query (a join would clash with FOR UPDATE).
    product: Mapped[Product | None] = relationship(
        primaryjoin="and_(foreign(Inventory.store_id) == Product.store_id, "
        "foreign(Inventory.gtin) == Product.gtin)",
        viewonly=True,
        lazy="selectin",
    )
    __table_args__ = (Index("ix_inventory_store_state", "store_id", "shelf_state"),)


class ZoneCount(Base):
    """Units of a GTIN in one zone, as last counted (RFID) or moved (POS/manual)."""

    __tablename__ = "zone_counts"
    store_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    zone_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    gtin: Mapped[str] = mapped_column(String(14), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime]


class SlotState(Base):
    """Latest state of one planogram slot as seen by its camera."""

    __tablename__ = "slot_states"
    store_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    slot_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    gtin: Mapped[str] = mapped_column(String(14), index=True)
    camera_id: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(8))
    fill: Mapped[float] = mapped_column(Float)
    confidence: Mapped[float] = mapped_column(Float)
    stale: Mapped[bool] = mapped_column(default=False)
    since: Mapped[datetime] = mapped_column(comment="When the slot entered its current state.")
    updated_at: Mapped[datetime]


class AppliedEvent(Base):
    """Every event id the gateway applied: the at-most-once guard."""

    __tablename__ = "applied_events"
    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    store_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(BigInteger)
    event_ts: Mapped[datetime]
    applied_at: Mapped[datetime]


class SourceSequence(Base):
    """Last sequence number per source (topic device), to count gaps."""

    __tablename__ = "source_sequences"
    source: Mapped[str] = mapped_column(String(200), primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    gaps: Mapped[int] = mapped_column(BigInteger, default=0)


class DeadLetter(Base):
    """A rejected message with the reason: its first bytes, real size and SHA-256, never more.

    `payload_size` and `payload_sha256` were added with the bound (NULL in older rows: the payload
    was kept whole); `make_engine` adds them to a database made before them. Rows are pruned by age
    and count (GatewaySettings.dead_letter_*).
    """

    __tablename__ = "dead_letters"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(index=True)
    topic: Mapped[str] = mapped_column(String(500))
    reason: Mapped[str] = mapped_column(String(32), index=True)
    detail: Mapped[str] = mapped_column(Text)
    payload: Mapped[bytes] = mapped_column(LargeBinary, comment="The first bytes only (an excerpt).")
    payload_size: Mapped[int | None] = mapped_column(BigInteger, comment="Bytes the message had.")
    payload_sha256: Mapped[str | None] = mapped_column(String(64))


class Device(Base):
    __tablename__ = "devices"
    store_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(8))
    last_seen: Mapped[datetime | None]
    firmware: Mapped[str | None] = mapped_column(String(64))
    info: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Alert(Base):
    """Lifecycle open -> acknowledged -> cleared; at most one not-cleared alert per (store, cause)."""

    __tablename__ = "alerts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    store_id: Mapped[str] = mapped_column(String(64), index=True)
    cause: Mapped[str] = mapped_column(String(200))
    severity: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), index=True)
    message: Mapped[str] = mapped_column(Text, default="")
    device_id: Mapped[str | None] = mapped_column(String(64))
    opened_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(100))
    cleared_at: Mapped[datetime | None]
    # Not-cleared alerts carry their cause here, cleared ones NULL, so the unique index allows
    # one live alert per cause and any number of cleared ones (NULLs are distinct in both engines).
    live_cause: Mapped[str | None] = mapped_column(String(200))
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    __table_args__ = (UniqueConstraint("store_id", "live_cause", name="uq_alert_live_cause"),)


class Movement(Base):
    """A stock movement posted through the API (sale, receipt, adjustment, count)."""

    __tablename__ = "movements"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    store_id: Mapped[str] = mapped_column(String(64), index=True)
    gtin: Mapped[str] = mapped_column(String(14))
    type: Mapped[str] = mapped_column(String(16))
    zone_id: Mapped[str | None] = mapped_column(String(64))
    quantity: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(100))


class IdempotencyRecord(Base):
    """The first response to a request carrying an Idempotency-Key, replayed on retries."""

    __tablename__ = "idempotency_keys"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    scope: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]


class ApiKey(Base):
    """An API key, stored as SHA-256 of its secret part; `prefix` finds the row."""

    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100))
    store_id: Mapped[str | None] = mapped_column(String(64), comment="Limit to one store; NULL = all.")
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
