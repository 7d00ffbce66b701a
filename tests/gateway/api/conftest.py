"""REST API fixtures: a synced runtime on a real database (two stores), keys per role, live server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from api_helpers import BERLIN, HAMBURG, SECOND_STORE, Keys, wait_until
from fastapi import FastAPI
from fastapi.testclient import TestClient

from smartstore.gateway.api.app import create_app
from smartstore.gateway.config import GatewaySettings
from smartstore.gateway.inventory.catalog import sync_stores
from smartstore.gateway.runtime import GatewayRuntime
from smartstore.gateway.security import Role, create_api_key
from smartstore.kernel.mqtt import MqttSettings
from smartstore.kernel.storeconfig import EXAMPLE_STORE
from smartstore.launcher.broker import free_port


@pytest.fixture
def api_runtime(db_url: str, tmp_path: Path) -> Iterator[GatewayRuntime]:
    """A runtime serving the example store and a tiny second store, synced into a fresh database."""
    second = tmp_path / "hamburg.yaml"
    second.write_text(SECOND_STORE)
    settings = GatewaySettings(
        db_url=db_url, stores=[EXAMPLE_STORE, second], mqtt=MqttSettings(url="mqtt://127.0.0.1:1")
    )
    runtime = GatewayRuntime.build(settings)
    sync_stores(runtime.sessions, runtime.stores)
    yield runtime
    runtime.engine.dispose()


@pytest.fixture
def keys(api_runtime: GatewayRuntime) -> Keys:
    sessions = api_runtime.sessions
    return Keys(
        admin=create_api_key(sessions, Role.ADMIN, "ops"),
        manager=create_api_key(sessions, Role.MANAGER, "berlin manager", store_id=BERLIN),
        integrator=create_api_key(sessions, Role.INTEGRATOR, "erp"),
        kiosk=create_api_key(sessions, Role.KIOSK, "kiosk 1", store_id=BERLIN),
        hamburg_manager=create_api_key(sessions, Role.MANAGER, "hamburg manager", store_id=HAMBURG),
        hamburg_integrator=create_api_key(sessions, Role.INTEGRATOR, "hamburg erp", store_id=HAMBURG),
    )


@pytest.fixture
def app(api_runtime: GatewayRuntime) -> FastAPI:
    return create_app(api_runtime, sse_heartbeat_s=0.3)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def live_server(app: FastAPI) -> Iterator[str]:
    """The app behind a real uvicorn on a free port, for streams and truly concurrent requests."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="api-server", daemon=True)
    thread.start()
    wait_until(lambda: server.started, what="uvicorn to start")
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=5)
