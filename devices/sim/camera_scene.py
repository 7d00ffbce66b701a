"""A camera's planogram in the synthetic generator's vocabulary: panel, levels, lips, tags, SKU runs."""

from __future__ import annotations

import functools
import logging
import math
import zlib
from dataclasses import dataclass, replace

import numpy as np

from smartstore.kernel.storeconfig import Camera, Shelf, Slot
from smartstore.models.synth.degrade import Degradation
from smartstore.models.synth.scene import (
    Item,
    ItemKind,
    Level,
    ProductLook,
    Rect,
    Scene,
    generate_scene,
)

logger = logging.getLogger(__name__)

# Products stand this tall relative to the slot's height, the generator's own range (0.35-0.95 of clearance).
MIN_PRODUCT_SHARE = 0.35
MAX_PRODUCT_SHARE = 0.95
# A gap box is at least this share of the slot tall, as the generator labels gaps (0.6 of clearance).
GAP_SHARE = 0.6
# Empty slots showing a dark recess rather than the back panel: the generator's own mix.
FRONTAL_SHARE = 0.5
LIP_SHARE = 0.12  # shelf lip height relative to the level pitch (the generator draws 0.06-0.13)
LOOK_SCENE_SIZE = (1280, 720)  # a generator scene this size holds ~60 SKU runs, each a product look
LOOK_POOL_SCENES = 5
LOOK_CANDIDATES = 24
STYLE_SCENE_SIZE = (128, 96)  # only its colours and panel are used
# Shelves are drawn this wide and scaled up to the camera's size: a training image at the detector's 416 px
# input is drawn 500-800 px wide, and the generator's textures (panel pitch, wood grain) are sized in drawn
# pixels, so drawing 1280 px wide would give the detector textures three times finer than it learnt.
RENDER_WIDTH = 640

# The simulated store keeps the back panels it was drawn with; the generator's training families may grow
# (wire shelving since #26) without changing what the demo's cameras show.
SIM_FAMILIES: tuple[str, ...] = ("plain", "pegboard", "slats", "wood", "brushed", "mesh")


@dataclass(frozen=True, slots=True)
class SlotLayout:
    """Where one planogram slot's facings stand when full, and what shows when they are gone."""

    slot: Slot
    frame_box: Rect  # the polygon's bounding box in camera pixels, clipped to the frame
    box: Rect  # the same in drawn pixels; everything below is in drawn pixels too
    edges: tuple[int, ...]  # left x of each facing, then the run's right end (facings + 1 values)
    products: tuple[Item, ...]  # every product drawn when the slot is full (two per facing when stacked)
    gap: Item  # the whole run empty: `empty_gap` (back panel shows) or `frontal_gap` (dark recess)
    from_left: bool  # units leave from this end of the run

    def missing_columns(self, missing: int) -> tuple[int, int]:
        """Columns [x0, x1) that show the empty look when `missing` facings are gone."""
        facings = len(self.edges) - 1
        missing = min(max(missing, 0), facings)
        if self.from_left:
            return self.edges[0], self.edges[missing]
        return self.edges[facings - missing], self.edges[facings]


@dataclass(frozen=True, slots=True)
class CameraLayout:
    """One camera's shelf as generator scenes: `static` has no products; slots hold what stands on it.

    Scenes are in drawn pixels, `scale` (drawn / camera pixels) times the camera's.
    """

    static: Scene
    scale: float
    slots: tuple[SlotLayout, ...]
    degradation: Degradation

    def frontal(self) -> Scene:
        return replace(self.static, items=tuple(s.gap for s in self.slots if s.gap.kind == "frontal_gap"))


def visible_facings(slot: Slot, units: int) -> int:
    """Facings showing a product at the front: ceil(facings * units / capacity), 0 for 0 units.

    Shoppers empty one facing column (front to back) before the next, so a slot shows as many facings as
    columns still holding stock; the truth log's `visible_fill` uses the same rule.
    """
    units = min(max(units, 0), slot.capacity)
    return min(slot.facings, math.ceil(slot.facings * units / slot.capacity))


