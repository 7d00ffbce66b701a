"""Lockers: the compartments overview, a kiosk's pickup by code (throttled), compartment service."""

from __future__ import annotations

import logging
import math
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse

from smartstore.gateway.api.deps import RuntimeDep, SessionDep, StoreScope, require_store
from smartstore.gateway.api.errors import ApiError, ErrorResponse
from smartstore.gateway.api.locker_schemas import LockoutsLifted, PickupOpened, PickupRequest, ServiceRequest
from smartstore.gateway.api.routes.kiosk import open_for_customer
from smartstore.gateway.api.routes.pickup_orders import NO_STORE, LockerManager, order_error, publish, who
from smartstore.gateway.db.util import utc_now
from smartstore.gateway.lockers.code_entry import PickupAttempt, PickupResult, lift_lockouts, pickup_with_code
from smartstore.gateway.lockers.compartments import offline_lockers, set_service
from smartstore.gateway.lockers.lifecycle import OrderError, Outcome
from smartstore.gateway.lockers.view_models import CompartmentView, LockersOverview
from smartstore.gateway.lockers.views import locker_overview
from smartstore.gateway.security import Permission

logger = logging.getLogger(__name__)

router = APIRouter(tags=["lockers"])
KioskScope = Annotated[StoreScope, Depends(require_store(Permission.PICKUP_WITH_CODE))]
LockerId = Annotated[str, Path(max_length=64, description="Locker bank id, as in the store file.")]

# Refusals of a code: HTTP status, error code, message for people (the kiosk shows its own words).
_REFUSALS: dict[PickupResult, tuple[int, str, str]] = {
    PickupResult.WRONG: (401, "code_not_recognised", "code not recognised"),
    PickupResult.LOCKED: (423, "locked", "too many wrong codes; try again later or ask staff"),
    PickupResult.NOT_READY: (409, "order_not_ready", "the order is not in the locker yet"),
    PickupResult.USED: (409, "code_already_used", "this code has already opened its door"),
    PickupResult.EXPIRED: (410, "code_expired", "the order was not collected in time"),
}


# The overview and a compartment's view are answered as built (no response model re-orders them).
@router.get(
    "/stores/{store}/lockers",
    response_model=None,
    responses={403: {"model": ErrorResponse}, 404: {"model": ErrorResponse}},
    summary="Every compartment with its state and order; orders waiting and overdue",
)
def read_lockers(scope: LockerManager, session: SessionDep) -> LockersOverview:
    return locker_overview(session, scope.store, utc_now())


def _refusal(attempt: PickupAttempt) -> JSONResponse:
    status, code, message = _REFUSALS[attempt.result]
    extra: dict[str, Any] = {}
    headers = dict(NO_STORE)
    if attempt.tries_left is not None:
        extra["tries_left"] = attempt.tries_left
    if attempt.retry_after_s is not None:
        extra["retry_after_s"] = math.ceil(attempt.retry_after_s)
        headers["Retry-After"] = str(extra["retry_after_s"])
    error: dict[str, Any] = {"code": code, "message": message}
    if extra:
        error["details"] = [extra]
    # `tries_left` / `retry_after_s` also at the top level, where a kiosk page reads them.
    return JSONResponse({"error": error, **extra}, status_code=status, headers=headers)


@router.post(
    "/stores/{store}/lockers/{locker}/pickup",
    response_model=PickupOpened,
    responses={
        401: {"model": ErrorResponse, "description": "Code not recognised (`tries_left` says how many)."},
        409: {"model": ErrorResponse, "description": "Order not in the locker yet, or code used."},
        410: {"model": ErrorResponse, "description": "The order expired."},
        423: {"model": ErrorResponse, "description": "Locked after wrong codes (`retry_after_s`)."},
        503: {
            "model": ErrorResponse,
            "description": "No link to the locker (`locker_offline`: use its keypad), or the locker did not "
            "confirm the door opened (`door_not_confirmed`, `Retry-After`): the code works again.",
        },
    },
    summary="A customer's code at the locker's kiosk: opens the order's door",
)
def pickup(
    scope: KioskScope, runtime: RuntimeDep, session: SessionDep, locker: LockerId, body: PickupRequest
) -> JSONResponse:
    link = runtime.lockers
    if link is None or not link.connected or locker in offline_lockers(session, scope.store_id):
        raise ApiError(503, "locker_offline", "the locker cannot be reached from here; use its keypad")
    session.rollback()  # end the read transaction of that look before the code check
    try:
        attempt = pickup_with_code(
            session,
            scope.store,
            locker,
            body.code,
            by=who(scope),
            at=utc_now(),
            secret=link.secret,
            order_hint=body.order,
            source=f"{scope.principal.prefix}:{body.session}" if body.session else None,
        )
    except OrderError as error:
        session.rollback()
        raise order_error(error) from None
    session.commit()
    if attempt.result is not PickupResult.OPENED:
        runtime.metrics.pickup_code_refusals.labels(result=attempt.result.value).inc()
        publish(runtime, Outcome(None, attempt.events, attempt.lockers))
        return _refusal(attempt)
    return open_for_customer(runtime, session, scope.store, locker, attempt, who(scope))


@router.post(
    "/stores/{store}/lockers/{locker}/compartments/{compartment}/service",
    response_model=None,
    responses={403: {"model": ErrorResponse}, 404: {"model": ErrorResponse}},
    summary="Take a compartment in or out of service; clear what it was flagged for",
)
def service_compartment(
    scope: LockerManager,
    runtime: RuntimeDep,
    session: SessionDep,
    locker: LockerId,
    compartment: Annotated[str, Path(max_length=64)],
    body: ServiceRequest,
) -> CompartmentView:
    try:
        view = set_service(
            session,
            scope.store,
            locker,
            compartment,
            in_service=body.in_service,
            clear_attention=body.clear_attention,
            at=utc_now(),
        )
    except OrderError as error:
        session.rollback()
        raise order_error(error) from None
    session.commit()
    logger.info("%s set %s/%s: %s", who(scope), locker, compartment, body.model_dump(exclude_none=True))
    publish(runtime, Outcome(None, [("lockers", scope.store_id, view)]))
    return view


@router.post(
    "/stores/{store}/lockers/{locker}/lockouts/lift",
    response_model=LockoutsLifted,
    responses={403: {"model": ErrorResponse}, 404: {"model": ErrorResponse}},
    summary="Lift every pickup-code lockout of a locker bank (the bank, sessions, orders); audited",
)
def lift_locker_lockouts(
    scope: LockerManager, runtime: RuntimeDep, session: SessionDep, locker: LockerId
) -> LockoutsLifted:
    try:
        lifted = lift_lockouts(session, scope.store, locker, by=who(scope), at=utc_now())
    except OrderError as error:
        session.rollback()
        raise order_error(error) from None
    session.commit()
    publish(runtime, Outcome(None, lifted.events))
    return LockoutsLifted(locker=locker, lifted=lifted.lifted)
