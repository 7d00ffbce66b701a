"""The gateway's ready orders per locker bank (retained manifests) and the orders already used here."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

from smartstore.kernel.contract.payloads import LockerManifest, ManifestOrder, PickupLine
from smartstore.kernel.pickup_codes import verify_code

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class UsedOrder:
    """An order whose door this edge saw opened (or asked to open): its code is refused from now on."""

    order: str
    locker: str
    compartment: str
    used_at: float
    expires_at: float | None
    lines: list[PickupLine] = field(default_factory=list)
    offline: bool = False  # the edge validated the code (keypad), not the gateway
    request: str | None = None
    door_opened: bool = False
    signalled: bool = False  # its PickupSignal is in the outbox

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["lines"] = [line.model_dump(mode="json") for line in self.lines]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> UsedOrder:
        values = dict(data)
        values["lines"] = [PickupLine.model_validate(line) for line in values.get("lines", [])]
        return cls(**values)


class OrderBook:
    """Pure state: which orders a code may open, and which were used. The processor owns it."""

    def __init__(self) -> None:
        self.manifests: dict[str, LockerManifest] = {}
        self.used: dict[str, UsedOrder] = {}

    def apply_manifest(self, manifest: LockerManifest) -> bool:
        """Take a newer manifest of its bank; False (ignored) for one older than the one held."""
        held = self.manifests.get(manifest.locker)
        if held is not None and manifest.seq <= held.seq and manifest.ts <= held.ts:
            return False
        self.manifests[manifest.locker] = manifest
        return True

    def order(self, locker: str, order: str) -> ManifestOrder | None:
        manifest = self.manifests.get(locker)
        if manifest is None:
            return None
        return next((o for o in manifest.orders if o.order == order), None)

    def ready(self, locker: str, now: float) -> list[ManifestOrder]:
        """Orders of the bank a code may still open: in the manifest, not expired, not used here."""
        manifest = self.manifests.get(locker)
        if manifest is None:
            return []
        return [o for o in manifest.orders if o.order not in self.used and o.expires_at.timestamp() > now]

    def expected_occupied(self, locker: str) -> set[str]:
        """Compartments that hold a ready order (so an item there is no surprise)."""
        manifest = self.manifests.get(locker)
        return {o.compartment for o in manifest.orders} if manifest is not None else set()

    def find_by_code(self, locker: str, code: str, now: float) -> ManifestOrder | None:
        """The ready order whose hash the code matches; one slow scrypt check per candidate."""
        for candidate in self.ready(locker, now):
            if verify_code(code, candidate.code_hash):
                return candidate
        return None

    def mark_used(
        self,
        locker: str,
        compartment: str,
        order: str,
        now: float,
        *,
        offline: bool,
        request: str | None,
    ) -> UsedOrder:
        """Remember the order as used (idempotent); lines and expiry come from the manifest if known."""
        used = self.used.get(order)
        if used is not None:
            return used
        known = self.order(locker, order)
        used = UsedOrder(
            order=order,
            locker=locker,
            compartment=compartment,
            used_at=now,
            expires_at=known.expires_at.timestamp() if known is not None else None,
            lines=list(known.lines) if known is not None else [],
            offline=offline,
            request=request,
        )
        self.used[order] = used
        return used

    def release(self, order: str) -> bool:
        """Forget a use whose door never opened (the command failed): the code works again."""
        used = self.used.get(order)
        if used is None or used.door_opened or used.signalled:
            return False
        del self.used[order]
        return True

    def prune(self, now: float, retention_s: float) -> int:
        """Drop used orders that are reported, gone from the manifests and past expiry and retention."""
        listed = {o.order for m in self.manifests.values() for o in m.orders}
        stale = [
            key
            for key, used in self.used.items()
            if used.signalled
            and key not in listed
            and now - used.used_at > retention_s
            and (used.expires_at is None or used.expires_at < now)
        ]
        for key in stale:
            del self.used[key]
        return len(stale)
