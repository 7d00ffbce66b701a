"""Restock tasks: a store's list (most urgent first), acknowledge (manager) and resolve (associate)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy.orm import Session

from smartstore.gateway.api.dashboard_schemas import TaskList, TaskPublic, TaskStateName
from smartstore.gateway.api.deps import (
    RowId,
    RuntimeDep,
    SessionDep,
    StoreDashboardReader,
    TaskManager,
    check_store,
)
from smartstore.gateway.api.errors import ApiError, ErrorResponse
from smartstore.gateway.db.restock import RestockTask
from smartstore.gateway.db.util import utc_now
from smartstore.gateway.restock import domain as rules
from smartstore.gateway.restock.store import (
    EVENT_TYPE,
    acknowledge_task,
    backroom_units,
    list_tasks,
    resolve_task,
    task_view,
)
from smartstore.gateway.runtime import GatewayRuntime
from smartstore.gateway.security import Principal

router = APIRouter(tags=["tasks"])
_ERRORS: dict[int | str, dict[str, object]] = {
    403: {"model": ErrorResponse},
    404: {"model": ErrorResponse},
    409: {"model": ErrorResponse},
}
Step = Callable[..., RestockTask]


@router.get(
    "/stores/{store}/tasks",
    response_model=TaskList,
    summary="A store's restock tasks, most urgent first (default: those not closed)",
)
def get_tasks(
    scope: StoreDashboardReader,
    session: SessionDep,
    state: Annotated[list[TaskStateName] | None, Query(description="Only these states (repeatable).")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> TaskList:
    items = list_tasks(session, scope.store, state, limit)
    return TaskList(items=[TaskPublic.model_validate(item) for item in items])


def _step(
    session: Session, runtime: GatewayRuntime, principal: Principal, task_id: int, step: Step
) -> TaskPublic:
    task = session.get(RestockTask, task_id)
    if task is None:
        raise ApiError(404, "unknown_task", f"no restock task {task_id}")
    config = check_store(principal, runtime, task.store_id)
    try:
        task = step(session, task_id, by=principal.name, at=utc_now())
    except LookupError as error:
        session.rollback()
        raise ApiError(404, "unknown_task", str(error)) from None
    except rules.TaskConflictError as error:
        session.rollback()
        raise ApiError(409, "task_conflict", str(error)) from None
    session.commit()
    view = task_view(task, config, backroom_units(session, task.store_id, [task.gtin]).get(task.gtin))
    runtime.bus.publish(EVENT_TYPE, task.store_id, view)
    return TaskPublic.model_validate(view)


@router.post(
    "/tasks/{task_id}/acknowledge",
    response_model=TaskPublic,
    responses=_ERRORS,
    summary="A manager takes an open task on (again: no change)",
)
def acknowledge(
    principal: TaskManager, runtime: RuntimeDep, session: SessionDep, task_id: RowId
) -> TaskPublic:
    return _step(session, runtime, principal, task_id, acknowledge_task)


@router.post(
    "/tasks/{task_id}/resolve",
    response_model=TaskPublic,
    responses=_ERRORS,
    summary="An associate says the slot is refilled; the camera closes the task when it agrees",
)
def resolve(principal: TaskManager, runtime: RuntimeDep, session: SessionDep, task_id: RowId) -> TaskPublic:
    return _step(session, runtime, principal, task_id, resolve_task)
