"""Request and response models of the pickup-order and locker routes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from smartstore.gateway.api.schemas import AnyGtin
from smartstore.kernel.contract.payloads import Identifier

OrderStateName = Literal[
    "created",
    "reserved",
    "picking",
    "loaded",
    "ready",
    "staged",
    "handed_to_courier",
    "shipped",
    "picked_up",
    "delivered",
    "expired",
    "cancelled",
]
FulfilmentName = Literal["locker_pickup", "counter_pickup", "delivery", "ship"]
MAX_LINE_QUANTITY = 1000


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OrderLineIn(_Request):
    gtin: AnyGtin
    quantity: int = Field(ge=1, le=MAX_LINE_QUANTITY)


class PickupOrderCreate(_Request):
    lines: list[OrderLineIn] = Field(min_length=1, max_length=200)
    external_ref: str | None = Field(
        None, min_length=1, max_length=200, description="The shop's own order number, echoed back."
    )


class OrderLinePublic(BaseModel):
    gtin: str
    quantity: int


class OrderTransitionPublic(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: str | None = Field(alias="from", serialization_alias="from")
    to: str
    at: datetime
    by: str
    note: str


class PickupOrderPublic(BaseModel):
    id: str = Field(examples=["ORD-7K2M9QXD"])
    store: str
    state: OrderStateName
    external_ref: str | None
    size: Literal["S", "M", "L"] = Field(description="Smallest compartment size the order fits in.")
    locker: str | None
    compartment: str | None
    door_number: int | None
    code_issued: bool = Field(description="A pickup code exists (it is never shown again after loading).")
    code_used_at: datetime | None = Field(description="When the code last opened the door.")
    expires_at: datetime | None = Field(description="Not collected by then, the order expires.")
    lines: list[OrderLinePublic]
    created_at: datetime
    created_by: str
    updated_at: datetime
    customer_order: str | None = Field(None, description="The customer order (CO-…) it fulfils part of.")
    fulfilment: FulfilmentName = "locker_pickup"
    channel: str | None = Field(None, description="The sales channel that placed it.")
    slot_start: datetime | None = Field(None, description="The booked pickup slot's start, if any.")
    promised_by: datetime | None = Field(None, description="Delivery: at the customer's door by then.")
    transitions: list[OrderTransitionPublic] = Field(default_factory=list)
    compartment_state: dict[str, Any] | None = Field(None, description="The compartment it is in, if any.")


class OrderList(BaseModel):
    items: list[PickupOrderPublic]
    total: int


class LoadRequest(_Request):
    locker: Identifier | None = Field(None, description="Load into this locker bank; default: any.")


class LoadResult(BaseModel):
    order: PickupOrderPublic
    locker: str
    compartment: str
    door_number: int | None
    code: str = Field(description="The pickup code, shown ONCE; valid once the door closes with the goods.")
    qr: str = Field(description="Text for the customer's QR code.")
    request: str = Field(description="The open command's request id.")
    command_sent: bool


class PickupRequest(_Request):
    code: str = Field(min_length=1, max_length=32, description="6-8 digits as typed or scanned.")
    order: str | None = Field(None, max_length=32, description="Order id, when the customer has it too.")
    session: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_-]{8,64}$",
        description="The kiosk page's id of one customer's visit: wrong codes lock that session, not "
        "the bank. Without it the API key is the source.",
    )


class PickupOpened(BaseModel):
    door: str = Field(description="Compartment id.")
    door_number: int | None
    order: str
    locker: str
    request: str


class ServiceRequest(_Request):
    in_service: bool | None = Field(None, description="Take in (true) or out of (false) service.")
    clear_attention: bool = Field(False, description="The associate has dealt with what was flagged.")


class LockoutsLifted(BaseModel):
    locker: str
    lifted: int = Field(description="How many scopes (the bank, sessions, orders) were locked.")
