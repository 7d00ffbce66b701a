"""`/stores/{store}/devices`: every configured or reporting device with its link state."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.orm import Session

from smartstore.gateway.api.deps import SessionDep, StoreDevicesReader
from smartstore.gateway.api.schemas import DevicePublic
from smartstore.gateway.db.models import Device
from smartstore.kernel.contract.topics import Kind
from smartstore.kernel.storeconfig import StoreConfig

router = APIRouter(prefix="/stores/{store}/devices", tags=["devices"])


def configured_devices(config: StoreConfig) -> list[tuple[str, str]]:
    """(kind, id) of every device in the store file."""
    devices = config.devices
    return (
        [(Kind.RFID.value, reader.id) for reader in devices.readers]
        + [(Kind.CAMERA.value, camera.id) for camera in devices.cameras]
        + [(Kind.LOCKER.value, locker.id) for locker in devices.lockers]
    )


def store_devices(session: Session, config: StoreConfig) -> list[DevicePublic]:
    """Devices that reported (their last status) plus configured ones never heard of (offline)."""
    rows = session.scalars(select(Device).where(Device.store_id == config.store.id)).all()
    seen = {
        (row.kind, row.device_id): DevicePublic(
            kind=row.kind,
            id=row.device_id,
            state="online" if row.state == "online" else "offline",
            last_seen=row.last_seen,
            firmware=row.firmware,
            info=row.info or {},
        )
        for row in rows
    }
    for kind, device_id in configured_devices(config):
        seen.setdefault(
            (kind, device_id),
            DevicePublic(kind=kind, id=device_id, state="offline", last_seen=None, firmware=None, info={}),
        )
    return [seen[key] for key in sorted(seen)]


@router.get("", response_model=list[DevicePublic], summary="Devices of a store and whether they are online")
def list_devices(scope: StoreDevicesReader, session: SessionDep) -> list[DevicePublic]:
    return store_devices(session, scope.store)
