"""Simulated shelf cameras: the planogram drawn by the detector's synthetic generator, stocked as told."""

from __future__ import annotations

import functools
import logging
import time
import zlib
from dataclasses import dataclass

import cv2
import numpy as np

from smartstore.devices.sim.camera_occluders import OccluderBank, OccluderSprite
from smartstore.devices.sim.camera_scene import CameraLayout, SlotLayout, camera_layout, visible_facings
from smartstore.kernel.storeconfig import Camera, Shelf
from smartstore.models.synth.degrade import degrade
from smartstore.models.synth.products import draw_product
from smartstore.models.synth.render import render_planar

logger = logging.getLogger(__name__)

NOISE_SIGMA = 2.5  # luminance sensor noise per frame; mild next to the generator's 0.5-9
NOISE_MARGIN = 64
OCCLUDED_SHARE = 0.1  # a slot counts as occluded when this much of it is behind the shopper


@dataclass(frozen=True, slots=True)
class Frame:
    jpeg: bytes
    occluded: list[str]


@dataclass(frozen=True, slots=True)
class _Layers:
    """The camera's three looks of every pixel, degraded once: a frame is `stocked` with slot columns
    swapped for `empty` (back panel showing) or `frontal` (dark recess) where facings are gone."""

    stocked: np.ndarray
    empty: np.ndarray
    frontal: np.ndarray


