"""`/stores`: the stores this gateway serves, with catalog, device and open-alert counts."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import func, select

from smartstore.gateway.api.deps import RuntimeDep, SessionDep, StoresReader
from smartstore.gateway.api.routes.devices import store_devices
from smartstore.gateway.api.schemas import StorePublic
from smartstore.gateway.db.models import Alert, Product

router = APIRouter(prefix="/stores", tags=["stores"])


@router.get("", response_model=list[StorePublic], summary="Stores served by this gateway")
def list_stores(principal: StoresReader, runtime: RuntimeDep, session: SessionDep) -> list[StorePublic]:
    visible = [
        config for store_id, config in sorted(runtime.stores.items()) if principal.can_access(store_id)
    ]
    ids = [config.store.id for config in visible]
    products_query = (
        select(Product.store_id, func.count()).where(Product.store_id.in_(ids)).group_by(Product.store_id)
    )
    products: dict[str, int] = {store_id: count for store_id, count in session.execute(products_query)}
    alerts_query = (
        select(Alert.store_id, func.count())
        .where(Alert.store_id.in_(ids), Alert.state == "open")
        .group_by(Alert.store_id)
    )
    open_alerts: dict[str, int] = {store_id: count for store_id, count in session.execute(alerts_query)}
    result = []
    for config in visible:
        devices = store_devices(session, config)
        result.append(
            StorePublic(
                id=config.store.id,
                name=config.store.name,
                timezone=config.store.timezone,
                products=products.get(config.store.id, 0),
                devices=len(devices),
                devices_online=sum(device.state == "online" for device in devices),
                open_alerts=open_alerts.get(config.store.id, 0),
            )
        )
    return result
