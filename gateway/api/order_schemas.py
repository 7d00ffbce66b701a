"""Request and response models of the omnichannel order routes (/api/v1/orders, pickup slots)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from smartstore.gateway.api.locker_schemas import FulfilmentName, OrderLineIn, PickupOrderPublic
from smartstore.kernel.contract.payloads import Identifier

ChannelName = Literal["web", "app", "marketplace", "store_associate"]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GeoPointIn(_Request):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class OrderCreate(_Request):
    channel: ChannelName = Field(description="Where the customer ordered.")
    fulfilment: FulfilmentName
    lines: list[OrderLineIn] = Field(min_length=1, max_length=200)
    store: Identifier | None = Field(
        None,
        description="Pickup: the store the customer chose (required unless `destination` lets us choose). "
        "Delivery and shipping: use this store when it can fill the order.",
    )
    destination: GeoPointIn | None = Field(
        None, description="The customer's address (delivery: required) or where they want to pick up near."
    )
    slot: AwareDatetime | None = Field(
        None, description="Pickup: the start of a booked time slot (GET …/pickup-slots); none: any time."
    )
    allow_split: bool = Field(False, description="May several stores fulfil it when none has every line.")
    customer_ref: str | None = Field(None, min_length=1, max_length=200, description="The customer, for you.")
    external_ref: str | None = Field(None, min_length=1, max_length=200, description="Your order number.")


class SourcingLine(BaseModel):
    gtin: str
    quantity: int


class SourcingAllocation(BaseModel):
    store: str
    lines: list[SourcingLine]
    distance_km: float | None
    cost: float = Field(description="Distance plus penalties for unconfirmed shelves and last units (km).")
    reasons: list[str]


class SourcingRejection(BaseModel):
    store: str
    reason: str


class SourcingDecision(BaseModel):
    strategy: Literal["requested_store", "best_store", "split", "none"]
    considered: int = Field(description="Locations looked at.")
    allocations: list[SourcingAllocation]
    rejected: list[SourcingRejection]
    shortfall: list[SourcingLine]


class CustomerOrderPublic(BaseModel):
    id: str = Field(examples=["CO-7K2M9QXD"])
    status: Literal["open", "completed", "cancelled", "partly_cancelled"]
    channel: ChannelName
    fulfilment: FulfilmentName
    customer_ref: str | None
    external_ref: str | None
    requested_store: str | None
    allow_split: bool
    destination: dict[str, float] | None
    lines: list[SourcingLine]
    sourcing: SourcingDecision
    fulfilments: list[PickupOrderPublic] = Field(description="One per store it is fulfilled from.")
    created_at: datetime
    created_by: str


class CustomerOrderList(BaseModel):
    items: list[CustomerOrderPublic]


class PickupSlot(BaseModel):
    start: datetime
    end: datetime
    capacity: int
    taken: int
    available: int


class PickupSlotList(BaseModel):
    store: str
    point: Literal["counter", "lockers"]
    slot_minutes: int
    items: list[PickupSlot]
