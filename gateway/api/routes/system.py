"""`/healthz` and `/metrics`: no key needed, so probes and Prometheus can scrape without secrets.

Neither exposes store data: health says whether the database and broker are reachable (and which stores
are served, but only to a caller presenting a valid key), metrics are counters and histograms whose labels
are route templates, message kinds and rejection reasons.
"""

from __future__ import annotations

import logging
import threading

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from smartstore.gateway.api.deps import RuntimeDep, presented_key
from smartstore.gateway.api.schemas import Health
from smartstore.gateway.runtime import GatewayRuntime
from smartstore.gateway.security import Principal, authenticate

logger = logging.getLogger(__name__)

router = APIRouter(tags=["system"])


def database_reachable(runtime: GatewayRuntime) -> bool:
    try:
        with runtime.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:
        logger.warning("health check: database unreachable", exc_info=True)
        return False
    return True


def caller(runtime: GatewayRuntime, request: Request) -> Principal | None:
    """The principal of a valid key, if the probe presented one; None otherwise (never an error)."""
    presented = presented_key(request.headers)
    if presented is None:
        return None
    try:
        with runtime.sessions() as session:
            return authenticate(session, presented)
    except SQLAlchemyError:
        return None  # database_reachable() reports it


def mqtt_connected(runtime: GatewayRuntime) -> bool | None:
    """The consumer's broker link if the runtime has one; None when it cannot be told."""
    consumer = getattr(runtime, "consumer", None)
    if consumer is None:
        return None
    for holder in (consumer, getattr(consumer, "link", None)):
        flag = getattr(holder, "connected", None)
        try:
            if isinstance(flag, threading.Event):
                return flag.is_set()
            if isinstance(flag, bool):
                return flag
            if callable(flag):
                return bool(flag())
        except Exception:
            logger.warning("health check: cannot read the MQTT link state", exc_info=True)
            return None
    return None


@router.get(
    "/healthz",
    response_model=Health,
    responses={503: {"model": Health, "description": "Database unreachable or broker link down."}},
    summary="Liveness and readiness: database reachable, broker connected",
)
def healthz(runtime: RuntimeDep, request: Request) -> JSONResponse:
    database = database_reachable(runtime)
    principal = caller(runtime, request) if database else None
    mqtt = mqtt_connected(runtime)
    healthy = database and mqtt is not False
    health = Health(
        status="ok" if healthy else "degraded",
        database=database,
        mqtt=mqtt,
        stores=None if principal is None else sorted(filter(principal.can_access, runtime.stores)),
        sse_clients=runtime.bus.subscriber_count,
    )
    return JSONResponse(health.model_dump(), status_code=200 if healthy else 503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format."}},
    summary="Prometheus metrics of this gateway",
)
def metrics(runtime: RuntimeDep) -> Response:
    return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)
