"""Store-side fulfilment of any order: pick, stage (a handover code), hand over at the counter, ship;
and the courier's or carrier's word that it was delivered."""

from __future__ import annotations

import logging
import math
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from smartstore.gateway.api.deps import RuntimeDep, SessionDep, StoreScope, require, require_store
from smartstore.gateway.api.errors import ApiError, ErrorResponse
from smartstore.gateway.api.fulfilment_schemas import HandoverRequest, ShipRequest, StageResult
from smartstore.gateway.api.locker_schemas import PickupOrderPublic
from smartstore.gateway.api.routes.pickup_orders import (
    NO_STORE,
    detail,
    move_order,
    order_error,
    publish,
    who,
)
from smartstore.gateway.db.util import utc_now
from smartstore.gateway.lockers.lifecycle import OrderError, start_picking
from smartstore.gateway.lockers.view_models import OrderView
from smartstore.gateway.orders import handover
from smartstore.gateway.security import Permission, Principal
from smartstore.kernel import pickup_codes

logger = logging.getLogger(__name__)

router = APIRouter(tags=["orders"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"model": ErrorResponse},
    404: {"model": ErrorResponse},
    409: {"model": ErrorResponse, "description": "Not allowed for the order's way of fulfilling or state."},
}
Fulfiller = Annotated[StoreScope, Depends(require_store(Permission.FULFIL_ORDERS))]
DeliveryReporter = Annotated[Principal, Depends(require(Permission.REPORT_DELIVERY))]
STORE_ORDER = "/stores/{store}/orders/{order}"


@router.post(
    f"{STORE_ORDER}/pick",
    response_model=PickupOrderPublic,
    responses=_ERRORS,
    summary="An associate starts picking an order of any kind (reserved -> picking)",
)
def pick(scope: Fulfiller, runtime: RuntimeDep, session: SessionDep, order: str) -> OrderView:
    return move_order(
        session, runtime, lambda: start_picking(session, scope.store, order, by=who(scope), at=utc_now())
    )


@router.post(
    f"{STORE_ORDER}/stage",
    response_model=StageResult,
    responses=_ERRORS,
    summary="Stage a counter pickup, delivery or parcel (picking -> staged); issues the handover code once",
)
def stage(scope: Fulfiller, runtime: RuntimeDep, session: SessionDep, order: str) -> JSONResponse:
    try:
        staging = handover.stage_order(session, scope.store, order, by=who(scope), at=utc_now())
    except OrderError as error:
        session.rollback()
        raise order_error(error) from None
    assert staging.outcome.order is not None
    view = detail(session, staging.outcome.order)
    session.commit()
    publish(runtime, staging.outcome)
    result = StageResult(
        order=PickupOrderPublic.model_validate(view),
        code=staging.code,
        qr=pickup_codes.qr_payload(staging.code) if staging.code else None,
        code_for=staging.code_for,
    )
    # The code is in this answer and nowhere else: no cache may keep it.
    return JSONResponse(result.model_dump(mode="json", by_alias=True), headers=NO_STORE)


@router.post(
    f"{STORE_ORDER}/handover",
    response_model=PickupOrderPublic,
    responses={
        **_ERRORS,
        409: {
            "model": ErrorResponse,
            "description": "`already_handed_over`, `not_staged`, or not a counter pickup or delivery.",
        },
        422: {"model": ErrorResponse, "description": "`wrong_code` (`tries_left` says how many remain)."},
        429: {"model": ErrorResponse, "description": "`locked` after wrong codes (`Retry-After`)."},
    },
    summary="Hand a staged order over at the counter to the customer or courier showing its code",
)
def hand_over(
    scope: Fulfiller, runtime: RuntimeDep, session: SessionDep, order: str, body: HandoverRequest
) -> JSONResponse:
    session.rollback()  # no read transaction left open before the code check takes its locks
    try:
        attempt = handover.hand_over(session, scope.store, order, body.code, by=who(scope), at=utc_now())
    except OrderError as error:
        session.rollback()
        raise order_error(error) from None
    view = detail(session, attempt.outcome.order) if attempt.outcome.order is not None else None
    session.commit()  # a wrong code's count is kept too
    if attempt.result is not handover.HandoverResult.HANDED_OVER:
        raise _refusal(attempt)
    publish(runtime, attempt.outcome)
    content = PickupOrderPublic.model_validate(view).model_dump(mode="json", by_alias=True)
    return JSONResponse(content, headers=NO_STORE)


def _refusal(attempt: handover.Handover) -> ApiError:
    extra: dict[str, Any] = {"tries_left": attempt.tries_left}
    headers = dict(NO_STORE)
    if attempt.retry_after_s is not None:
        extra["retry_after_s"] = math.ceil(attempt.retry_after_s)
        headers["Retry-After"] = str(extra["retry_after_s"])
    if attempt.result is handover.HandoverResult.LOCKED:
        message = "too many wrong codes for this order; try again later"
        return ApiError(429, "locked", message, headers=headers, details=[extra])
    message = f"that is not this order's code ({attempt.tries_left} tries left)"
    return ApiError(422, "wrong_code", message, headers=headers, details=[extra])


@router.post(
    f"{STORE_ORDER}/ship",
    response_model=PickupOrderPublic,
    responses=_ERRORS,
    summary="A staged parcel left with its carrier (staged -> shipped); the stock is taken",
)
def ship(
    scope: Fulfiller, runtime: RuntimeDep, session: SessionDep, order: str, body: ShipRequest
) -> OrderView:
    return move_order(
        session,
        runtime,
        lambda: handover.ship_order(
            session,
            scope.store,
            order,
            carrier=body.carrier,
            tracking=body.tracking,
            by=who(scope),
            at=utc_now(),
        ),
    )


@router.post(
    "/orders/{order}/fulfilments/{fulfilment}/delivered",
    response_model=PickupOrderPublic,
    responses=_ERRORS,
    summary="The courier or carrier delivered a fulfilment (handed_to_courier | shipped -> delivered); "
    "reporting it again changes nothing",
)
def delivered(
    principal: DeliveryReporter, runtime: RuntimeDep, session: SessionDep, order: str, fulfilment: str
) -> OrderView:
    by = f"{principal.name} ({principal.prefix})"[:100]
    try:
        outcome, changed = handover.mark_delivered(
            session, order, fulfilment, visible=principal.can_access, by=by, at=utc_now()
        )
    except OrderError as error:
        session.rollback()
        raise order_error(error) from None
    assert outcome.order is not None
    view = detail(session, outcome.order)
    session.commit()
    if changed:
        publish(runtime, outcome)
    return view