@functools.lru_cache(maxsize=1)
def _look_pool() -> tuple[tuple[ProductLook, float], ...]:
    """Product looks with their width/height as the generator draws them: SKU runs of a few seeded scenes."""
    seen: set[ProductLook] = set()
    pool: list[tuple[ProductLook, float]] = []
    for seed in range(LOOK_POOL_SCENES):
        scene = generate_scene(np.random.default_rng(seed), *LOOK_SCENE_SIZE, SIM_FAMILIES)
        for item in scene.items:
            if item.kind != "product" or item.look is None or item.look in seen:
                continue
            seen.add(item.look)
            x0, y0, x1, y1 = item.rect
            pool.append((item.look, (x1 - x0) / max(y1 - y0, 1)))
    return tuple(pool)


@functools.lru_cache(maxsize=4096)
def product_looks(gtin: str) -> tuple[tuple[ProductLook, float], ...]:
    """Candidate looks of a GTIN with their width/height: the generator's looks in a GTIN-seeded order.

    The same GTIN always looks the same, in every camera and every run; a slot uses the first candidate whose
    shape fits its facings, so looks follow the generator's distribution of shapes, colours and labels.
    """
    pool = _look_pool()
    order = np.random.default_rng(zlib.crc32(gtin.encode())).permutation(len(pool))[:LOOK_CANDIDATES]
    return tuple(pool[int(index)] for index in order)


def _box(slot: Slot, width: int, height: int) -> Rect:
    points = np.asarray(slot.polygon, dtype=np.float64)
    x0, y0 = np.floor(points.min(axis=0)).astype(int)
    x1, y1 = np.ceil(points.max(axis=0)).astype(int)
    return max(int(x0), 0), max(int(y0), 0), min(int(x1), width), min(int(y1), height)


def _scaled(rect: Rect, scale: float) -> Rect:
    return (
        round(rect[0] * scale),
        round(rect[1] * scale),
        round(rect[2] * scale),
        round(rect[3] * scale),
    )