class ShelfCamera:
    """Renders one camera's view: layers drawn once by the generator, so a frame is a few column copies."""

    def __init__(self, camera: Camera, shelves: list[Shelf], seed: int, jpeg_quality: int = 85) -> None:
        self.id = camera.id
        self.width = camera.width
        self.height = camera.height
        self.jpeg_quality = jpeg_quality
        self._camera, self._shelves, self._seed = camera, shelves, seed
        self.rng = np.random.default_rng([seed, zlib.crc32(camera.id.encode()), 1])
        self._layout: CameraLayout | None = None
        self._occluders: OccluderBank | None = None
        self._layers: _Layers | None = None

    # Laid out and drawn on first use, not at start-up: a simulator with eight cameras starts at once.

    @property
    def layout(self) -> CameraLayout:
        if self._layout is None:
            self._layout = camera_layout(self._camera, self._shelves, self._seed)
        return self._layout

    @property
    def areas(self) -> tuple[SlotLayout, ...]:
        return self.layout.slots

    @property
    def occluders(self) -> OccluderBank:
        if self._occluders is None:
            self._occluders = OccluderBank(self.layout, self.rng)
        return self._occluders

    def _drawn(self) -> _Layers:
        if self._layers is None:
            started = time.perf_counter()
            layout = self.layout
            shelf = render_planar(layout.static).image
            stocked = shelf.copy()
            # Products stand between the boards and the lips, which render_planar draws before and after
            # them, so drawing them onto the bare shelf gives the same pixels without drawing it again.
            for area in layout.slots:
                for item in area.products:
                    if item.look is not None:
                        draw_product(stocked, item.rect, item.look)
            frontal = render_planar(layout.frontal()).image
            self._layers = _Layers(
                degrade(stocked, layout.degradation),
                degrade(shelf, layout.degradation),
                degrade(frontal, layout.degradation),
            )
            logger.info("camera %s drawn in %.0f ms", self.id, (time.perf_counter() - started) * 1000)
        return self._layers

    def _compose_drawn(self, units: dict[str, int]) -> np.ndarray:
        """The shelf at drawn size, `units` per slot id (0 if absent): missing facings show the empty look."""
        layers = self._drawn()
        image = layers.stocked.copy()
        for area in self.layout.slots:
            slot = area.slot
            missing = slot.facings - visible_facings(slot, units.get(slot.id, 0))
            if missing == 0:
                continue
            x0, x1 = area.missing_columns(missing)
            y0, y1 = area.box[1], area.box[3]
            source = layers.frontal if area.gap.kind == "frontal_gap" else layers.empty
            image[y0:y1, x0:x1] = source[y0:y1, x0:x1]
        return image

    def _to_frame(self, drawn: np.ndarray) -> np.ndarray:
        if drawn.shape[:2] == (self.height, self.width):
            return drawn
        return np.asarray(cv2.resize(drawn, (self.width, self.height), interpolation=cv2.INTER_LINEAR))

    def compose(self, units: dict[str, int]) -> np.ndarray:
        """The clean frame (camera size, BGR, no shopper, noise or JPEG) for `units` per slot id."""
        return self._to_frame(self._compose_drawn(units))

    def render(self, units: dict[str, int], occlude: bool = False) -> Frame:
        drawn = self._compose_drawn(units)
        occluded = self._occlude(drawn) if occlude else []
        image = self._to_frame(drawn)
        dy, dx = (int(v) for v in self.rng.integers(0, NOISE_MARGIN, 2))
        brighter, darker = _noise_bank(self.height, self.width)
        cv2.add(image, brighter[dy : dy + self.height, dx : dx + self.width], dst=image)
        cv2.subtract(image, darker[dy : dy + self.height, dx : dx + self.width], dst=image)
        ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
        if not ok:
            raise RuntimeError(f"JPEG encoding failed for camera {self.id}")
        return Frame(encoded.tobytes(), occluded)

    def _occlude(self, drawn: np.ndarray) -> list[str]:
        """A person or trolley in front of the shelf (drawn size); returns the slots it hides."""
        sprite = self.occluders.pick()
        height, width = drawn.shape[:2]
        x = int(self.rng.integers(-sprite.width // 2, width - sprite.width // 2))
        hidden = _paste(drawn, sprite, x, height - sprite.height)
        occluded = []
        for area in self.layout.slots:
            x0, y0, x1, y1 = area.box
            region = hidden[y0:y1, x0:x1]
            if region.size and np.count_nonzero(region) / region.size >= OCCLUDED_SHARE:
                occluded.append(area.slot.id)
        return occluded


def _paste(image: np.ndarray, sprite: OccluderSprite, x: int, y: int) -> np.ndarray:
    """Paint the sprite at (x, y), clipped to the frame; returns the frame-sized mask of what it hides."""
    height, width = image.shape[:2]
    fx0, fy0 = max(x, 0), max(y, 0)
    fx1, fy1 = min(x + sprite.width, width), min(y + sprite.height, height)
    hidden = np.zeros((height, width), dtype=bool)
    if fx1 <= fx0 or fy1 <= fy0:
        return hidden
    sx0, sy0 = fx0 - x, fy0 - y
    rows, cols = slice(sy0, sy0 + fy1 - fy0), slice(sx0, sx0 + fx1 - fx0)
    np.copyto(image[fy0:fy1, fx0:fx1], sprite.pixels[rows, cols], where=sprite.painted[rows, cols, None])
    hidden[fy0:fy1, fx0:fx1] = sprite.hides[rows, cols]
    return hidden


@functools.lru_cache(maxsize=4)
def _noise_bank(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Sensor noise a little larger than a frame, as its positive and negative parts (saturating uint8
    add and subtract are the fastest way to apply it); shared by same-size cameras, cropped per frame."""
    rng = np.random.default_rng(0)
    shape = (height + NOISE_MARGIN, width + NOISE_MARGIN)
    luma = rng.standard_normal(shape, dtype=np.float32)
    luma *= NOISE_SIGMA
    noise = rng.standard_normal((*shape, 3), dtype=np.float32)
    noise *= NOISE_SIGMA * 0.4
    noise += luma[:, :, None]
    np.rint(noise, out=noise)
    brighter = np.maximum(noise, 0).astype(np.uint8)
    np.negative(noise, out=noise)
    darker = np.maximum(noise, 0).astype(np.uint8)
    return brighter, darker
