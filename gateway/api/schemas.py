"""Request and response models of the REST API (Base / Create / Public, as in full-stack-fastapi-template)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from smartstore.gateway.db.util import as_utc
from smartstore.kernel.contract.gtin import to_gtin14
from smartstore.kernel.contract.payloads import Identifier, ShelfState

ItemT = TypeVar("ItemT")
MovementType = Literal["sale", "receipt", "adjustment", "count"]
AlertState = Literal["open", "acknowledged", "cleared"]
OnlineRule = Literal["book", "shelf_empty_none_in_backroom"]
SalesChannel = Literal["web", "app", "marketplace", "store_associate", "walk_in"]
MAX_PAGE = 500
MAX_MOVEMENT_QUANTITY = 1_000_000


# Every time the API returns is in UTC, whatever zone or row it came from.
UtcDatetime = Annotated[datetime, AfterValidator(as_utc)]
AnyGtin = Annotated[
    str,
    Field(description="GTIN-8, -12, -13 or -14; answered as GTIN-14.", examples=["09506000100005"]),
    AfterValidator(to_gtin14),
]


class PublicModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Page(PublicModel, Generic[ItemT]):
    items: list[ItemT]
    total: int = Field(description="Rows matching the filters, all pages together.")
    limit: int
    offset: int


# --- stores ---------------------------------------------------------------------------------------


class StorePublic(PublicModel):
    id: str
    name: str
    timezone: str
    products: int = Field(description="Catalog entries.")
    devices: int = Field(description="Devices configured or seen.")
    devices_online: int
    open_alerts: int = Field(description="Alerts in state 'open' (not yet acknowledged).")


# --- inventory ------------------------------------------------------------------------------------


class InventoryBase(PublicModel):
    store: str
    gtin: str
    name: str | None = Field(description="Catalog name; null if the product left the store file.")
    sku: str | None


class ChannelAtp(PublicModel):
    """Available-to-promise per channel group (docs/inventory.md, "Channel allocation")."""

    walk_in: int = Field(description="What a customer in the store may buy: available_to_promise.")
    online: int = Field(
        description="What web, app, marketplace and store-associate orders may promise: available_to_promise "
        "less the online holdback, or 0 while the shelf is empty and the backroom holds none."
    )
    online_rule: OnlineRule = Field(
        description="book: available_to_promise less the holdback; shelf_empty_none_in_backroom: every "
        "observed slot is empty and no unit is counted in the backroom, so online promises nothing."
    )


class InventoryPublic(InventoryBase):
    on_hand: int
    salesfloor: int
    backroom: int
    reserved: int
    safety_stock: int
    available_to_promise: int = Field(description="max(0, on_hand - reserved - safety_stock)")
    channels: ChannelAtp
    shelf_state: ShelfState
    shelf_fill: float | None
    sources: dict[str, Any] = Field(description="Which source last set each figure, and when.")
    updated_at: UtcDatetime


class ZoneStock(PublicModel):
    zone: str
    area: str | None = Field(description="Area of the zone in the store file; null if it left the file.")
    count: int
    source: str
    updated_at: UtcDatetime


class SlotPublic(PublicModel):
    slot: str
    shelf: str | None
    camera: str
    state: ShelfState
    fill: float
    confidence: float
    stale: bool
    since: UtcDatetime
    updated_at: UtcDatetime


class InventoryDetail(InventoryPublic):
    zones: list[ZoneStock]
    slots: list[SlotPublic]


class StoreAvailability(PublicModel):
    store: str
    store_name: str
    on_hand: int
    available_to_promise: int
    channels: ChannelAtp
    available_to_promise_for_channel: int | None = Field(
        None,
        description="ATP for the `channel` asked for (web, app, marketplace, store_associate: the online "
        "figure; walk_in: available_to_promise); null when no channel was given.",
    )
    shelf_state: ShelfState
    updated_at: UtcDatetime


class ProductAvailability(PublicModel):
    gtin: str
    name: str | None
    channel: SalesChannel | None = Field(None, description="The channel asked for, if any.")
    stores: list[StoreAvailability]


# --- movements ------------------------------------------------------------------------------------


class MovementBase(BaseModel):
    type: MovementType = Field(
        description="sale and receipt move `quantity` units out / in; adjustment adds a signed delta; "
        "count sets the absolute count."
    )
    gtin: str
    quantity: int
    zone: Identifier | None = Field(None, description="Zone the units are in; default by movement type.")


class MovementCreate(MovementBase):
    model_config = ConfigDict(extra="forbid")
    gtin: AnyGtin
    quantity: int = Field(ge=-MAX_MOVEMENT_QUANTITY, le=MAX_MOVEMENT_QUANTITY)

    @model_validator(mode="after")
    def _check_quantity(self) -> MovementCreate:
        if self.type in ("sale", "receipt") and self.quantity < 1:
            raise ValueError(f"a {self.type} moves at least 1 unit")
        if self.type == "adjustment" and self.quantity == 0:
            raise ValueError("an adjustment of 0 changes nothing")
        if self.type == "count" and self.quantity < 0:
            raise ValueError("a count cannot be negative")
        return self


class MovementPublic(MovementBase):
    id: int
    store: str
    created_at: UtcDatetime
    created_by: str


class MovementResult(BaseModel):
    movement: MovementPublic
    inventory: InventoryPublic
    rfid_counted: bool = Field(
        description="True when the product is RFID-tagged and a reader covers the movement's zone: RFID "
        "counts are absolute, so the next RFID snapshot of that zone replaces this figure (received "
        "units count once their tags are read)."
    )
    note: str | None = Field(None, description="What `rfid_counted` means for this movement, in words.")


# --- devices, alerts, dead letters, health --------------------------------------------------------


class DevicePublic(PublicModel):
    kind: str
    id: str
    state: Literal["online", "offline"]
    last_seen: UtcDatetime | None
    firmware: str | None
    info: dict[str, Any]


class AlertPublic(PublicModel):
    id: int
    store: str
    cause: str
    severity: str
    state: AlertState
    message: str
    device: str | None
    opened_at: UtcDatetime
    acknowledged_at: UtcDatetime | None
    acknowledged_by: str | None
    cleared_at: UtcDatetime | None
    history: list[dict[str, Any]]


class DeadLetterPublic(PublicModel):
    id: int
    received_at: UtcDatetime
    topic: str
    reason: str
    detail: str
    payload: str = Field(description="The payload as UTF-8 text, or base64 when it is not valid UTF-8.")
    payload_encoding: Literal["utf-8", "base64"]
    payload_size: int = Field(description="Bytes the message had; `payload` holds its first bytes only.")
    payload_sha256: str | None = Field(None, description="SHA-256 (hex) of the whole payload.")


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    database: bool
    mqtt: bool | None = Field(description="Broker link of the signal consumer; null when not known.")
    stores: list[str] | None = Field(
        None, description="Store ids served: only to a caller with a valid key (a store-bound key: its own)."
    )
    sse_clients: int
