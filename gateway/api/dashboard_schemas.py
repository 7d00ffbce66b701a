"""Response models of the dashboard's routes: restock tasks, KPIs, history, planogram, RFID telemetry."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, get_type_hints

from pydantic import BaseModel, Field, create_model

from smartstore.gateway.api.schemas import UtcDatetime
from smartstore.gateway.restock.store import TaskView
from smartstore.kernel.contract.payloads import ShelfState

TaskStateName = Literal["open", "acknowledged", "resolved", "closed"]
TaskKindName = Literal["restock_from_backroom", "reorder"]


# The API's reading of restock's TaskView, field by field in its order: these fields it narrows and
# documents; the others keep the view's types. One list of fields, so the two cannot drift apart.
_TASK_FIELDS_NARROWED: dict[str, tuple[Any, Any]] = {
    "kind": (
        TaskKindName,
        Field(description="restock_from_backroom while units are counted in the backroom, else reorder."),
    ),
    "backroom": (int | None, Field(description="Units counted in backroom zones now.")),
    "slot_state": (Literal["empty", "low"], Field(description="The slot's latest empty/low state.")),
    "state": (TaskStateName, ...),
    "rank": (int | None, Field(None, description="1 = most urgent; null for closed tasks and live events.")),
    "opened_at": (UtcDatetime, Field(description="When the slot went empty or low.")),
    "updated_at": (UtcDatetime, ...),
    "acknowledged_at": (UtcDatetime | None, ...),
    "resolved_at": (UtcDatetime | None, ...),
    "closed_at": (UtcDatetime | None, ...),
    "closed_by": (str | None, Field(description="'camera' when the camera saw the slot ok again.")),
}


def _task_public() -> type[BaseModel]:
    view_fields = get_type_hints(TaskView)  # NotRequired dropped: rank is narrowed above anyway
    if unknown := _TASK_FIELDS_NARROWED.keys() - view_fields.keys():
        raise TypeError(f"TaskPublic narrows fields TaskView does not have: {sorted(unknown)}")
    fields: dict[str, Any] = {
        name: _TASK_FIELDS_NARROWED.get(name, (hint, ...)) for name, hint in view_fields.items()
    }
    return create_model("TaskPublic", __doc__="A restock task as the API returns it.", **fields)


if TYPE_CHECKING:

    class TaskPublic(BaseModel):
        """A restock task as the API returns it (its fields: restock's TaskView, see _task_public)."""

else:
    TaskPublic = _task_public()


class TaskList(BaseModel):
    items: list[TaskPublic]


class Kpis(BaseModel):
    store: str
    at: UtcDatetime
    osa: float | None = Field(
        description="On-shelf availability: (ok + low slots) / slots seen (ok + low + empty), 0..1; "
        "slots no camera reported yet are unknown, not empty; null while none was seen."
    )
    slots_planned: int
    slots_ok: int
    slots_low: int
    slots_empty: int
    slots_unknown: int
    open_oos_slots: int = Field(description="Slots the camera sees empty now.")
    open_tasks: int = Field(description="Restock tasks not closed yet.")
    mean_time_to_replenish_s: float | None = Field(
        description="Mean empty/low -> ok time of tasks the camera closed today (store time zone)."
    )
    replenished_today: int
    pickups_waiting: int | None = Field(description="Null while the gateway has no pickup orders.")
    pickups_overdue: int | None
    devices: int
    devices_offline: int


class OsaPoint(BaseModel):
    at: UtcDatetime
    osa: float | None
    ok: int
    low: int
    empty: int
    unknown: int


class OsaHistory(BaseModel):
    store: str
    points: list[OsaPoint] = Field(description="Samples oldest first; the last point is now.")


class OosPeriod(BaseModel):
    task: int
    slot: str
    gtin: str
    name: str | None
    slot_state: str
    opened_at: UtcDatetime
    closed_at: UtcDatetime | None
    duration_s: float
    live: bool


class OosHistory(BaseModel):
    store: str
    periods: list[OosPeriod] = Field(description="Longest first.")


class SlotPlan(BaseModel):
    id: str
    gtin: str
    name: str | None
    facings: int
    capacity: int
    polygon: list[list[float]] = Field(description="Outline in camera pixels.")
    state: ShelfState = Field(description="Camera-observed state; unknown when never observed.")
    fill: float | None
    stale: bool
    since: UtcDatetime | None = Field(description="When the slot entered its state.")
    updated_at: UtcDatetime | None


class ShelfPlan(BaseModel):
    id: str
    zone: str
    camera: str | None
    slots: list[SlotPlan]


class CameraPlan(BaseModel):
    id: str
    width: int
    height: int
    interval_s: float
    shelves: list[str]


class Planogram(BaseModel):
    store: str
    cameras: list[CameraPlan]
    shelves: list[ShelfPlan]


class ReaderTelemetry(BaseModel):
    reader: str
    agent: str
    online: bool
    reads_per_s: float
    unique_tags: int
    tags_in_zones: int
    read_ages: dict[str, int]
    clock_offset_s: float | None = None
    antennas_down: list[int] = []
    ts: UtcDatetime
    received_at: UtcDatetime
    series: list[tuple[UtcDatetime, float]] = Field(description="(ts, reads_per_s), oldest first.")


class RfidTelemetryPublic(BaseModel):
    store: str
    readers: list[ReaderTelemetry]
    rejected_reads: dict[str, int]
