"""`create_app(runtime)`: the REST API under /api/v1, health and metrics, and the dashboard's static files."""

from __future__ import annotations

import logging
from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from smartstore.gateway.api.docs import DOCS_URL, install_docs
from smartstore.gateway.api.errors import ErrorResponse, install_error_handlers
from smartstore.gateway.api.guard import ApiGuard
from smartstore.gateway.api.middleware import RequestContextMiddleware, RouteTemplates
from smartstore.gateway.api.routes import (
    alerts,
    cameras,
    dead_letters,
    devices,
    events,
    fulfilment,
    history,
    inventory,
    kiosk,
    kpis,
    lockers,
    movements,
    orders,
    picking,
    pickup_orders,
    planogram,
    stores,
    system,
    tasks,
    telemetry,
)
from smartstore.gateway.runtime import GatewayRuntime

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
# Package data of smartstore.dashboard, found without importing the dashboard as code.
DASHBOARD_DIR = Path(str(files("smartstore.dashboard") / "static"))


def create_app(runtime: GatewayRuntime, *, sse_heartbeat_s: float = events.DEFAULT_HEARTBEAT_S) -> FastAPI:
    """The API over `runtime`; the runtime's services are started by whoever runs it (`runtime.running()`)."""
    app = FastAPI(
        title="smartstore gateway",
        summary="Unified store inventory, shelf state, devices and alerts.",
        version="1",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,  # install_docs: Swagger UI from the package, not a CDN
        redoc_url=None,
    )
    app.state.runtime = runtime
    app.state.sse_heartbeat_s = sse_heartbeat_s
    install_error_handlers(app)
    install_docs(app, api_prefix=API_PREFIX)
    routes = RouteTemplates(
        lambda: [*app.openapi()["paths"], *(url for url in (app.openapi_url, DOCS_URL) if url)],
        prefixes=["/dashboard", "/kiosk"],
    )
    # Added last, so outermost: refusals by the guard get a request id and are counted too.
    app.add_middleware(
        ApiGuard,
        runtime=runtime,
        routes=routes,
        # Every route takes one small JSON document at most; a route that needs more is named here
        # (route template -> bytes). FastAPI's own max_body_size answers in plain text, not our JSON.
        body_max_bytes={},
        prefix=API_PREFIX,
        open_paths=[f"{API_PREFIX}/openapi.json"],
        query_key_paths=[f"{API_PREFIX}/events"],
    )
    app.add_middleware(RequestContextMiddleware, metrics=runtime.metrics, routes=routes)

    api = APIRouter(
        prefix=API_PREFIX,
        responses={
            401: {"model": ErrorResponse, "description": "Missing, unknown or revoked API key."},
            403: {"model": ErrorResponse, "description": "The key's role or store does not allow this."},
        },
    )
    for module in (stores, inventory, movements, devices, alerts, dead_letters, events):
        api.include_router(module.router)
    api.include_router(cameras.router)
    for module in (orders, fulfilment, picking, pickup_orders, lockers):
        api.include_router(module.router)
    api.include_router(kiosk.api_router)
    for module in (tasks, kpis, history, planogram, telemetry):  # the dashboard's data
        api.include_router(module.router)
    app.include_router(api)
    app.include_router(system.router)
    app.include_router(kiosk.router)  # the locker kiosk page, /kiosk/{store}/{locker}
    if DASHBOARD_DIR.is_dir():
        app.mount("/dashboard", StaticFiles(directory=DASHBOARD_DIR, html=True), name="dashboard")
    else:
        logger.warning("dashboard files not found at %s; /dashboard is not served", DASHBOARD_DIR)
    return app
