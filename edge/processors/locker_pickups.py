"""Locker pickups at the edge: manifest + keypad codes -> door commands; door cycles -> pickups and alerts."""

from __future__ import annotations

import logging
from pathlib import Path

from smartstore.edge.drafts import draft
from smartstore.edge.lockers import state as state_file
from smartstore.edge.lockers.alerts import (
    AlertGate,
    door_alert_cause,
    empty_cause,
    item_left_cause,
    lockout_cause,
    unexpected_item_cause,
)
from smartstore.edge.lockers.doors import Compartment, DoorCycle
from smartstore.edge.lockers.orders import OrderBook, UsedOrder
from smartstore.edge.lockers.settings import LockerSettings
from smartstore.edge.lockers.state import LockerState
from smartstore.edge.lockers.throttle import KeypadThrottle
from smartstore.edge.processors.base import DeviceCommand, Message, Processor, Rejection
from smartstore.kernel.contract import topics
from smartstore.kernel.contract.payloads import (
    KeypadEntry,
    LockerAck,
    LockerCommand,
    LockerEvent,
    LockerEventType,
    LockerManifest,
    LockerRequestPurpose,
    PickupSignal,
    Severity,
    Signal,
    locker_request,
    parse_locker_request,
)
from smartstore.kernel.contract.topics import Channel, Kind, Topic
from smartstore.kernel.contract.validation import Decoded, RejectReason
from smartstore.kernel.storeconfig import StoreConfig

logger = logging.getLogger(__name__)

E = LockerEventType
_CHANNELS = {(Channel.EVENT,), (Channel.ACK,), (Channel.MANIFEST,), (Channel.KEYPAD,)}
_DOOR_ALERTS = {
    E.DOOR_LEFT_OPEN: (Severity.WARNING, "door left open"),
    E.DOOR_JAMMED: (Severity.CRITICAL, "door jammed"),
}


