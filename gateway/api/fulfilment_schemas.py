"""Request and response models of the store-side fulfilment routes (stage, hand over, ship, delivered)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from smartstore.gateway.api.locker_schemas import PickupOrderPublic


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StageResult(BaseModel):
    order: PickupOrderPublic
    code: str | None = Field(
        description="The handover code, shown ONCE (counter pickup: the customer's; delivery: the "
        "courier's); staging again issues a new one and the old one stops working. None for shipping."
    )
    qr: str | None = Field(description="Text for the code's QR code.")
    code_for: Literal["customer", "courier"] | None = Field(description="Who is to show the code.")


class HandoverRequest(_Request):
    code: str = Field(
        min_length=1, max_length=32, description="6-8 digits the customer or courier shows, typed or scanned."
    )


# Printable text only: it goes into the order's history as it is.
_PRINTABLE = r"^[^\x00-\x1f\x7f]+$"


class ShipRequest(_Request):
    carrier: str = Field(
        min_length=1, max_length=60, pattern=_PRINTABLE, description="Who carries the parcel, e.g. DHL."
    )
    tracking: str | None = Field(
        None, min_length=1, max_length=100, pattern=_PRINTABLE, description="The carrier's number."
    )
