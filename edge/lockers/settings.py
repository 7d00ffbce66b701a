"""Settings of the locker pickups (`EdgeSettings.lockers`, env SMARTSTORE_EDGE_LOCKERS__*)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class LockerSettings(BaseModel):
    """Locker pickups at the edge (edge/lockers): keypad codes checked against the gateway's manifest."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_wrong_codes: int | None = Field(
        None,
        ge=1,
        le=100,
        description="Wrong keypad codes in a row before a bank locks its keypad; None: the store file's "
        "store.pickup_max_failures, as the gateway uses.",
    )
    lockout_s: float | None = Field(
        None,
        gt=0,
        description="How long a locked keypad refuses every code; None: store.pickup_lockout_minutes.",
    )
    used_retention_s: float = Field(
        86400.0,
        gt=0,
        description="Used orders are remembered (and refused) this long, and until their expiry at least.",
    )
