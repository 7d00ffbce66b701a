"""FastAPI dependencies: the runtime, a DB session, the calling key and its rights on a store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, cast

from fastapi import Depends, Query, Request
from fastapi import Path as PathParam
from sqlalchemy.orm import Session
from starlette.datastructures import Headers, QueryParams

from smartstore.gateway.api.errors import ApiError
from smartstore.gateway.runtime import GatewayRuntime
from smartstore.gateway.security import Permission, Principal, authenticate
from smartstore.kernel.storeconfig import StoreConfig


def get_runtime(request: Request) -> GatewayRuntime:
    return cast(GatewayRuntime, request.app.state.runtime)


RuntimeDep = Annotated[GatewayRuntime, Depends(get_runtime)]


def get_session(runtime: RuntimeDep) -> Iterator[Session]:
    with runtime.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


# PostgreSQL's INTEGER: ids, offsets and counts beyond it are refused (422), never sent to the database.
DB_INT_MAX = 2**31 - 1
Offset = Annotated[int, Query(ge=0, le=DB_INT_MAX, description="Rows to skip.")]
RowId = Annotated[int, PathParam(ge=1, le=DB_INT_MAX)]

CHALLENGE = {"WWW-Authenticate": "Bearer"}


def presented_key(headers: Headers, query: QueryParams | None = None) -> str | None:
    """The key from `Authorization: Bearer`, `X-API-Key` or, where `query` is given (streams), `?key=`."""
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if header := headers.get("x-api-key", "").strip():
        return header
    if query is not None and (from_query := query.get("key", "").strip()):
        return from_query
    return None


def missing_key_error(*, allow_query: bool) -> ApiError:
    where = "Authorization: Bearer <key>, X-API-Key" + (" or ?key=" if allow_query else "")
    return ApiError(401, "missing_api_key", f"an API key is required ({where})", headers=CHALLENGE)


def invalid_key_error() -> ApiError:
    return ApiError(401, "invalid_api_key", "the API key is unknown, revoked or malformed", headers=CHALLENGE)


def store_forbidden_error(principal: Principal) -> ApiError:
    if principal.store_id is None:  # a store-less kiosk key (security.Principal.can_access)
        return ApiError(
            403, "store_forbidden", "this kiosk key is bound to no store; create one with --store"
        )
    return ApiError(403, "store_forbidden", f"this key is limited to store {principal.store_id!r}")


def _authenticated(request: Request, runtime: GatewayRuntime, *, allow_query: bool) -> Principal:
    # ApiGuard checked the key before the body was read; without it (an app built otherwise), check here.
    checked = getattr(request.state, "principal", None)
    if isinstance(checked, Principal):
        return checked
    presented = presented_key(request.headers, request.query_params if allow_query else None)
    if presented is None:
        raise missing_key_error(allow_query=allow_query)
    # A short session of its own: an SSE stream must not hold a connection for its whole life.
    with runtime.sessions() as session:
        principal = authenticate(session, presented)
    if principal is None:
        raise invalid_key_error()
    return principal


def authorize(
    request: Request, runtime: GatewayRuntime, permission: Permission, *, allow_query: bool
) -> Principal:
    """The caller's principal: 401 without a valid key, 403 when its role lacks `permission`."""
    principal = _authenticated(request, runtime, allow_query=allow_query)
    if not principal.can(permission):
        raise ApiError(403, "forbidden", f"role {principal.role.value!r} may not {permission.value}")
    return principal


# The dependencies below are closures, so their annotations may only name module-level objects:
# FastAPI resolves the (postponed) annotations in the module's namespace.


def require(permission: Permission, *, allow_query_key: bool = False) -> Callable[..., Principal]:
    def dependency(request: Request, runtime: RuntimeDep) -> Principal:
        return authorize(request, runtime, permission, allow_query=allow_query_key)

    return dependency


@dataclass(frozen=True, slots=True)
class StoreScope:
    """A caller allowed on one store, with that store's configuration."""

    principal: Principal
    store: StoreConfig

    @property
    def store_id(self) -> str:
        return self.store.store.id


def check_store(principal: Principal, runtime: GatewayRuntime, store_id: str) -> StoreConfig:
    # Access first, existence second: a store-bound key learns nothing about other store ids.
    if not principal.can_access(store_id):
        raise store_forbidden_error(principal)
    config = runtime.stores.get(store_id)
    if config is None:
        raise ApiError(404, "unknown_store", f"no store {store_id!r} on this gateway")
    return config


def require_store(permission: Permission) -> Callable[..., StoreScope]:
    """`require(permission)` plus the `{store}` path parameter: 403 for another store, 404 if unknown."""

    def dependency(
        store: Annotated[str, PathParam(description="Store id, as in its store file.")],
        request: Request,
        runtime: RuntimeDep,
    ) -> StoreScope:
        principal = authorize(request, runtime, permission, allow_query=False)
        return StoreScope(principal, check_store(principal, runtime, store))

    return dependency


StoresReader = Annotated[Principal, Depends(require(Permission.READ_STORES))]
InventoryReader = Annotated[Principal, Depends(require(Permission.READ_INVENTORY))]
StoreInventoryReader = Annotated[StoreScope, Depends(require_store(Permission.READ_INVENTORY))]
StoreMovementPoster = Annotated[StoreScope, Depends(require_store(Permission.POST_MOVEMENTS))]
StoreDevicesReader = Annotated[StoreScope, Depends(require_store(Permission.READ_DEVICES))]
StoreAlertsReader = Annotated[StoreScope, Depends(require_store(Permission.READ_ALERTS))]
AlertManager = Annotated[Principal, Depends(require(Permission.MANAGE_ALERTS))]
DeadLetterReader = Annotated[Principal, Depends(require(Permission.READ_DEAD_LETTERS))]
EventsReader = Annotated[Principal, Depends(require(Permission.READ_EVENTS, allow_query_key=True))]
StoreDashboardReader = Annotated[StoreScope, Depends(require_store(Permission.READ_DASHBOARD))]
TaskManager = Annotated[Principal, Depends(require(Permission.MANAGE_TASKS))]
