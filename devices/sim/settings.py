"""Configuration of the simulated store, one pydantic tree validated before anything starts."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from smartstore.kernel.mqtt import MqttSettings

_OUTAGE = re.compile(
    r"^(?P<device>[A-Za-z0-9][A-Za-z0-9_.-]{0,63})@(?P<start>[0-9.]+)\+(?P<duration>[0-9.]+)$"
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Outage(_Model):
    """A device unplugged from `start_s` for `duration_s` sim seconds (its Last Will fires)."""

    device: str = Field(description="Reader, camera or locker id from the store file.")
    start_s: float = Field(ge=0, description="Sim seconds after start.")
    duration_s: float = Field(gt=0, description="Sim seconds until it is plugged back in.")

    @classmethod
    def parse(cls, text: str) -> Outage:
        """DEVICE@START+DURATION, both in sim seconds, e.g. reader-aisle-2@600+300."""
        match = _OUTAGE.match(text.strip())
        if match is None:
            raise ValueError(f"outage {text!r} must look like DEVICE@START+DURATION (sim seconds)")
        return cls(device=match["device"], start_s=float(match["start"]), duration_s=float(match["duration"]))


class WorldSettings(_Model):
    """How the store's people behave, in sim time."""

    sales_per_hour: float = Field(150.0, ge=0, description="Shopper picks per sim hour, whole store.")
    misplace_probability: float = Field(0.03, ge=0, le=1, description="Picked items left in another aisle.")
    tidy_delay_s: tuple[float, float] = Field((900.0, 5400.0), description="Until a misplaced item is found.")
    exit_dwell_s: tuple[float, float] = Field((3.0, 8.0), description="Seconds a sold item is at the exit.")
    restock_threshold: float = Field(0.3, ge=0, le=1, description="Restock when units/capacity <= this.")
    restock_delay_s: tuple[float, float] = Field((300.0, 1500.0), description="Associate reaction time.")
    deliveries_per_day: float = Field(3.0, ge=0)
    delivery_coverage: float = Field(
        0.6, ge=0, le=1, description="Share of short products a delivery brings."
    )
    initial_fill: tuple[float, float] = Field((0.6, 1.0), description="Initial slot units / capacity.")
    initial_backroom: tuple[float, float] = Field((0.0, 2.0), description="Initial backroom / capacity.")
    display_capacity: tuple[int, int] = Field((4, 10), description="Loose stock of unplanned products.")

    @model_validator(mode="after")
    def _check_ranges(self) -> WorldSettings:
        for name in ("tidy_delay_s", "exit_dwell_s", "restock_delay_s", "initial_fill", "initial_backroom"):
            low, high = getattr(self, name)
            if not 0 <= low <= high:
                raise ValueError(f"{name}: need 0 <= low <= high, got ({low}, {high})")
        low_units, high_units = self.display_capacity
        if not 1 <= low_units <= high_units:
            raise ValueError("display_capacity: need 1 <= low <= high")
        return self


class ReaderSettings(_Model):
    """Radio behaviour of the simulated RFID readers."""

    read_probability: float = Field(0.9, ge=0, le=1, description="Chance a tag is seen in one report.")
    second_antenna_probability: float = Field(0.5, ge=0, le=1, description="Also seen by a farther antenna.")
    cross_zone_probability: float = Field(0.02, ge=0, le=1, description="Seen weakly from a neighbour zone.")


class LockerSettings(_Model):
    """Locker bank behaviour, in sim seconds."""

    loads_per_hour: float = Field(3.0, ge=0, description="Associate loads per locker bank and sim hour.")
    pickup_delay_s: tuple[float, float] = Field((600.0, 3600.0), description="Load until customer comes.")
    door_open_s: tuple[float, float] = Field((8.0, 30.0), description="How long a door stays open.")
    hands_s: tuple[float, float] = Field(
        (2.0, 6.0), description="From the door opening until the person takes or puts the parcel."
    )
    door_left_open_s: float = Field(120.0, gt=0, description="The controller reports door_left_open after.")
    left_open_close_s: float = Field(
        300.0, gt=0, description="A door left open is closed by an associate this long after the report."
    )
    unlock_window_s: float = Field(30.0, gt=0, description="An opening this soon after an unlock is its.")
    jammed: list[str] = Field(default_factory=list, description="'locker/compartment' doors that jam.")
    leave_open: list[str] = Field(default_factory=list, description="Doors people walk away from, open.")
    leave_item: list[str] = Field(default_factory=list, description="Customers open but leave the parcel.")
    phantom: list[str] = Field(default_factory=list, description="Occupied at start though nobody loaded.")
    out_of_service: list[str] = Field(default_factory=list, description="The controller refuses to open.")

    @model_validator(mode="after")
    def _check_times(self) -> LockerSettings:
        for name in ("pickup_delay_s", "door_open_s", "hands_s"):
            low, high = getattr(self, name)
            if not 0 <= low <= high:
                raise ValueError(f"{name}: need 0 <= low <= high, got ({low}, {high})")
        return self

    def fault_lists(self) -> dict[str, list[str]]:
        """Every 'locker/compartment' list, by setting name (checked against the store at start)."""
        return {
            "jammed": self.jammed,
            "leave_open": self.leave_open,
            "leave_item": self.leave_item,
            "phantom": self.phantom,
            "out_of_service": self.out_of_service,
        }


class SimSettings(_Model):
    """Everything `smartstore sim` needs besides the store file."""

    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    seed: int = Field(7, description="Same seed and store => same world events.")
    speed: float = Field(60.0, ge=0, le=100_000, description="Sim seconds per real second; 0 freezes.")
    duration_s: float = Field(0.0, ge=0, description="Real seconds to run; 0 = until stopped.")
    truth_path: Path | None = Field(None, description="Ground-truth JSONL file.")
    truth_interval_s: float = Field(60.0, gt=0, description="Sim seconds between truth lines.")
    read_interval_s: float = Field(1.0, gt=0, le=3600, description="Real seconds between read batches.")
    outages: list[Outage] = Field(default_factory=list)
    cameras: bool = True
    lockers: bool = True
    occlusion_probability: float = Field(0.1, ge=0, le=1, description="Frames with a shopper in view.")
    jpeg_quality: int = Field(85, ge=10, le=100)
    tick_s: float = Field(0.05, gt=0, le=1, description="Real seconds between clock ticks.")
    world: WorldSettings = Field(default_factory=WorldSettings)
    readers: ReaderSettings = Field(default_factory=ReaderSettings)
    locker: LockerSettings = Field(default_factory=LockerSettings)
