"""The locker kiosk: its page at /kiosk/{store}/{locker}, the key check it starts with, its door opening."""

from __future__ import annotations

import logging
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy.orm import Session

from smartstore.gateway.api.deps import RuntimeDep, StoreScope, require_store
from smartstore.gateway.api.errors import ApiError, ErrorResponse
from smartstore.gateway.api.locker_schemas import PickupOpened
from smartstore.gateway.api.routes.pickup_orders import NO_STORE, publish
from smartstore.gateway.db.util import utc_now
from smartstore.gateway.lockers import domain
from smartstore.gateway.lockers.code_entry import PickupAttempt
from smartstore.gateway.lockers.lifecycle import Outcome
from smartstore.gateway.lockers.link import OpenAnswer
from smartstore.gateway.lockers.pickup_opens import give_back_if_unconfirmed
from smartstore.gateway.runtime import GatewayRuntime
from smartstore.gateway.security import Permission, Role
from smartstore.kernel.storeconfig import StoreConfig

logger = logging.getLogger(__name__)

# Package data of smartstore.dashboard, found without importing the dashboard as code.
KIOSK_DIR = Path(str(files("smartstore.dashboard") / "static" / "kiosk"))
VENDOR_DIR = KIOSK_DIR.parent / "vendor"
# name -> (folder, media type). The fonts: a subset of Noto Sans SC with the kiosk's Chinese strings.
ASSETS = {
    "kiosk.js": (KIOSK_DIR, "text/javascript"),
    "kiosk.css": (KIOSK_DIR, "text/css"),
    "noto-sans-sc-kiosk-400.woff": (VENDOR_DIR, "font/woff"),
    "noto-sans-sc-kiosk-700.woff": (VENDOR_DIR, "font/woff"),
}
# How long the kiosk waits for the locker to confirm the door opened (it acks within a second when
# it is there), and when the customer is told to try again: the code works again at once.
KIOSK_OPEN_WAIT_S = 8.0
RETRY_AFTER_S = 10
# The page and its code change with releases only; a kiosk must still pick them up after one.
NO_CACHE = {"Cache-Control": "no-cache"}

router = APIRouter(tags=["kiosk"], include_in_schema=False)
api_router = APIRouter(tags=["lockers"])
KioskScope = Annotated[StoreScope, Depends(require_store(Permission.PICKUP_WITH_CODE))]
LockerId = Annotated[str, PathParam(max_length=64, description="Locker bank id, as in the store file.")]


def _file(name: str, media_type: str, folder: Path = KIOSK_DIR) -> FileResponse:
    path = folder / name
    if not path.is_file():
        logger.error("kiosk file %s is missing", path)
        raise ApiError(404, "not_found", "the kiosk page is not installed")
    return FileResponse(path, media_type=media_type, headers=NO_CACHE)


# Declared before the page route: `/kiosk/assets/kiosk.js` must not be read as store "assets".
@router.get("/kiosk/assets/{name}")
def kiosk_asset(name: str) -> FileResponse:
    asset = ASSETS.get(name)
    if asset is None:
        raise ApiError(404, "not_found", f"no kiosk file {name!r}")
    folder, media_type = asset
    return _file(name, media_type, folder)


@router.get("/kiosk/{store}/{locker}")
def kiosk_page(store: str, locker: str, runtime: RuntimeDep) -> FileResponse:
    """The page itself holds no data: it asks for the kiosk key and talks to the API with it."""
    config = runtime.stores.get(store)
    if config is None or all(bank.id != locker for bank in config.devices.lockers):
        raise ApiError(404, "unknown_locker", f"no locker bank {locker!r} in store {store!r}")
    return _file("index.html", "text/html; charset=utf-8")


@api_router.get(
    "/stores/{store}/lockers/{locker}/kiosk",
    responses={403: {"model": ErrorResponse}, 404: {"model": ErrorResponse}},
    summary="What a kiosk page needs to start; only a kiosk key of the store gets it",
)
def kiosk_hello(scope: KioskScope, locker: LockerId) -> dict[str, Any]:
    # Admins may enter codes through the API, but the customer-facing page runs on kiosk keys only:
    # a stronger key left in a public screen's storage would be a gift.
    if scope.principal.role is not Role.KIOSK:
        raise ApiError(403, "kiosk_key_required", "the kiosk page needs a key with the kiosk role")
    bank = next((b for b in scope.store.devices.lockers if b.id == locker), None)
    if bank is None:
        raise ApiError(404, "unknown_locker", f"no locker bank {locker!r} in store {scope.store_id!r}")
    info = scope.store.store
    return {
        "store": scope.store_id,
        "store_name": info.name,
        "locker": bank.id,
        "compartments": len(bank.compartments),
        "max_wrong_codes": info.pickup_max_failures,
        "lockout_minutes": info.pickup_lockout_minutes,
    }


def open_for_customer(
    runtime: GatewayRuntime,
    session: Session,
    store: StoreConfig,
    locker: str,
    attempt: PickupAttempt,
    by: str,
) -> JSONResponse:
    """Open the door of a code just accepted (held, committed) and answer once the locker confirmed it.

    The code is used only if the door opened: when the command cannot be sent, the locker reports
    the door failed, or it says nothing within `KIOSK_OPEN_WAIT_S` (offline, command lost), the code
    works again, the order stays ready, and the customer is told to retry (503 + Retry-After).
    """
    assert runtime.lockers is not None
    assert attempt.order is not None
    assert attempt.compartment is not None
    assert attempt.request is not None
    order_id, request, store_id = attempt.order.id, attempt.request, store.store.id
    publish(runtime, Outcome(attempt.order, attempt.events, attempt.lockers))
    answer = runtime.lockers.open_and_wait(store_id, locker, attempt.compartment, request, KIOSK_OPEN_WAIT_S)
    if answer is OpenAnswer.OPENED:
        opened = PickupOpened(
            door=attempt.compartment,
            door_number=domain.door_number(attempt.compartment),
            order=order_id,
            locker=locker,
            request=request,
        )
        return JSONResponse(opened.model_dump(mode="json"), headers=NO_STORE)
    # A failed ack gave the code back already (the link, with the compartment's flag); else do it here.
    why = (
        "not sent: no broker link"
        if answer is OpenAnswer.NOT_SENT
        else f"none within {KIOSK_OPEN_WAIT_S:g} s"
    )
    session.rollback()
    outcome = give_back_if_unconfirmed(session, store, order_id, request, by=by, at=utc_now(), why=why)
    session.commit()
    if outcome is not None:
        publish(runtime, outcome)
    headers = NO_STORE | {"Retry-After": str(RETRY_AFTER_S)}
    if answer is OpenAnswer.NOT_SENT:
        raise ApiError(
            503, "locker_offline", "the locker cannot be reached from here; use its keypad", headers=headers
        )
    raise ApiError(
        503,
        "door_not_confirmed",
        "the locker did not confirm that the door opened; your code still works: try again",
        headers=headers,
        details=[
            {"order": order_id, "request": request, "answer": answer.value, "retry_after_s": RETRY_AFTER_S}
        ],
    )
