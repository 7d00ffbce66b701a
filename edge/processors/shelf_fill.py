"""Camera frames -> per planogram slot fill and ok/low/empty state, debounced, as ShelfSignals."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from edge.config import ShelfSettings
from edge.processors.base import Message, Processor, Rejection, draft
from edge.processors.fill_estimate import FillEstimator, UndecodableImageError, decode_gray
from smartstore.contract.payloads import ShelfSignal, ShelfState, Signal, SlotObservation
from smartstore.contract.topics import Channel, Kind, Topic
from smartstore.contract.validation import Image, RejectReason
from smartstore.storeconfig import Camera, Slot, StoreConfig

DECODE_ERROR = "decode_error"
# A camera silent for this many frame intervals has its slots reported as stale in snapshots.
STALE_AFTER_INTERVALS = 3
CONFIDENCE_WINDOW = 5


@dataclass(slots=True)
class _SlotTrack:
    slot: Slot
    state: ShelfState = ShelfState.UNKNOWN
    fill: float = 0.0
    candidate: ShelfState = ShelfState.UNKNOWN
    streak: int = 0
    recent: deque[ShelfState] = field(default_factory=lambda: deque(maxlen=CONFIDENCE_WINDOW))

    def observation(self, stale: bool = False) -> SlotObservation:
        agreeing = sum(1 for state in self.recent if state is self.state)
        confidence = agreeing / len(self.recent) if self.recent else 0.0
        return SlotObservation(
            slot=self.slot.id,
            gtin=self.slot.gtin,
            state=self.state,
            fill=round(self.fill, 3),
            confidence=round(confidence, 3),
            stale=stale,
        )


@dataclass(slots=True)
class _CameraTrack:
    camera: Camera
    slots: list[_SlotTrack]
    last_frame: float | None = None
    next_snapshot: float = 0.0


class ShelfFill(Processor):
    """A slot changes state only after `confirmations` agreeing frames, so a passing shopper is no 'empty'."""

    name = "shelf_fill"

    def __init__(self, store: StoreConfig, settings: ShelfSettings, now: float) -> None:
        super().__init__()
        self._settings = settings
        self._low = store.store.shelf_low_fill
        self._empty = store.store.shelf_empty_fill
        self._estimator = FillEstimator(settings.canny_low, settings.canny_high, settings.column_edge_density)
        self._cameras: dict[str, _CameraTrack] = {}
        for camera in store.devices.cameras:
            slots = [
                _SlotTrack(slot) for shelf in store.shelves_for_camera(camera.id) for slot in shelf.slots
            ]
            if slots:
                self._cameras[camera.id] = _CameraTrack(
                    camera, slots, None, now + settings.snapshot_interval_s
                )

    def accepts(self, topic: Topic) -> bool:
        return topic.kind is Kind.CAMERA and topic.channel == (Channel.IMAGE,)

    def handle(self, message: Message, now: float) -> list[Signal]:
        if not isinstance(message, Image):
            raise Rejection(RejectReason.NOT_JPEG, "camera image topic without an image")
        track = self._cameras.get(message.topic.device)
        if track is None:
            raise Rejection(
                RejectReason.UNKNOWN_REFERENCE, f"camera {message.topic.device!r} has no planogram slots"
            )
        try:
            gray = decode_gray(message.jpeg)
        except UndecodableImageError as error:
            raise Rejection(DECODE_ERROR, str(error)) from None
        track.last_frame = now
        self.counters["frames"] += 1
        edges = self._estimator.edges(gray)
        scale = (gray.shape[1] / track.camera.width, gray.shape[0] / track.camera.height)
        changed = [
            slot.observation()
            for slot in track.slots
            if self._observe(slot, self._estimator.fill(edges, slot.slot.polygon, scale))
        ]
        if not changed:
            return []
        return [ShelfSignal(**draft(now), camera=track.camera.id, slots=changed)]

    def state_for(self, fill: float) -> ShelfState:
        if fill < self._empty:
            return ShelfState.EMPTY
        if fill < self._low:
            return ShelfState.LOW
        return ShelfState.OK

    def _observe(self, track: _SlotTrack, fill: float) -> bool:
        """Record one frame's fill; True when the slot's confirmed state changed."""
        observed = self.state_for(fill)
        track.recent.append(observed)
        if observed is track.state:
            track.fill = fill
            track.candidate, track.streak = observed, 0
            return False
        track.streak = track.streak + 1 if observed is track.candidate else 1
        track.candidate = observed
        if track.streak < self._settings.confirmations:
            return False
        track.state, track.fill, track.streak = observed, fill, 0
        return True

    def tick(self, now: float) -> list[Signal]:
        signals: list[Signal] = []
        for track in self._cameras.values():
            if now < track.next_snapshot:
                continue
            track.next_snapshot = now + self._settings.snapshot_interval_s
            if track.last_frame is None:
                continue  # nothing seen yet: a snapshot of 'unknown' would only erase the gateway's view
            stale = now - track.last_frame > STALE_AFTER_INTERVALS * track.camera.interval_s
            slots = [slot.observation(stale) for slot in track.slots]
            signals.append(ShelfSignal(**draft(now), camera=track.camera.id, slots=slots, snapshot=True))
        return signals

    def states(self, camera: str) -> dict[str, ShelfState]:
        """Confirmed state per slot id of one camera, for tests and stats."""
        return {slot.slot.id: slot.state for slot in self._cameras[camera].slots}
