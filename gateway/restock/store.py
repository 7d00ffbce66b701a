"""Restock tasks in the database: applied in the ingest's transaction, moved along by the API."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, NotRequired, TypedDict

from sqlalchemy import select
from sqlalchemy.orm import Session

from smartstore.gateway.db.models import Inventory, SlotState
from smartstore.gateway.db.restock import RestockTask
from smartstore.gateway.db.util import as_utc, begin_write
from smartstore.gateway.restock import domain as rules
from smartstore.kernel.storeconfig import StoreConfig

logger = logging.getLogger(__name__)

Event = tuple[str, str | None, Mapping[str, Any]]  # bus (type, store, data)
BackroomLookup = Callable[[str, str], int]  # (store, gtin) -> units counted in backroom zones
EVENT_TYPE = "tasks"


class TaskView(TypedDict):
    """A restock task as the bus carries it and the API reads it (times as ISO text, in ms)."""

    id: int
    store: str
    slot: str
    shelf: str | None
    camera: str
    gtin: str
    name: str | None
    kind: str
    backroom: int | None
    slot_state: str
    state: str
    rank: NotRequired[int | None]  # in lists only: 1 = most urgent, None for closed tasks
    opened_at: str
    updated_at: str
    acknowledged_at: str | None
    acknowledged_by: str | None
    resolved_at: str | None
    resolved_by: str | None
    closed_at: str | None
    closed_by: str | None
    history: list[dict[str, Any]]


def _iso_ms(value: datetime) -> str:
    # Milliseconds: browsers parse them exactly, and the page measures latency against updated_at.
    return as_utc(value).isoformat(timespec="milliseconds")


def _iso(value: datetime | None) -> str | None:
    return None if value is None else _iso_ms(value)


def _append(task: RestockTask, at: datetime, event: str, **details: Any) -> None:
    # A new list: the JSON column only notices reassignment.
    task.history = [*(task.history or []), {"at": _iso(at), "event": event, **details}]


def _live_tasks(session: Session, store_id: str, slots: Iterable[str]) -> dict[str, RestockTask]:
    query = (
        select(RestockTask)
        .where(RestockTask.store_id == store_id, RestockTask.live_slot.in_(sorted(set(slots))))
        .with_for_update()
    )
    return {task.slot_id: task for task in session.scalars(query)}


def apply_slot_changes(
    session: Session,
    stores: Mapping[str, StoreConfig],
    changes: Sequence[rules.SlotChange],
    backroom: BackroomLookup,
    now: datetime,
) -> list[Event]:
    """Open, escalate or close the slots' live tasks in the caller's transaction; the bus events.

    The caller holds the write lock (the ingest writer does; see dbutil.begin_write).
    """
    if not changes:
        return []
    live: dict[tuple[str, str], RestockTask] = {}
    for store_id in {change.store for change in changes}:
        slots = [change.slot for change in changes if change.store == store_id]
        live.update(((store_id, slot), task) for slot, task in _live_tasks(session, store_id, slots).items())
    touched: dict[int, tuple[RestockTask, str]] = {}
    for change in changes:
        key = (change.store, change.slot)
        task = live.get(key)
        action = rules.decide(change, task.slot_state if task is not None else None)
        if action is rules.Action.OPEN:
            kind = rules.task_kind(backroom(change.store, change.gtin)).value
            task = RestockTask(
                store_id=change.store,
                slot_id=change.slot,
                gtin=change.gtin,
                camera_id=change.camera,
                kind=kind,
                slot_state=change.after,
                state=rules.TaskState.OPEN.value,
                opened_at=change.at,
                updated_at=now,
                live_slot=change.slot,
                history=[
                    {"at": _iso(change.at), "event": "opened", "slot_state": change.after, "kind": kind}
                ],
            )
            session.add(task)
            session.flush()  # the id, and the live slot taken before a later change in this batch
            live[key] = task
            logger.info(
                "restock task %d opened: %s %s is %s", task.id, change.store, change.slot, change.after
            )
        elif action is rules.Action.ESCALATE and task is not None:
            task.slot_state = change.after
            task.updated_at = now
            _append(task, change.at, "slot_state", slot_state=change.after)
        elif action is rules.Action.CLOSE and task is not None:
            _close(task, change.at, now)
            session.flush()  # frees the live slot for a task opened later in this batch
            del live[key]
        else:
            continue
        touched[task.id] = (task, change.store)
    views: list[Event] = []
    for task, store_id in touched.values():
        config = stores.get(store_id)
        views.append((EVENT_TYPE, store_id, task_view(task, config, backroom(store_id, task.gtin))))
    return views


def _close(task: RestockTask, at: datetime, now: datetime) -> None:
    task.state = rules.TaskState.CLOSED.value
    task.closed_at = at
    task.closed_by = rules.CAMERA
    task.live_slot = None
    task.updated_at = now
    _append(task, at, "closed", by=rules.CAMERA)
    logger.info("restock task %d closed: the camera sees %s ok", task.id, task.slot_id)


def _task_for_update(session: Session, task_id: int) -> RestockTask:
    begin_write(session)
    task = session.get(RestockTask, task_id, with_for_update=True, populate_existing=True)
    if task is None:
        raise LookupError(f"no restock task {task_id}")
    return task


def acknowledge_task(session: Session, task_id: int, *, by: str, at: datetime) -> RestockTask:
    """A manager takes the task on; LookupError if unknown, TaskConflictError once resolved or closed."""
    task = _task_for_update(session, task_id)
    state = rules.acknowledged(task.state)
    if state.value != task.state:
        task.state = state.value
        task.acknowledged_at = at
        task.acknowledged_by = by
        task.updated_at = at
        _append(task, at, "acknowledged", by=by)
        session.flush()
    return task


def resolve_task(session: Session, task_id: int, *, by: str, at: datetime) -> RestockTask:
    """An associate says the slot is refilled; the task closes when the camera agrees."""
    task = _task_for_update(session, task_id)
    state = rules.resolved(task.state)
    if task.resolved_at is None:
        task.state = state.value
        task.resolved_at = at
        task.resolved_by = by
        task.updated_at = at
        _append(task, at, "resolved", by=by)
        session.flush()
    return task


def backroom_units(session: Session, store_id: str, gtins: Iterable[str]) -> dict[str, int]:
    wanted = sorted(set(gtins))
    if not wanted:
        return {}
    query = select(Inventory.gtin, Inventory.backroom).where(
        Inventory.store_id == store_id, Inventory.gtin.in_(wanted)
    )
    return {gtin: units for gtin, units in session.execute(query)}


def list_tasks(
    session: Session, config: StoreConfig, states: Sequence[str] | None = None, limit: int = 200
) -> list[TaskView]:
    """A store's tasks in the given states (default: the live ones), most urgent first."""
    wanted = list(states) if states else [state.value for state in rules.LIVE_STATES]
    query = select(RestockTask).where(RestockTask.store_id == config.store.id, RestockTask.state.in_(wanted))
    # Closed tasks pile up: the newest first, the way a history reads; live ones are few.
    query = query.order_by(RestockTask.closed_at.desc().nulls_first(), RestockTask.id.desc())
    tasks = list(session.scalars(query.limit(limit)))
    stock = backroom_units(session, config.store.id, (task.gtin for task in tasks))
    views = [task_view(task, config, stock.get(task.gtin, 0)) for task in tasks]
    live = [view for view in views if view["state"] != rules.TaskState.CLOSED.value]
    live.sort(key=lambda v: rules.rank_key(v["state"], v["slot_state"], v["kind"], v["opened_at"]))
    for rank, view in enumerate(live, start=1):
        view["rank"] = rank
    closed = [view for view in views if view["state"] == rules.TaskState.CLOSED.value]
    for view in closed:
        view["rank"] = None
    return live + closed


