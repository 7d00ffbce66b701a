"""Simulated shelf cameras: planogram slots drawn at their polygons, stocked as the world says, as JPEG."""

from __future__ import annotations

import functools
import math
import random
import zlib
from dataclasses import dataclass

import cv2
import numpy as np

from smartstore.storeconfig import Camera, Shelf, Slot

Bgr = tuple[int, int, int]
FRAME_BGR: Bgr = (92, 96, 100)
PANEL_BGR: Bgr = (196, 202, 206)
SHELF_EDGE_BGR: Bgr = (58, 62, 66)
SHELF_EDGE_PX = 24
NOISE_SIGMA = 2.0
NOISE_MARGIN = 64
OCCLUDED_SHARE = 0.1  # a slot counts as occluded when this much of it is behind the shopper


@dataclass(frozen=True, slots=True)
class Frame:
    jpeg: bytes
    occluded: list[str]


@dataclass(frozen=True, slots=True)
class _SlotArea:
    slot: Slot
    x0: int
    y0: int
    x1: int
    y1: int
    mask: np.ndarray  # True inside the polygon, in bounding-box coordinates


@dataclass(frozen=True, slots=True)
class _Sprite:
    pixels: np.ndarray
    mask: np.ndarray


class ShelfCamera:
    """Renders one camera's view; static parts once, product sprites cached, so a frame is a few pastes."""

    def __init__(self, camera: Camera, shelves: list[Shelf], seed: int, jpeg_quality: int = 85) -> None:
        self.id = camera.id
        self.width = camera.width
        self.height = camera.height
        self.jpeg_quality = jpeg_quality
        self.rng = np.random.default_rng([seed, zlib.crc32(camera.id.encode())])
        self.areas = [self._area(slot) for shelf in shelves for slot in shelf.slots]
        self.background = self._background()
        self._noise = _noise_bank(self.height, self.width)
        self._sprites: dict[tuple[str, int, int], _Sprite] = {}

    def _area(self, slot: Slot) -> _SlotArea:
        points = np.round(np.asarray(slot.polygon, dtype=np.float64)).astype(np.int32)
        x0, y0 = points.min(axis=0)
        x1, y1 = points.max(axis=0)
        x0, y0 = max(int(x0), 0), max(int(y0), 0)
        x1, y1 = min(int(x1), self.width), min(int(y1), self.height)
        mask = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
        cv2.fillPoly(mask, [points - np.array([x0, y0], dtype=np.int32)], 1)
        return _SlotArea(slot, x0, y0, x1, y1, mask.astype(bool))

    def _background(self) -> np.ndarray:
        image = np.full((self.height, self.width, 3), FRAME_BGR, dtype=np.uint8)
        for area in self.areas:
            # A faint top-to-bottom shade: real panels are lit from above, and flat is what "empty" means.
            rows = area.y1 - area.y0
            shade = np.linspace(6.0, -6.0, rows, dtype=np.float32)[:, None, None]
            panel = np.clip(np.asarray(PANEL_BGR, dtype=np.float32) + shade, 0, 255).astype(np.uint8)
            view = image[area.y0 : area.y1, area.x0 : area.x1]
            view[area.mask] = np.broadcast_to(panel, (*area.mask.shape, 3))[area.mask]
            edge_bottom = min(area.y1 + SHELF_EDGE_PX, self.height)
            image[area.y1 : edge_bottom, area.x0 : area.x1] = SHELF_EDGE_BGR
            # A price label on the shelf edge, outside the slot so it never reads as product.
            label_x = area.x0 + 6
            cv2.rectangle(image, (label_x, area.y1 + 5), (label_x + 34, edge_bottom - 5), (235, 235, 235), -1)
        return image

    # --- products -------------------------------------------------------------------------------

    def _sprite(self, gtin: str, width: int, height: int) -> _Sprite:
        key = (gtin, width, height)
        sprite = self._sprites.get(key)
        if sprite is None:
            sprite = self._sprites[key] = _draw_product(gtin, width, height)
        return sprite

    def _draw_slot(self, image: np.ndarray, area: _SlotArea, units: int) -> None:
        slot = area.slot
        visible = min(slot.facings, math.ceil(slot.facings * max(units, 0) / slot.capacity))
        if visible == 0:
            return
        facing_w = (area.x1 - area.x0) / slot.facings
        shape_rng = random.Random(slot.gtin)
        product_h = int((area.y1 - area.y0) * shape_rng.uniform(0.72, 0.95))
        sprite_w = max(int(facing_w) - 4, 4)
        sprite = self._sprite(slot.gtin, sprite_w, product_h)
        top = area.y1 - product_h
        for index in range(visible):
            left = area.x0 + int(index * facing_w) + 2
            view = image[top : area.y1, left : left + sprite_w]
            inside = area.mask[top - area.y0 : area.y1 - area.y0, left - area.x0 : left - area.x0 + sprite_w]
            paint = sprite.mask[: view.shape[0], : view.shape[1]] & inside
            view[paint] = sprite.pixels[: view.shape[0], : view.shape[1]][paint]

    # --- frames ---------------------------------------------------------------------------------

    def render(self, units: dict[str, int], occlude: bool = False) -> Frame:
        image = self.background.copy()
        for area in self.areas:
            self._draw_slot(image, area, units.get(area.slot.id, 0))
        occluded = self._draw_shopper(image) if occlude else []
        dy, dx = (int(v) for v in self.rng.integers(0, NOISE_MARGIN, 2))
        noise = self._noise[dy : dy + self.height, dx : dx + self.width]
        brightness = int(self.rng.integers(-3, 4))
        noisy = np.clip(image.astype(np.int16) + noise + brightness, 0, 255).astype(np.uint8)
        ok, encoded = cv2.imencode(".jpg", noisy, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
        if not ok:
            raise RuntimeError(f"JPEG encoding failed for camera {self.id}")
        return Frame(encoded.tobytes(), occluded)

    def _draw_shopper(self, image: np.ndarray) -> list[str]:
        """A person walking past: a dark body and head in front of the shelf; returns the slots hidden."""
        body_w = int(self.width * self.rng.uniform(0.12, 0.2))
        left = int(self.rng.integers(0, max(self.width - body_w, 1)))
        top = int(self.height * self.rng.uniform(0.12, 0.3))
        head_r = body_w // 3
        clothes = tuple(int(v) for v in self.rng.integers(30, 110, 3))
        mask = np.zeros((self.height, self.width), dtype=np.uint8)
        cv2.rectangle(mask, (left, top + head_r * 2), (left + body_w, self.height), 255, -1)
        cv2.circle(mask, (left + body_w // 2, top + head_r), head_r, 255, -1)
        image[mask > 0] = clothes
        cv2.circle(image, (left + body_w // 2, top + head_r), head_r, (120, 150, 190), -1)
        hidden = []
        for area in self.areas:
            region = mask[area.y0 : area.y1, area.x0 : area.x1][area.mask]
            if region.size and np.count_nonzero(region) / region.size >= OCCLUDED_SHARE:
                hidden.append(area.slot.id)
        return hidden


@functools.lru_cache(maxsize=4)
def _noise_bank(height: int, width: int) -> np.ndarray:
    """Sensor noise a little larger than a frame, shared by same-size cameras; frames take random crops."""
    noise = np.random.default_rng(0).normal(
        0.0, NOISE_SIGMA, (height + NOISE_MARGIN, width + NOISE_MARGIN, 3)
    )
    return np.round(noise).astype(np.int16)


def _draw_product(gtin: str, width: int, height: int) -> _Sprite:
    """One facing: a box, bottle or can in the product's colour with a busy printed label."""
    rng = random.Random(gtin)
    hue = rng.randrange(180)
    hsv = np.array([[[hue, rng.randint(150, 255), rng.randint(90, 200)]]], dtype=np.uint8)
    colour = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
    body: Bgr = (int(colour[0, 0, 0]), int(colour[0, 0, 1]), int(colour[0, 0, 2]))
    ink: Bgr = (20, 20, 20) if sum(body) > 380 else (245, 245, 245)
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    mask = np.zeros((height, width), dtype=np.uint8)
    shape = rng.choice(("box", "bottle", "can"))
    if shape == "bottle":
        neck_w = max(width // 3, 2)
        neck_h = height // 4
        cv2.rectangle(mask, ((width - neck_w) // 2, 0), ((width + neck_w) // 2, neck_h), 1, -1)
        cv2.rectangle(mask, (0, neck_h), (width - 1, height - 1), 1, -1)
        label_top = neck_h + height // 8
    elif shape == "can":
        cv2.rectangle(mask, (0, height // 12), (width - 1, height - height // 12), 1, -1)
        cv2.ellipse(mask, (width // 2, height // 12), (width // 2, height // 12), 0, 0, 360, 1, -1)
        cv2.ellipse(mask, (width // 2, height - height // 12), (width // 2, height // 12), 0, 0, 360, 1, -1)
        label_top = height // 5
    else:
        cv2.rectangle(mask, (0, 0), (width - 1, height - 1), 1, -1)
        label_top = height // 10
    pixels[:] = body
    label_bottom = height - max(height // 8, 2)
    _print_label(pixels, rng, label_top, label_bottom, ink, body)
    cv2.rectangle(
        pixels,
        (0, 0),
        (width - 1, height - 1),
        (int(body[0] * 0.5), int(body[1] * 0.5), int(body[2] * 0.5)),
        1,
    )
    return _Sprite(pixels, mask.astype(bool))


def _print_label(pixels: np.ndarray, rng: random.Random, top: int, bottom: int, ink: Bgr, body: Bgr) -> None:
    """Text-like rows of dashes, a logo blob and a stripe: the texture that makes product edge-dense."""
    width = pixels.shape[1]
    paper: Bgr = (240, 240, 240) if ink[0] < 128 else body
    cv2.rectangle(pixels, (2, top), (width - 3, bottom), paper, -1)
    text_ink: Bgr = (15, 15, 15) if paper == (240, 240, 240) else ink
    logo_r = max(min(width, bottom - top) // 5, 2)
    accent: Bgr = (body[2], body[0], body[1])
    cv2.circle(pixels, (width // 2, top + logo_r + 3), logo_r, accent, -1)
    cv2.circle(pixels, (width // 2, top + logo_r + 3), max(logo_r // 2, 1), text_ink, 2)
    y = top + 2 * logo_r + 8
    while y < bottom - 3:
        x = 4
        while x < width - 6:
            word = rng.randint(3, 12)
            cv2.line(pixels, (x, y), (min(x + word, width - 5), y), text_ink, 1 + (rng.random() < 0.3))
            x += word + rng.randint(2, 5)
        y += rng.randint(4, 7)
    cv2.rectangle(pixels, (2, bottom - 4), (width - 3, bottom), accent, -1)