def _slot_layout(slot: Slot, frame_box: Rect, scale: float, seed: int) -> SlotLayout:
    rng = np.random.default_rng([seed, zlib.crc32(slot.id.encode())])
    box = _scaled(frame_box, scale)
    x0, y0, x1, y1 = box
    clear = y1 - y0
    margin, spacing = int(rng.integers(0, 4)), int(rng.integers(0, 4))
    # Drawn up front, so a slot's empty look and empty end stay put whatever product stands there.
    draws = rng.uniform(size=3)
    stack_draw, frontal, from_left = draws[0] < 0.6, draws[1] < FRONTAL_SHARE, draws[2] < 0.5
    width = max(2, (x1 - x0 - margin - slot.facings * spacing) // slot.facings)
    looks = product_looks(slot.gtin)
    fitting = [
        (look, round(width / aspect))
        for look, aspect in looks
        if MIN_PRODUCT_SHARE * clear <= width / aspect <= MAX_PRODUCT_SHARE * clear
    ]
    if fitting:
        look, height = fitting[0]
    else:  # no shape of this product fits the facing: squeeze the first one
        look, aspect = looks[0]
        height = round(min(max(width / aspect, MIN_PRODUCT_SHARE * clear), MAX_PRODUCT_SHARE * clear))
    # The generator stacks short boxes and cans two high when they fit; so does a real shelf.
    stacked = look.shape in ("box", "can") and height * 2 + 2 < clear and stack_draw
    edges = tuple(x0 + margin + index * (width + spacing) for index in range(slot.facings + 1))
    products: list[Item] = []
    for left in edges[:-1]:
        products.append(Item("product", (left, y1 - height, left + width, y1), look))
        if stacked:
            products.append(Item("product", (left, y1 - 2 * height - 1, left + width, y1 - height - 1), look))
    run_height = height * 2 + 1 if stacked else height
    gap_height = min(clear, max(run_height, round(GAP_SHARE * clear)))
    kind: ItemKind = "frontal_gap" if frontal else "empty_gap"
    gap = Item(kind, (edges[0], y1 - gap_height, min(edges[-1], x1), y1), None)
    return SlotLayout(slot, frame_box, box, edges, tuple(products), gap, bool(from_left))


def _degradation(rng: np.random.Generator) -> Degradation:
    """Mild, fixed per camera: a mounted camera's light and white balance do not change frame to frame."""
    warm_cool = float(rng.uniform(-0.06, 0.06))
    return Degradation(
        gain=float(rng.uniform(0.85, 1.12)),
        gradient=(float(rng.uniform(-0.2, 0.2)), float(rng.uniform(-0.2, 0.2)), float(rng.uniform(0, 0.3))),
        cast=(1 - warm_cool, 1.0, 1 + warm_cool),
        blur_sigma=float(rng.choice([0.0, rng.uniform(0.4, 0.9)])),
        motion_px=0,
        motion_angle=0.0,
        noise_sigma=0.0,  # per-frame sensor noise is added when a frame is sent
        jpeg_quality=95,
        seed=0,
    )


def _group_levels(boxes: list[Rect]) -> list[list[int]]:
    """Slot indices grouped by the shelf board they stand on (bottoms within a quarter slot height)."""
    order = sorted(range(len(boxes)), key=lambda i: boxes[i][3])
    tolerance = max(4.0, float(np.median([b[3] - b[1] for b in boxes])) / 4)
    levels: list[list[int]] = []
    for index in order:
        if levels and boxes[index][3] - boxes[levels[-1][0]][3] <= tolerance:
            levels[-1].append(index)
        else:
            levels.append([index])
    return levels


def camera_layout(camera: Camera, shelves: list[Shelf], seed: int) -> CameraLayout:
    """The camera's static shelf (styled by a generator scene seeded by camera and seed) and its slots."""
    rng = np.random.default_rng([seed, zlib.crc32(camera.id.encode())])
    scale = min(1.0, RENDER_WIDTH / camera.width)
    width, height = round(camera.width * scale), round(camera.height * scale)
    style = generate_scene(rng, *STYLE_SCENE_SIZE, SIM_FAMILIES)
    lip_colour, tag_colour = style.levels[0].lip_colour, style.levels[0].tag_colour
    board_colour = style.levels[0].board_colour
    slots = [slot for shelf in shelves for slot in shelf.slots]
    frame_boxes = [_box(slot, camera.width, camera.height) for slot in slots]
    boxes = [_scaled(box, scale) for box in frame_boxes]
    groups = _group_levels(boxes)
    levels: list[Level] = []
    top = 0
    for number, group in enumerate(groups):
        surface = max(boxes[i][3] for i in group)
        above_next = groups[number + 1] if number + 1 < len(groups) else []
        next_top = min((boxes[i][1] for i in above_next), default=height)
        pitch = surface - (levels[-1].surface if levels else min(boxes[i][1] for i in group))
        lip_h = max(0, min(max(4, round(LIP_SHARE * pitch)), next_top - surface, height - surface))
        tag_w = max(6, round(width * rng.uniform(0.02, 0.045)))
        tag_h = max(2, round(lip_h * rng.uniform(0.5, 0.85)))
        tag_y = surface + (lip_h - tag_h) // 2
        # One price tag under each slot's left end, as the generator puts one under each SKU run.
        tags = tuple((boxes[i][0] + 2, tag_y, boxes[i][0] + 2 + tag_w, tag_y + tag_h) for i in group)
        depth = round((surface - top) * rng.uniform(0.02, 0.08) * (1 + number / len(groups)))
        lip = (0, surface, width, surface + lip_h)
        levels.append(Level(top, surface, lip, lip_colour, tags, tag_colour, depth, board_colour))
        top = surface + lip_h
    post_w = max(3, round(width * 0.015))
    left, right = min(b[0] for b in boxes), max(b[2] for b in boxes)
    uprights = tuple(
        rect
        for rect in ((left - post_w - 2, 0, left - 2, height), (right + 2, 0, right + post_w + 2, height))
        if rect[0] >= 0 and rect[2] <= width
    )
    static = Scene(
        width=width,
        height=height,
        panel=style.panel,
        frame_colour=style.frame_colour,
        uprights=uprights,
        header=None,
        header_colour=style.header_colour,
        floor_top=height,
        floor_colour=style.floor_colour,
        levels=tuple(levels),
        items=(),
        occluders=(),
    )
    layouts = tuple(
        _slot_layout(slot, box, scale, seed) for slot, box in zip(slots, frame_boxes, strict=True)
    )
    logger.debug(
        "camera %s: %d slots on %d levels, %s panel", camera.id, len(slots), len(levels), static.panel.family
    )
    return CameraLayout(static, scale, layouts, _degradation(rng))