def task_view(task: RestockTask, config: StoreConfig | None, backroom: int | None) -> TaskView:
    """The task as the API and the live stream show it; a live task's kind follows the stock now."""
    live = task.state != rules.TaskState.CLOSED.value
    kind = rules.task_kind(backroom).value if live and backroom is not None else task.kind
    product = config.products.get(task.gtin) if config is not None else None
    placed = config.slots.get(task.slot_id) if config is not None else None
    return {
        "id": task.id,
        "store": task.store_id,
        "slot": task.slot_id,
        "shelf": placed[0].id if placed else None,
        "camera": task.camera_id,
        "gtin": task.gtin,
        "name": product.name if product else None,
        "kind": kind,
        "backroom": backroom,
        "slot_state": task.slot_state,
        "state": task.state,
        "opened_at": _iso_ms(task.opened_at),
        "updated_at": _iso_ms(task.updated_at),
        "acknowledged_at": _iso(task.acknowledged_at),
        "acknowledged_by": task.acknowledged_by,
        "resolved_at": _iso(task.resolved_at),
        "resolved_by": task.resolved_by,
        "closed_at": _iso(task.closed_at),
        "closed_by": task.closed_by,
        "history": list(task.history or []),
    }


def reconcile(session: Session, config: StoreConfig, now: datetime) -> list[Event]:
    """Bring tasks in line with the slot states held (at start-up: tables older than the tasks, or
    slots changed while no task logic ran); the caller commits."""
    begin_write(session)
    store_id = config.store.id
    slots = list(session.scalars(select(SlotState).where(SlotState.store_id == store_id)))
    live = {
        task.slot_id
        for task in session.scalars(
            select(RestockTask).where(RestockTask.store_id == store_id, RestockTask.live_slot.is_not(None))
        )
    }
    changes = [
        rules.SlotChange(store_id, s.slot_id, s.gtin, s.camera_id, None, s.state, as_utc(s.since))
        for s in slots
        if not s.stale
        and (
            (s.state in rules.NEEDS_TASK and s.slot_id not in live)
            or (s.state not in rules.NEEDS_TASK and s.slot_id in live)
        )
    ]
    stock = backroom_units(session, store_id, (change.gtin for change in changes))
    return apply_slot_changes(
        session, {store_id: config}, changes, lambda _store, gtin: stock.get(gtin, 0), now
    )
