"""Motion gate: run the detector only at start-up, once the scene is still after a change, and on a timer."""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np
import numpy.typing as npt

from smartstore.edge.vision.settings import MotionSettings

logger = logging.getLogger(__name__)

BgrImage = npt.NDArray[np.uint8]
Polygon = Sequence[Sequence[float]]


class MotionState(StrEnum):
    STABLE = "stable"
    MOVING = "moving"
    SETTLING = "settling"


class InferReason(StrEnum):
    STARTUP = "startup"
    SETTLED = "settled"
    RECHECK = "recheck"
    FORCED = "forced"
    CONFIRM = "confirm"


@dataclass(frozen=True, slots=True)
class GateDecision:
    """What the gate says about one frame.

    `stale_slots`: slots moving within `stale_window_s` before this inference (occluded: keep their state).
    `changed_slots`: slots touched by motion since the previous inference (where stock may have changed).
    """

    state: MotionState
    motion: float
    reason: InferReason | None = None
    stale_slots: frozenset[str] = frozenset()
    changed_slots: frozenset[str] = frozenset()

    @property
    def infer(self) -> bool:
        return self.reason is not None


@dataclass(slots=True)
class _SlotMask:
    pixels: npt.NDArray[np.bool_]
    area: int
    last_motion: float | None = None


class MotionGate:
    """One camera's gate; `update` is called with every frame, in time order, from one owner thread.

    Motion is the difference between consecutive shrunk, blurred grey frames, so a lasting change (a pack
    taken away) stops counting after one frame, while sensor noise stays under `pixel_threshold`.
    """

    def __init__(
        self, settings: MotionSettings, slots: Mapping[str, Polygon], reference_size: tuple[int, int]
    ) -> None:
        """`reference_size` is the (width, height) the slot polygons are drawn in (the camera's size)."""
        self.settings = settings
        self.slots = dict(slots)
        self.reference_size = reference_size
        self.state = MotionState.STABLE
        self.frames = 0
        self.inferences = 0
        self._previous: npt.NDArray[np.uint8] | None = None
        self._masks: dict[str, _SlotMask] = {}
        self._mask_shape: tuple[int, ...] = (0, 0)
        self._last_inference: float | None = None
        self._moving_since: float | None = None
        self._still_since = 0.0
        self._changed: set[str] = set()

    def update(self, frame: BgrImage, now: float, confirm: bool = False) -> GateDecision:
        """`confirm`: the caller wants another look at a still scene (a slot change awaiting agreement)."""
        self.frames += 1
        grey = self._shrink(frame)
        if grey.shape != self._mask_shape:
            self._build_masks(grey.shape[1], grey.shape[0])
        moving_pixels = self._motion(grey)
        self._previous = grey
        share = float(moving_pixels.mean()) if moving_pixels.size else 0.0
        moving = share >= self.settings.min_area
        if moving:
            self._mark_slots(moving_pixels, now)
        was_moving = self.state is MotionState.MOVING
        reason = self._advance(moving, now, confirm)
        if self.state is MotionState.MOVING and not was_moving:
            logger.debug("motion started")
        if reason is None:
            return GateDecision(self.state, share)
        return self._inference(reason, share, now)

    def may_infer(self, now: float, confirm: bool = False) -> bool:
        """Whether `update` at `now` could ask for an inference, whatever the frame shows: most frames of a
        still scene cannot, and their caller need not prepare the detector's picture."""
        # The state machine itself, stepped on throwaway copies for either outcome, so it cannot disagree.
        return any(copy.copy(self)._advance(moving, now, confirm) is not None for moving in (False, True))

    def _advance(self, moving: bool, now: float, confirm: bool = False) -> InferReason | None:
        """Step the stable -> moving -> settling machine; the reason to infer now, if any."""
        if self._last_inference is None:
            self.state = MotionState.MOVING if moving else MotionState.STABLE
            self._moving_since = now if moving else None
            self._still_since = now
            return InferReason.STARTUP  # a full scan at start-up, whatever the scene does
        if moving:
            if self.state is not MotionState.MOVING:
                self.state = MotionState.MOVING
                if self._moving_since is None:
                    self._moving_since = now
            waited = now - (self._moving_since if self._moving_since is not None else now)
            if waited >= self.settings.max_wait_s:
                self._moving_since = now  # wait a full period again before the next forced look
                return InferReason.FORCED
            return None
        if self.state is MotionState.MOVING:
            self.state = MotionState.SETTLING
            self._still_since = now
        if self.state is MotionState.SETTLING:
            if now - self._still_since < self.settings.settle_s:
                return None
            self.state = MotionState.STABLE
            self._moving_since = None
            return InferReason.SETTLED
        if now - self._last_inference >= self.settings.recheck_s:
            return InferReason.RECHECK
        return InferReason.CONFIRM if confirm else None

    def _inference(self, reason: InferReason, share: float, now: float) -> GateDecision:
        window = self.settings.stale_window_s
        stale = frozenset(
            slot
            for slot, mask in self._masks.items()
            if mask.last_motion is not None and now - mask.last_motion <= window
        )
        decision = GateDecision(self.state, share, reason, stale, frozenset(self._changed))
        self._changed.clear()
        self._last_inference = now
        self.inferences += 1
        logger.debug("inference (%s), stale slots %s", reason, sorted(stale))
        return decision

    def _shrink(self, frame: BgrImage) -> npt.NDArray[np.uint8]:
        height, width = frame.shape[:2]
        target = min(self.settings.frame_width, width)
        size = (target, max(1, round(height * target / width)))
        grey = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        # A JPEG camera's frames come decoded at the gate's size already.
        small = grey if (width, height) == size else cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
        # Blur so single-pixel sensor noise and JPEG blocks do not add up to 'motion'.
        return np.asarray(cv2.GaussianBlur(small, (5, 5), 0), dtype=np.uint8)

    def _motion(self, grey: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
        if self._previous is None or self._previous.shape != grey.shape:
            return np.zeros(grey.shape, dtype=np.bool_)
        difference = cv2.absdiff(grey, self._previous)
        changed = np.asarray(difference > self.settings.pixel_threshold, dtype=np.uint8)
        # Close small holes: a shopper's flat-coloured shirt changes at its edges more than inside.
        grown = cv2.dilate(changed, np.ones((3, 3), dtype=np.uint8))
        return np.asarray(grown > 0, dtype=np.bool_)

    def _build_masks(self, width: int, height: int) -> None:
        scale_x, scale_y = width / self.reference_size[0], height / self.reference_size[1]
        self._masks.clear()
        for slot, polygon in self.slots.items():
            canvas = np.zeros((height, width), dtype=np.uint8)
            points = np.array([[x * scale_x, y * scale_y] for x, y in polygon], dtype=np.float64)
            cv2.fillPoly(canvas, [np.round(points).astype(np.int32)], 1)
            pixels = canvas > 0
            self._masks[slot] = _SlotMask(pixels, max(int(pixels.sum()), 1))
        self._mask_shape = (height, width)

    def _mark_slots(self, moving_pixels: npt.NDArray[np.bool_], now: float) -> None:
        for slot, mask in self._masks.items():
            covered = int(np.count_nonzero(moving_pixels & mask.pixels)) / mask.area
            if covered >= self.settings.slot_min_area:
                mask.last_motion = now
                self._changed.add(slot)