class LockerPickups(Processor):
    """Order-aware locker pickups; online (gateway opened the door) and offline (keypad) alike.

    A keypad code is always checked here, against the scrypt hashes of the bank's retained manifest;
    the door is opened with `pickup:{order}:{ms}` (the edge's clock in ms, so never one of the
    gateway's small attempt numbers the controller would answer from its memory). An order is used
    the moment its door is asked to open (keypad) or seen opening (gateway), persisted at once, and
    reported with exactly one PickupSignal when the door closes with the compartment empty.
    `offline=True` means the edge validated the code (the keypad path): the gateway did not see the
    code and learns of the pickup only from the signal.
    Alerts pass through `AlertGate`: a cause cleared less than `alert_reraise_s` ago is held, not
    raised, and raised later if still true; door cycles and pickups are never held.
    """

    name = "locker_pickups"

    def __init__(
        self,
        store: StoreConfig,
        settings: LockerSettings | None = None,
        state_path: Path | None = None,
        now: float = 0.0,
    ) -> None:
        super().__init__()
        self.store_id = store.store.id
        self.settings = settings or LockerSettings()
        self.state_path = state_path
        # Same limits as the gateway's kiosk unless the edge is told otherwise.
        self.max_wrong = self.settings.max_wrong_codes or store.store.pickup_max_failures
        self.lockout_s = self.settings.lockout_s or store.store.pickup_lockout_minutes * 60
        self.state = LockerState(
            throttles={
                locker.id: KeypadThrottle(self.max_wrong, self.lockout_s) for locker in store.devices.lockers
            },
            compartments={
                (locker.id, compartment.id): Compartment()
                for locker in store.devices.lockers
                for compartment in locker.compartments
            },
            alerts=AlertGate(self.settings.alert_reraise_s, self.counters),
        )
        if state_path is not None and state_file.load(state_path, self.state):
            logger.info(
                "locker state restored: %d manifests, %d used orders",
                len(self.state.book.manifests),
                len(self.state.book.used),
            )
        self._commands: list[DeviceCommand] = []
        self._dirty = False

    @property
    def book(self) -> OrderBook:
        return self.state.book

    def accepts(self, topic: Topic) -> bool:
        return topic.kind is Kind.LOCKER and topic.channel in _CHANNELS

    def take_commands(self) -> list[DeviceCommand]:
        commands, self._commands = self._commands, []
        return commands

    def handle(self, message: Message, now: float) -> list[Signal]:
        if not isinstance(message, Decoded):
            raise Rejection(RejectReason.INVALID_PAYLOAD, "locker topic without a JSON payload")
        locker, payload = message.topic.device, message.payload
        if locker not in self.state.throttles:
            raise Rejection(RejectReason.UNKNOWN_REFERENCE, f"locker {locker} is not in the store")
        try:
            if isinstance(payload, LockerEvent):
                return self._event(locker, payload, now)
            if isinstance(payload, KeypadEntry):
                return self._keypad(locker, payload, now)
            if isinstance(payload, LockerManifest):
                self._manifest(locker, payload, now)
                return []
            if isinstance(payload, LockerAck):
                self._ack(payload)
                return []
            raise Rejection(RejectReason.INVALID_PAYLOAD, f"unexpected {type(payload).__name__}")
        finally:
            self._persist()

    @property
    def alerts(self) -> AlertGate:
        return self.state.alerts

    def tick(self, now: float) -> list[Signal]:
        signals: list[Signal] = []
        for locker, throttle in self.state.throttles.items():
            if throttle.lockout_ended(now):
                self._dirty = True
                signals += self.alerts.clear(lockout_cause(locker), locker, now, None)
        if self.alerts.held:
            signals += self.alerts.due(now, self.state.compartments)
            self._dirty = True
        self._persist()
        return signals

    def save(self) -> None:
        self._dirty = True
        self._persist()

    # --- the gateway's manifest and the keypad ----------------------------------------------------

    def _manifest(self, locker: str, manifest: LockerManifest, now: float) -> None:
        if manifest.locker != locker:
            raise Rejection(RejectReason.TOPIC_MISMATCH, f"manifest of {manifest.locker} on {locker}'s topic")
        if not self.book.apply_manifest(manifest):
            self.counters["manifests_stale"] += 1
            return
        self.counters["manifests"] += 1
        self.book.prune(now, self.settings.used_retention_s)
        self._dirty = True

    def _keypad(self, locker: str, entry: KeypadEntry, now: float) -> list[Signal]:
        throttle = self.state.throttles[locker]
        verdict = throttle.check(now)
        if not verdict.allowed:
            self.counters["keypad_locked"] += 1
            logger.info("keypad of %s locked for %.0f s more; code ignored", locker, verdict.retry_after_s)
            return []
        found = self.book.find_by_code(locker, entry.code, now)
        self._dirty = True
        if found is None:
            self.counters["keypad_wrong"] += 1
            left = throttle.failed(now)
            logger.info("keypad %s: code not recognised, %d tries left", locker, left)
            if left:
                return []
            return self.alerts.raise_(
                lockout_cause(locker),
                locker,
                Severity.WARNING,
                f"locker {locker}: {self.max_wrong} wrong codes, keypad locked for {self.lockout_s:.0f} s",
                now,
            )
        throttle.succeeded()
        request = locker_request(LockerRequestPurpose.PICKUP, found.order, int(now * 1000))
        self.book.mark_used(locker, found.compartment, found.order, now, offline=True, request=request)
        self.counters["keypad_opens"] += 1
        command = LockerCommand(**draft(now), request=request, action="open", compartment=found.compartment)
        self._commands.append(DeviceCommand(topics.locker_cmd(self.store_id, locker), command))
        logger.info("keypad %s: order %s, opening %s", locker, found.order, found.compartment)
        return []

    def _ack(self, ack: LockerAck) -> None:
        parsed = parse_locker_request(ack.request)
        if ack.result != "failed" or parsed is None or parsed.purpose is not LockerRequestPurpose.PICKUP:
            return
        used = self.book.used.get(parsed.order)
        # Only our own keypad openings: the gateway handles the failures of the commands it sent.
        if used is not None and used.request == ack.request and self.book.release(parsed.order):
            self._dirty = True
            logger.warning(
                "door for order %s did not open (%s); its code works again", parsed.order, ack.reason
            )

    # --- doors ------------------------------------------------------------------------------------

    def _event(self, locker: str, event: LockerEvent, now: float) -> list[Signal]:
        key = (locker, event.compartment)
        state = self.state.compartments.get(key)
        if state is None:
            raise Rejection(
                RejectReason.UNKNOWN_REFERENCE,
                f"compartment {locker}/{event.compartment} is not in the store",
            )
        self._dirty = True
        kind, compartment = event.event, event.compartment
        signals: list[Signal] = []
        if kind is E.DOOR_OPENED:
            signals += self._opened(locker, compartment, state, event, now)
        elif kind in _DOOR_ALERTS:
            severity, what = _DOOR_ALERTS[kind]
            signals += self._raise(
                door_alert_cause(locker, compartment), locker, compartment, state, severity, what, now
            )
        cycle = state.cycle
        if event.occupied is False and cycle is not None and kind is not E.DOOR_OPENED:
            # Taken: it read occupied (or unknown) before and empty now, while the door was open.
            cycle.taken = cycle.taken or state.occupied is not False
        if kind is E.DOOR_CLOSED:
            signals += self._closed(locker, compartment, state, event, now)
        elif (
            kind is E.DOOR_LEFT_OPEN
            and cycle is not None
            and cycle.taken
            and cycle.purpose is LockerRequestPurpose.PICKUP
        ):
            signals += self._picked_up(locker, compartment, cycle, now)  # taken; the door is an alert
        if event.occupied is not None:
            signals += self._occupancy(locker, compartment, state, event, now)
        return signals

    def _opened(
        self, locker: str, compartment: str, state: Compartment, event: LockerEvent, now: float
    ) -> list[Signal]:
        cycle = state.door_opened(event.request, event.occupied)
        if cycle.purpose is LockerRequestPurpose.PICKUP and cycle.order is not None:
            used = self.book.mark_used(
                locker, compartment, cycle.order, now, offline=False, request=event.request
            )
            used.door_opened = True
        if cycle.purpose is LockerRequestPurpose.LOAD and event.occupied is True:
            return self._unexpected(locker, compartment, state, "occupied when opened for loading", now)
        return []

    def _closed(
        self, locker: str, compartment: str, state: Compartment, event: LockerEvent, now: float
    ) -> list[Signal]:
        signals: list[Signal] = []
        signals += self.alerts.clear(door_alert_cause(locker, compartment), locker, now, state)
        cycle = state.door_closed()
        if event.occupied:
            signals += self.alerts.clear(empty_cause(locker, compartment), locker, now, state)
        if cycle is None or cycle.purpose is not LockerRequestPurpose.PICKUP or cycle.order is None:
            return signals
        if event.occupied is True:
            what = f"order {cycle.order} was not taken out"
            return signals + self._raise(
                item_left_cause(locker, compartment), locker, compartment, state, Severity.WARNING, what, now
            )
        if cycle.occupied_at_open is False and not cycle.taken:
            # Opened empty and closed empty: the customer got nothing; staff must look, not the stock.
            what = f"empty when opened for order {cycle.order}"
            return signals + self._raise(
                empty_cause(locker, compartment), locker, compartment, state, Severity.WARNING, what, now
            )
        if event.occupied is False or cycle.taken:
            signals += self._picked_up(locker, compartment, cycle, now)
        return signals

    def _picked_up(self, locker: str, compartment: str, cycle: DoorCycle, now: float) -> list[Signal]:
        assert cycle.order is not None
        used = self.book.mark_used(
            locker, compartment, cycle.order, now, offline=False, request=cycle.request
        )
        if used.signalled:
            return []
        used.signalled = True
        self.counters["pickups_offline" if used.offline else "pickups"] += 1
        return [self._pickup_signal(used, now)]

    def _pickup_signal(self, used: UsedOrder, now: float) -> PickupSignal:
        return PickupSignal(
            **draft(now),
            locker=used.locker,
            compartment=used.compartment,
            order=used.order,
            lines=used.lines,
            offline=used.offline,
        )

    def _occupancy(
        self, locker: str, compartment: str, state: Compartment, event: LockerEvent, now: float
    ) -> list[Signal]:
        signals: list[Signal] = []
        occupied = bool(event.occupied)
        picked_up = state.sensed(occupied)
        if not occupied:
            for cause in (item_left_cause(locker, compartment), unexpected_item_cause(locker, compartment)):
                signals += self.alerts.clear(cause, locker, now, state)
        elif (
            event.event is E.OCCUPANCY_CHANGED
            and state.cycle is None
            and locker in self.book.manifests
            and compartment not in self.book.expected_occupied(locker)
        ):
            # Something appeared behind a closed door that holds no ready order: nobody loaded it.
            # Only the gateway's manifest says what should be empty; without one nothing is judged.
            signals += self._unexpected(locker, compartment, state, "occupied though no order is in it", now)
        if picked_up:
            # Emptied by someone with a key (no order known): the old, order-less pickup.
            self.counters["pickups"] += 1
            signals.append(PickupSignal(**draft(now), locker=locker, compartment=compartment))
        return signals

    # --- alerts and persistence -------------------------------------------------------------------

    def _unexpected(
        self, locker: str, compartment: str, state: Compartment, why: str, now: float
    ) -> list[Signal]:
        cause = unexpected_item_cause(locker, compartment)
        return self._raise(cause, locker, compartment, state, Severity.WARNING, why, now)

    def _raise(
        self,
        cause: str,
        locker: str,
        compartment: str,
        state: Compartment,
        severity: Severity,
        what: str,
        now: float,
    ) -> list[Signal]:
        message = f"locker {locker} compartment {compartment}: {what}"
        return self.alerts.raise_(cause, locker, severity, message, now, state, compartment)

    def _persist(self) -> None:
        if not self._dirty or self.state_path is None:
            return
        try:
            state_file.save(self.state_path, self.state)
            self._dirty = False
        except OSError:
            logger.exception("locker state not saved to %s", self.state_path)
