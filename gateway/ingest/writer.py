"""One ingest batch inside one transaction: classify, deduplicate, track sequences, apply, dead-letter."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from smartstore.gateway.db.bulk import existing, read_rows, write_rows
from smartstore.gateway.db.models import Alert, AppliedEvent, DeadLetter, SourceSequence
from smartstore.gateway.ingest.cache import InventoryCache, StoreIndex
from smartstore.gateway.ingest.deadletters import DeadLetterPolicy, DeadLetterPruner, dead_letter_row
from smartstore.gateway.ingest.decode import Accepted, Classifier, Ignored, Inbound, Refused
from smartstore.gateway.ingest.limits import RateLimits, SizeLimits
from smartstore.gateway.ingest.pickups import PickupPlan, plan_pickups
from smartstore.gateway.ingest.state import Event, InventoryBatch
from smartstore.gateway.monitoring.alerts import alert_view, clear_alert, raise_alert
from smartstore.gateway.monitoring.devices import DeviceKey, apply_status, touch_devices
from smartstore.gateway.restock.store import apply_slot_changes
from smartstore.kernel.contract import payloads as p
from smartstore.kernel.contract.topics import SignalType
from smartstore.kernel.contract.validation import RejectReason
from smartstore.kernel.storeconfig import StoreConfig

logger = logging.getLogger(__name__)

_APPLIED: Table = AppliedEvent.__table__  # type: ignore[assignment]
_DEAD: Table = DeadLetter.__table__  # type: ignore[assignment]
_SEQUENCES: Table = SourceSequence.__table__  # type: ignore[assignment]
_TOUCH_EVERY_S = 1.0
_SIGNAL_TYPES = frozenset(t.value for t in SignalType)


@dataclass
class BatchResult:
    """What a batch did; metrics, stats and the bus are fed from it after the commit."""

    applied: int = 0
    duplicates: int = 0
    gaps: int = 0
    received: Counter[str] = field(default_factory=Counter)
    applied_by_type: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    applied_ids: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    pruned: int = 0  # dead letters deleted by the retention policy

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def merge(self, other: BatchResult) -> None:
        self.applied += other.applied
        self.duplicates += other.duplicates
        self.gaps += other.gaps
        self.received.update(other.received)
        self.applied_by_type.update(other.applied_by_type)
        self.rejected.update(other.rejected)
        self.applied_ids.extend(other.applied_ids)
        self.events.extend(other.events)
        self.pruned += other.pruned


def received_kind(topic: str) -> str:
    """A small, fixed metric label for a raw topic, even a malformed one."""
    parts = topic.split("/")
    if len(parts) == 7 and parts[5] == "signal" and parts[6] in _SIGNAL_TYPES:
        return parts[6]
    return "status" if topic.endswith("/status") else "other"


class BatchWriter:
    """Applies batches of received messages; holds no state between batches but store lookups."""

    def __init__(
        self,
        stores: Mapping[str, StoreConfig],
        limits: SizeLimits | None = None,
        dead_letters: DeadLetterPolicy | None = None,
        rates: RateLimits | None = None,
    ) -> None:
        self._stores = dict(stores)
        self._classifier = Classifier(self._stores, limits, rates)
        self._pruner = DeadLetterPruner(dead_letters or DeadLetterPolicy())
        self._cache = InventoryCache()
        self._last_touch: dict[DeviceKey, float] = {}
        self._index = {store_id: StoreIndex.build(config) for store_id, config in stores.items()}

    def forget(self) -> None:
        """Drop what is remembered of the database: call after a batch that did not commit."""
        self._cache.clear()

    def apply(
        self, session: Session, batch: Sequence[Inbound], now: datetime, *, views: bool = True
    ) -> BatchResult:
        """Apply `batch` in arrival order within the caller's transaction (the caller commits).

        The caller holds the write lock (dbutil.begin_write) and calls `forget()` if it does not
        commit. `views=False` skips building inventory and slot events nobody would receive.
        """
        self._cache.validate(session)
        result = BatchResult()
        accepted: list[Accepted] = []
        refused: list[Refused] = []
        for inbound in batch:
            result.received[received_kind(inbound.topic)] += 1
            outcome = self._classifier.classify(inbound)
            if isinstance(outcome, Accepted):
                accepted.append(outcome)
            elif isinstance(outcome, Refused):
                refused.append(outcome)
            elif isinstance(outcome, Ignored):
                logger.debug("ignored empty payload on %s", inbound.topic)
        fresh = self._deduplicate(session, accepted, result)
        self._track_sequences(session, fresh, result)
        # Orders before inventory rows: the lock order of every writer (see ingest_orders).
        pickups = plan_pickups(session, fresh, now)
        fresh = pickups.items
        result.events.extend(pickups.events)
        state = InventoryBatch(session, self._index, self._cache)
        state.load((item.route.topic.store, item.payload) for item in fresh)
        seen: dict[DeviceKey, datetime] = {}
        clock = time.monotonic()
        applied_rows = []
        for item in fresh:
            self._dispatch(session, state, item, now, result, pickups)
            route = item.route
            if route.status:
                continue
            topic, payload = route.topic, item.payload
            device = (topic.store, topic.kind.value, topic.device)
            # last_seen to the second is plenty; rewriting it every batch is not worth a statement.
            if clock - self._last_touch.get(device, -_TOUCH_EVERY_S) >= _TOUCH_EVERY_S:
                seen[device] = now
            applied_rows.append(
                {
                    "event_id": payload.id,
                    "store_id": topic.store,
                    "kind": route.kind,
                    "source": topic.device,
                    "seq": payload.seq,
                    "event_ts": payload.ts,
                    "applied_at": now,
                }
            )
            result.applied_ids.append(payload.id)
            result.applied_by_type[route.kind] += 1
        result.applied = len(applied_rows)
        result.events.extend(state.flush(views))
        # Restock tasks follow slot changes in the same transaction: a task exists iff its change does.
        changes = state.slot_changes
        result.events.extend(apply_slot_changes(session, self._stores, changes, state.backroom_units, now))
        touch_devices(session, seen)
        for device in seen:
            self._last_touch[device] = clock
        write_rows(session, _APPLIED, applied_rows)
        self._dead_letter(session, refused, now, result)
        return result

    def dead_letter_one(self, session: Session, inbound: Inbound, detail: str, now: datetime) -> BatchResult:
        """Dead-letter a message that passed validation but could not be applied (the poison path)."""
        result = BatchResult()
        result.received[received_kind(inbound.topic)] += 1
        refused = Refused(inbound, RejectReason.INVALID_PAYLOAD, f"could not be applied: {detail}")
        self._dead_letter(session, [refused], now, result)
        return result

    def _dead_letter(
        self, session: Session, refused: list[Refused], now: datetime, result: BatchResult
    ) -> None:
        write_dead_letters(session, refused, now, result, self._pruner.policy)
        self._pruner.note(len(refused))
        result.pruned += self._pruner.maybe_prune(session, now)

    def _deduplicate(self, session: Session, accepted: list[Accepted], result: BatchResult) -> list[Accepted]:
        """Drop signals whose event id was applied before or earlier in this batch.

        Device status is a state, not an event, so it is not deduplicated (see devices.apply_status).
        """
        ids = list({item.payload.id for item in accepted if not item.route.status})
        known: set[str] = existing(session, _APPLIED.c.event_id, ids)
        fresh: list[Accepted] = []
        for item in accepted:
            if not item.route.status:
                if item.payload.id in known:
                    result.duplicates += 1
                    continue
                known.add(item.payload.id)
            fresh.append(item)
        return fresh

    def _track_sequences(self, session: Session, fresh: list[Accepted], result: BatchResult) -> None:
        """Count messages missing per source; a lower number than before means it restarted.

        Signals only: a device's status seq is not contiguous (its Last Will is written at connect).
        """
        signals = [item for item in fresh if not item.route.status]
        if not signals:
            return
        keys = sorted({item.route.source for item in signals})
        rows = self._cache.sequences
        unknown = [key for key in keys if key not in rows]
        for row in read_rows(session, _SEQUENCES, equals={}, within=("source", unknown)):
            rows[row["source"]] = [row["last_seq"], row["gaps"]]
        for item in signals:
            key, seq = item.route.source, item.payload.seq
            held = rows.get(key)
            if held is None:
                rows[key] = [seq, 0]
                continue
            if seq > held[0] + 1:
                missing = seq - held[0] - 1
                held[1] += missing
                result.gaps += missing
                logger.info("sequence gap from %s: %d missing before seq %d", key, missing, seq)
            elif seq <= held[0]:
                logger.info("source %s restarted its sequence (%d after %d)", key, seq, held[0])
            held[0] = seq
        write_rows(
            session,
            _SEQUENCES,
            [{"source": key, "last_seq": rows[key][0], "gaps": rows[key][1]} for key in keys],
            keys=("source",),
            update=("last_seq", "gaps"),
        )

    def _dispatch(
        self,
        session: Session,
        state: InventoryBatch,
        item: Accepted,
        now: datetime,
        result: BatchResult,
        pickups: PickupPlan | None = None,
    ) -> None:
        store_id, payload = item.route.topic.store, item.payload
        if isinstance(payload, p.StockSignal):
            state.apply_stock(store_id, payload)
        elif isinstance(payload, p.ShelfSignal):
            state.apply_shelf(store_id, payload)
        elif isinstance(payload, p.PickupSignal):
            effect = pickups.effect(payload) if pickups is not None else None
            if effect is None:
                state.apply_pickup(store_id, payload)
            else:
                state.apply_pickup(store_id, payload, release=effect.release, take=effect.take)
        elif isinstance(payload, p.AlertSignal):
            alert: Alert | None
            if payload.action == "raise":
                alert = raise_alert(
                    session,
                    store_id=store_id,
                    cause=payload.cause,
                    severity=payload.severity,
                    message=payload.message,
                    device_id=payload.device,
                    at=payload.ts,
                )
            else:
                alert = clear_alert(
                    session,
                    store_id=store_id,
                    cause=payload.cause,
                    at=payload.ts,
                    by=f"edge:{item.route.topic.device}",
                )
            if alert is not None:
                result.events.append(("alert", store_id, alert_view(alert)))
        else:
            topic = item.route.topic
            outcome = apply_status(
                session,
                store_id=store_id,
                kind=topic.kind,
                device_id=topic.device,
                status=payload,
                at=now,
            )
            result.events.append(("device", store_id, outcome.device))
            if outcome.alert is not None:
                result.events.append(("alert", store_id, outcome.alert))


def write_dead_letters(
    session: Session, refused: list[Refused], now: datetime, result: BatchResult, policy: DeadLetterPolicy
) -> None:
    """Keep rejected messages with their reason (excerpt, size, hash); acknowledged like applied ones."""
    if not refused:
        return
    rows = []
    for item in refused:
        rows.append(dead_letter_row(item.inbound, item.reason.value, item.detail, now, policy))
        result.rejected[item.reason.value] += 1
        view = {"topic": item.inbound.topic[:500], "reason": item.reason.value, "detail": item.detail[:500]}
        result.events.append(("dead_letter", item.store_id, {**view, "received_at": now.isoformat()}))
        logger.info("rejected %.200s (%s): %.500s", item.inbound.topic, item.reason.value, item.detail)
    session.connection().execute(insert(_DEAD), rows)
