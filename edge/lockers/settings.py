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
    alert_reraise_s: float = Field(
        300.0,
        ge=0,
        description="A cleared locker alert (door left open or jammed, item not removed, empty at pickup, "
        "unexpected item, keypad locked) is raised again no sooner than this: a door bouncing open and "
        "closed sends one raise and one clear per interval at most; a cause still true then is raised "
        "then (0: no hold). Door events and pickups are never held.",
    )
