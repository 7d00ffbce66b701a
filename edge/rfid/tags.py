"""The tag presence model: per-tag, per-zone read statistics, and the events a tag's life produces."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from smartstore.edge.rfid.epc import EpcIdentity

Cell = tuple[str, str]  # (zone, GTIN): one per-zone product count


class TagEventKind(StrEnum):
    ARRIVED = "arrived"
    MOVED = "moved"
    DEPARTED = "departed"
    RETURNED = "returned"


class DepartReason(StrEnum):
    """Why a tag is considered gone; derived only from what the readers showed (see edge/README.md)."""

    TIMEOUT = "timeout"  # not read in its zone for the zone's departure timeout while the zone was covered
    EXIT = "exit"  # last read in an exit zone, then not read there for its timeout
    POINT_OF_SALE = "point_of_sale"  # same, through a zone marked `departure: point_of_sale`
    LOCKER_PICKUP = "locker_pickup"  # left through an exit straight from a locker zone


@dataclass(frozen=True, slots=True)
class TagEvent:
    kind: TagEventKind
    epc: str
    gtin: str | None  # None for other EPC schemes and products not in the catalog
    zone: str  # where the tag is now; for a departure, where it was counted
    t: float  # agent seconds: read time for arrivals and moves, judgement time for departures
    from_zone: str | None = None
    reason: DepartReason | None = None


class ZoneStats:
    """Reads of one tag in one zone: mean RSSI in milliwatts over about the last N reads, and recency.

    Antennas of a zone share these statistics, so a tag never flips between antennas of one zone.
    """

    __slots__ = ("last", "mean_mw", "reads")

    def __init__(self, mean_mw: float, reads: int, last: float) -> None:
        self.mean_mw = mean_mw
        self.reads = reads  # reads in a row, none further apart than the zone window
        self.last = last


class TagRecord:
    """One EPC's state. `zone` is where it is counted; `last_zone` where it was read most recently."""

    __slots__ = (
        "departed_at",
        "gtin",
        "identity",
        "last_seen",
        "last_zone",
        "present",
        "prev_zone",
        "stats",
        "zone",
    )

    def __init__(self, identity: EpcIdentity, gtin: str | None, zone: str, seen: float) -> None:
        self.identity = identity
        self.gtin = gtin  # the product it counts as: None when not an SGTIN of the catalog
        self.zone = zone
        self.prev_zone: str | None = None
        self.last_zone = zone
        self.last_seen = seen
        self.present = True
        self.departed_at = 0.0
        self.stats: dict[str, ZoneStats] = {}
