"""Device presence from retained status topics: the Device table, last-seen times and offline alerts."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict

from sqlalchemy import bindparam, update
from sqlalchemy.orm import Session

from smartstore.gateway.db.models import Device
from smartstore.gateway.db.util import begin_write, iso
from smartstore.gateway.monitoring.alerts import AlertView, alert_view, clear_alert, raise_alert
from smartstore.kernel.contract.payloads import DeviceState, DeviceStatus, Severity
from smartstore.kernel.contract.topics import Kind
from smartstore.kernel.storeconfig import StoreConfig

logger = logging.getLogger(__name__)

DeviceKey = tuple[str, str, str]  # (store, kind, device)


class DeviceView(TypedDict):
    """A device's announced state as the bus carries it (last seen as ISO text)."""

    store: str
    kind: str
    device: str
    state: str
    last_seen: str | None
    firmware: str | None
    info: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StatusOutcome:
    """What one status message changed, as views ready for the event bus."""

    device: DeviceView
    alert: AlertView | None


def offline_cause(kind: Kind | str, device_id: str) -> str:
    return f"device_offline:{Kind(kind).value}:{device_id}"


def is_known_device(store: StoreConfig, kind: Kind, device_id: str) -> bool:
    """Readers, cameras, lockers and edge agents come from the store file. Gateways belong to no
    store: they announce themselves on their own presence topic (topics.gateway_presence), so a
    gateway status under a store is refused like any unknown device."""
    if kind is Kind.RFID:
        return any(reader.id == device_id for reader in store.devices.readers)
    if kind is Kind.CAMERA:
        return any(camera.id == device_id for camera in store.devices.cameras)
    if kind is Kind.LOCKER:
        return any(locker.id == device_id for locker in store.devices.lockers)
    if kind is Kind.EDGE:
        return device_id in store.devices.agents
    return False


def device_view(device: Device) -> DeviceView:
    return {
        "store": device.store_id,
        "kind": device.kind,
        "device": device.device_id,
        "state": device.state,
        "last_seen": iso(device.last_seen),
        "firmware": device.firmware,
        "info": dict(device.info or {}),
    }


def apply_status(
    session: Session,
    *,
    store_id: str,
    kind: Kind,
    device_id: str,
    status: DeviceStatus,
    at: datetime,
) -> StatusOutcome:
    """Record a device's announced state; going offline raises `device_offline:{kind}:{device}`
    (critical for lockers: orders are stuck inside), coming online clears it.

    Status is a state, not an event: a retained message replayed on resubscribe changes nothing, and
    a Last Will that repeats an earlier payload still counts when the device was online meanwhile.
    """
    begin_write(session)
    device = session.get(Device, (store_id, kind.value, device_id), with_for_update=True)
    previous = device.state if device is not None else None
    if device is None:
        device = Device(
            store_id=store_id, kind=kind.value, device_id=device_id, state=status.state.value, info={}
        )
        session.add(device)
    device.state = status.state.value
    if status.state is DeviceState.ONLINE:
        # An offline status is usually the broker speaking (Last Will), not a sighting of the device.
        device.last_seen = at
    if status.firmware is not None:
        device.firmware = status.firmware
    if status.info:
        device.info = dict(status.info)
    alert = None
    cause = offline_cause(kind, device_id)
    if status.state is DeviceState.OFFLINE and previous != DeviceState.OFFLINE.value:
        severity = Severity.CRITICAL if kind is Kind.LOCKER else Severity.WARNING
        alert = raise_alert(
            session,
            store_id=store_id,
            cause=cause,
            severity=severity,
            message=f"{kind.value} {device_id} is offline",
            device_id=device_id,
            at=at,
        )
    elif status.state is DeviceState.ONLINE:
        alert = clear_alert(session, store_id=store_id, cause=cause, at=at, by=f"{kind.value}:{device_id}")
    session.flush()
    if previous != device.state:
        logger.info("device %s/%s/%s: %s -> %s", store_id, kind.value, device_id, previous, device.state)
    return StatusOutcome(device_view(device), alert_view(alert) if alert is not None else None)


def touch_devices(session: Session, seen: Mapping[DeviceKey, datetime]) -> None:
    """Bump last_seen of devices we just heard from (one statement per batch).

    Only devices that have a row (a status came from a device the store file names): a sender that
    never announced itself does not become a device, so no unknown id is ever listed.
    """
    if not seen:
        return
    updates = [
        {"k_store": key[0], "k_kind": key[1], "k_device": key[2], "seen": at} for key, at in seen.items()
    ]
    statement = (
        update(Device)
        .where(
            Device.store_id == bindparam("k_store"),
            Device.kind == bindparam("k_kind"),
            Device.device_id == bindparam("k_device"),
        )
        .values(last_seen=bindparam("seen"))
    )
    session.connection().execute(statement, updates)
