"""Request and response models of the picking routes: pick lists, the RFID pick check, short picks."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from smartstore.gateway.api.locker_schemas import MAX_LINE_QUANTITY, FulfilmentName, PickupOrderPublic
from smartstore.gateway.api.order_schemas import SourcingDecision
from smartstore.gateway.api.schemas import AnyGtin

RfidStatus = Literal["confirmed", "pending", "not_tagged"]


class PickPlace(BaseModel):
    shelf: str
    slot: str
    zone: str
    zone_name: str


class AreaCounts(BaseModel):
    """Units counted (RFID, count movements) in the store's zones of each area."""

    salesfloor: int
    backroom: int
    locker: int = Field(description="In the locker/staging zones: picked units waiting there.")


class RfidCheck(BaseModel):
    status: RfidStatus = Field(
        description="confirmed: the locker/staging zones count the units every order picked there wants; "
        "pending: not yet; not_tagged: no RFID tag, the associate confirms the pick."
    )
    counted: int = Field(description="Units of the GTIN counted in the locker/staging zones.")
    wanted: int = Field(description="Units the store's orders picked there want (this order included).")


class PickLine(BaseModel):
    gtin: str
    name: str | None
    quantity: int
    rfid_tagged: bool
    places: list[PickPlace] = Field(description="Planogram slots holding the GTIN.")
    counts: AreaCounts
    rfid: RfidCheck


class Unexpected(BaseModel):
    """A GTIN counted in the locker/staging zones that no open order of the store wants."""

    gtin: str
    name: str | None
    count: int


class PickOrder(BaseModel):
    id: str
    store: str
    state: Literal["reserved", "picking", "staged", "loaded", "ready"]
    fulfilment: FulfilmentName
    channel: str | None
    customer_order: str | None
    promised_by: datetime | None
    slot_start: datetime | None
    created_at: datetime
    lines: list[PickLine]


class PickStop(BaseModel):
    order: str
    gtin: str
    name: str | None
    quantity: int
    shelf: str | None
    slot: str | None


class ZoneWalk(BaseModel):
    zone: str | None = Field(description="None: the product has no shelf and no count anywhere.")
    name: str | None
    area: str | None
    lines: list[PickStop] = Field(description="By shelf and slot; the most urgent order first within one.")


class PickList(BaseModel):
    store: str
    generated_at: datetime
    orders: list[PickOrder] = Field(
        description="Reserved and picking orders: delivery promises first, then booked slots, by time, "
        "then the rest by age."
    )
    by_zone: list[ZoneWalk] = Field(description="The same lines zone by zone, in the store file's order.")
    unexpected: list[Unexpected]


class PickCheck(PickOrder):
    state: str  # type: ignore[assignment]  # any state may be checked
    status: Literal["confirmed", "pending", "not_tagged"] = Field(
        description="pending while a tagged line is; not_tagged when the associate must confirm a line."
    )
    associate_confirms: list[str] = Field(description="GTINs without RFID tags.")
    unexpected: list[Unexpected]


class ShortLine(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gtin: AnyGtin
    missing: int = Field(ge=1, le=MAX_LINE_QUANTITY, description="Units not found.")


class ShortPickCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lines: list[ShortLine] = Field(min_length=1, max_length=200)


class MissingLine(BaseModel):
    gtin: str
    quantity: int


class Alternative(BaseModel):
    store: str
    distance_km: float | None = Field(description="From the store the customer chose.")


class ShortPickResult(BaseModel):
    order: PickupOrderPublic = Field(description="The order after the short pick.")
    missing: list[MissingLine]
    cancelled: bool = Field(description="Every line was missing: the order is cancelled.")
    outcome: Literal["resourced", "alternatives", "unfilled"] = Field(
        description="resourced: new fulfilment orders elsewhere (delivery, ship); alternatives: stores the "
        "customer may choose (pickup); unfilled: no other location can fill the missing lines."
    )
    resourced: list[PickupOrderPublic]
    alternatives: list[Alternative] = Field(description="Nearest first.")
    sourcing: SourcingDecision | None = Field(description="How the missing lines were re-sourced.")
    message: str
