"""Pure pickup slots: a store's opening hours cut into slots of `slot_minutes`, in its local time.

A slot is named by its start (an aware UTC instant). Each pickup point has its own capacity per slot:
the counter (`counter_slot_capacity`) and the store's locker banks together
(`locker_slot_capacity` per bank). An order takes one place of its slot when it is placed and gives
it back if it is cancelled before its slot.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from smartstore.gateway.lockers.states import FulfilmentType
from smartstore.kernel.storeconfig import StoreConfig

COUNTER = "counter"
LOCKERS = "lockers"


class SlotError(ValueError):
    """A slot the store does not offer (outside hours, misaligned, past, too far ahead)."""


def point_for(fulfilment: FulfilmentType) -> str | None:
    """Where a fulfilment is handed over in a slot; None when it takes no slot (delivery, ship)."""
    if fulfilment is FulfilmentType.COUNTER_PICKUP:
        return COUNTER
    if fulfilment is FulfilmentType.LOCKER_PICKUP:
        return LOCKERS
    return None


def capacity(store: StoreConfig, point: str) -> int:
    fulfilment = store.store.fulfilment
    if point == COUNTER:
        return fulfilment.counter_slot_capacity
    return fulfilment.locker_slot_capacity * len(store.devices.lockers)


def _clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def day_slots(store: StoreConfig, day: date) -> Iterator[tuple[datetime, datetime]]:
    """(start, end) of each slot of a local day, as UTC instants; the last ends at closing time."""
    fulfilment = store.store.fulfilment
    zone = ZoneInfo(store.store.timezone)
    start = datetime.combine(day, _clock(fulfilment.opens), zone)
    close = datetime.combine(day, _clock(fulfilment.closes), zone)
    length = timedelta(minutes=fulfilment.slot_minutes)
    while start < close:
        end = min(start + length, close)
        yield start.astimezone(ZoneInfo("UTC")), end.astimezone(ZoneInfo("UTC"))
        start += length


def bookable(store: StoreConfig, now: datetime) -> Iterator[tuple[datetime, datetime]]:
    """Every slot an order placed `now` may take: starting after the picking time, within the horizon."""
    fulfilment = store.store.fulfilment
    earliest = now + timedelta(minutes=fulfilment.pick_minutes)
    today = now.astimezone(ZoneInfo(store.store.timezone)).date()
    for offset in range(fulfilment.slot_days_ahead + 1):
        for start, end in day_slots(store, today + timedelta(days=offset)):
            if start >= earliest:
                yield start, end


def check_slot(store: StoreConfig, start: datetime, now: datetime) -> datetime:
    """The end of the slot starting at `start`; SlotError when the store offers no such slot now."""
    for candidate, end in bookable(store, now):
        if candidate == start:
            return end
        if candidate > start:
            break
    raise SlotError(
        f"store {store.store.id} offers no bookable slot starting {start.isoformat()} "
        f"(slots of {store.store.fulfilment.slot_minutes} min from {store.store.fulfilment.opens} to "
        f"{store.store.fulfilment.closes} {store.store.timezone}, from "
        f"{store.store.fulfilment.pick_minutes} min after ordering)"
    )
