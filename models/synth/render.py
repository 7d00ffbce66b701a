"""Draw a `Scene` flat-on (planar) with OpenCV and derive exact labels, clipped by what occluders hide."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from smartstore.models.synth import GAP_CLASS, PRODUCT_CLASS
from smartstore.models.synth.products import draw_far_back, draw_product
from smartstore.models.synth.realism import draw_glare, shade_deep_shelves, shadow_cavity
from smartstore.models.synth.scene import BackPanel, Bgr, Occluder, Rect, Scene
from smartstore.models.synth.wire import draw_wire_front, wire_panel

MIN_VISIBLE_SHARE = 0.4  # objects hidden more than 60 % by an occluder lose their label


@dataclass(frozen=True, slots=True)
class PlanarLabel:
    cls: int
    box: Rect  # visible part, planar pixels
    visible_share: float
    item_index: int  # which of the scene's items it labels


@dataclass(frozen=True, slots=True)
class PlanarRender:
    image: np.ndarray  # HxWx3 uint8 BGR
    occluder_mask: np.ndarray  # HxW bool, True where a person or trolley covers the shelf
    labels: tuple[PlanarLabel, ...]


def _tile(height: int, width: int, tile: np.ndarray) -> np.ndarray:
    reps = (height // tile.shape[0] + 1, width // tile.shape[1] + 1, 1)
    return np.tile(tile, reps)[:height, :width]


def _smooth_noise(rng: np.random.Generator, height: int, width: int, cells: tuple[int, int]) -> np.ndarray:
    coarse = rng.normal(0, 1, size=cells).astype(np.float32)
    return cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)


def _panel(panel: BackPanel, height: int, width: int) -> np.ndarray:
    rng = np.random.default_rng(panel.seed)
    colour = np.array(panel.colour, np.float32)
    accent = np.array(panel.accent, np.float32)
    pitch = panel.pitch
    family = panel.family
    if family == "pegboard":
        tile = np.empty((pitch, pitch, 3), np.float32)
        tile[:] = colour
        cv2.circle(tile, (pitch // 2, pitch // 2), max(1, pitch // 6), accent.tolist(), -1, cv2.LINE_AA)
        image = _tile(height, width, tile)
    elif family in ("slats", "mesh", "tiles"):
        size = pitch * (4 if family == "tiles" else 2)
        tile = np.empty((size, size, 3), np.float32)
        tile[:] = colour
        tile[:1] = accent
        if family != "slats":
            tile[:, :1] = accent
        image = _tile(height, width, tile)
    elif family == "stripes":
        tile = np.empty((1, pitch * 4, 3), np.float32)
        tile[:, : pitch * 2] = colour
        tile[:, pitch * 2 :] = accent
        image = _tile(height, width, tile)
    elif family == "gradient":
        ramp = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
        image = np.broadcast_to(colour * (1 - ramp) + accent * ramp, (height, width, 3))
    elif family in ("wood", "brushed"):
        cells = (max(2, height // 3), 6) if family == "wood" else (max(2, height // 2), 3)
        grain = _smooth_noise(rng, height, width, cells)[:, :, None]
        strength = 0.35 if family == "wood" else 0.15
        image = colour + (accent - colour) * np.clip(grain * strength + 0.2, 0, 1)
    elif family == "wire":
        image = wire_panel(panel, rng, height, width)
    else:
        image = np.broadcast_to(colour, (height, width, 3))
    blotches = _smooth_noise(rng, height, width, (4, 4))
    blotches *= 0.05
    blotches += 1.0
    # Values stay positive, so the saturating absolute value is just a fast clip to uint8.
    panel_image: np.ndarray = cv2.convertScaleAbs(np.asarray(image, np.float32) * blotches[:, :, None])
    return panel_image


def _shade_rows(canvas: np.ndarray, y0: int, y1: int, start: float, end: float) -> None:
    y0, y1 = max(0, y0), min(canvas.shape[0], y1)
    if y1 <= y0:
        return
    ramp = np.linspace(start, end, y1 - y0, dtype=np.float32)[:, None, None]
    canvas[y0:y1] = (canvas[y0:y1] * ramp).astype(np.uint8)


def _frontal_gap(canvas: np.ndarray, rect: Rect) -> None:
    """The dark recess left when the front facings are gone and the rest sit far back."""
    x0, y0, x1, y1 = rect
    region = canvas[y0:y1, x0:x1]
    if region.size == 0:
        return
    depth = np.linspace(0.18, 0.45, region.shape[0], dtype=np.float32)[:, None, None]
    region[:] = (region * depth).astype(np.uint8)


def _text_block(canvas: np.ndarray, rect: Rect, ink: Bgr) -> None:
    x0, y0, x1, y1 = rect
    if x1 - x0 < 5 or y1 - y0 < 3:
        return
    digits_w = (x1 - x0) // 2
    cv2.rectangle(canvas, (x1 - digits_w, y0 + 1), (x1 - 2, y1 - 2), ink, -1)
    mid = (y0 + y1) // 2
    cv2.line(canvas, (x0 + 2, mid - 1), (x1 - digits_w - 2, mid - 1), ink, 1)


def _person(target: np.ndarray, occluder: Occluder, paint: bool) -> None:
    x0, y0, x1, y1 = occluder.rect
    width = x1 - x0
    head_r = max(3, width // 5)
    cx = (x0 + x1) // 2
    skin = (120, 150, 200) if paint else (255, 255, 255)
    cloth = occluder.colour if paint else (255, 255, 255)
    legs = tuple(int(c * 0.5) for c in occluder.colour) if paint else (255, 255, 255)
    cv2.circle(target, (cx, y0 + head_r), head_r, skin, -1, cv2.LINE_AA)
    torso_top = y0 + 2 * head_r + 2
    torso_bottom = torso_top + int((y1 - torso_top) * 0.45)
    cv2.ellipse(target, (cx, torso_top + head_r), (width // 2, head_r), 0, 180, 360, cloth, -1)
    cv2.rectangle(target, (x0, torso_top + head_r), (x1, torso_bottom), cloth, -1)
    cv2.rectangle(target, (x0 + width // 8, torso_bottom), (x1 - width // 8, y1), legs, -1)
    if paint:
        cv2.line(target, (cx, torso_bottom), (cx, y1), tuple(int(c * 0.3) for c in occluder.colour), 2)


def _trolley(target: np.ndarray, occluder: Occluder, paint: bool) -> None:
    x0, y0, x1, y1 = occluder.rect
    width, height = x1 - x0, y1 - y0
    basket = np.array(
        [
            [x0, y0],
            [x1, y0],
            [x1 - width // 10, y0 + height * 2 // 3],
            [x0 + width // 10, y0 + height * 2 // 3],
        ],
        np.int32,
    )
    if not paint:
        cv2.fillConvexPoly(target, basket, (255, 255, 255))
        return
    mask = np.zeros(target.shape[:2], np.uint8)
    cv2.fillConvexPoly(mask, basket, 255)
    inside = mask > 0
    # Dense mesh and shopping make the basket mostly opaque, matching the mask that drops labels behind it.
    target[inside] = (target[inside] * 0.2 + np.array(occluder.colour) * 0.45).astype(np.uint8)
    rng = np.random.default_rng(occluder.seed)
    for _ in range(int(rng.integers(2, 8))):  # shopping inside the basket: unlabelled on purpose
        bx = int(rng.integers(x0 + width // 8, max(x0 + width // 8 + 1, x1 - width // 4)))
        by = y0 + int(height * rng.uniform(0.15, 0.45))
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        cv2.rectangle(target, (bx, by), (bx + width // 6, y0 + height * 2 // 3 - 2), colour, -1)
    pitch = max(3, width // 24)
    wire = occluder.colour
    for x in range(x0, x1, pitch):
        cv2.line(target, (x, y0), (x, y0 + height * 2 // 3), wire, 1)
    for y in range(y0, y0 + height * 2 // 3, pitch):
        cv2.line(target, (x0, y), (x1, y), wire, 1)
    cv2.polylines(target, [basket], True, wire, 2)
    cv2.line(target, (x0 + width // 8, y0 + height * 2 // 3), (x0 + width // 8, y1), wire, 3)
    cv2.line(target, (x1 - width // 8, y0 + height * 2 // 3), (x1 - width // 8, y1), wire, 3)


def _visible_label(cls: int, rect: Rect, occluded: np.ndarray, item_index: int) -> PlanarLabel | None:
    height, width = occluded.shape
    x0, y0, x1, y1 = max(0, rect[0]), max(0, rect[1]), min(width, rect[2]), min(height, rect[3])
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    hidden = occluded[y0:y1, x0:x1]
    share = 1.0 - float(hidden.mean())
    if share < MIN_VISIBLE_SHARE:
        return None
    if share < 1.0:
        cols = np.flatnonzero(~hidden.all(axis=0))
        rows = np.flatnonzero(~hidden.all(axis=1))
        x0, x1 = x0 + int(cols[0]), x0 + int(cols[-1]) + 1
        y0, y1 = y0 + int(rows[0]), y0 + int(rows[-1]) + 1
    return PlanarLabel(cls, (x0, y0, x1, y1), share, item_index)


def render_planar(scene: Scene) -> PlanarRender:
    """The scene drawn flat-on, the occluder mask, and one label per visible product and gap."""
    height, width = scene.height, scene.width
    canvas = _panel(scene.panel, height, width)
    canvas = np.ascontiguousarray(canvas)
    if scene.header is not None:
        hx0, hy0, hx1, hy1 = scene.header
        cv2.rectangle(canvas, (hx0, hy0), (hx1, hy1), scene.header_colour, -1)
        cv2.rectangle(
            canvas,
            (hx0 + width // 3, hy0 + (hy1 - hy0) // 3),
            (hx0 + width // 2, hy1 - (hy1 - hy0) // 3),
            (245, 245, 245),
            -1,
        )
    for level in scene.levels:
        _shade_rows(canvas, level.top, level.top + (level.surface - level.top) // 3, 0.45, 1.0)
        if level.board_depth > 0:
            cv2.rectangle(
                canvas,
                (0, level.surface - level.board_depth),
                (width, level.surface - 1),
                level.board_colour,
                -1,
            )
            _shade_rows(canvas, level.surface - level.board_depth, level.surface, 0.6, 1.0)
    finish = scene.finish
    shade_deep_shelves(canvas, scene)
    shadowed = frozenset(finish.shadow_gaps)
    for index, item in enumerate(scene.items):
        if item.kind == "product":
            if item.look is not None:
                draw_product(canvas, item.rect, item.look)
            continue
        if index in shadowed:
            shadow_cavity(canvas, item.rect, finish.seed + index)
        elif item.kind == "frontal_gap":
            _frontal_gap(canvas, item.rect)
        if item.kind == "frontal_gap" and item.look is not None:
            draw_far_back(canvas, item.rect, item.look)
    for level_index in finish.wire_fronts:
        draw_wire_front(canvas, scene.levels[level_index], finish.wire_colour, finish.seed + level_index)
    for level in scene.levels:
        lx0, ly0, lx1, ly1 = level.lip
        cv2.rectangle(canvas, (lx0, ly0), (lx1, ly1 - 1), level.lip_colour, -1)
        cv2.line(canvas, (lx0, ly0), (lx1, ly0), tuple(min(255, c + 40) for c in level.lip_colour), 1)
        for tag in level.tags:
            cv2.rectangle(canvas, tag[:2], (tag[2], tag[3]), level.tag_colour, -1)
            _text_block(canvas, tag, (25, 25, 25))
    last_lip_bottom = scene.levels[-1].lip[3] if scene.levels else scene.floor_top
    if scene.floor_top > last_lip_bottom:  # the kick plate under the lowest shelf
        cv2.rectangle(canvas, (0, last_lip_bottom), (width, scene.floor_top), scene.frame_colour, -1)
    for upright in scene.uprights:
        cv2.rectangle(canvas, upright[:2], (upright[2] - 1, upright[3]), scene.frame_colour, -1)
    if scene.floor_top < height:
        cv2.rectangle(canvas, (0, scene.floor_top), (width, height), scene.floor_colour, -1)
        _shade_rows(canvas, scene.floor_top, height, 0.7, 1.1)
    draw_glare(canvas, scene)
    mask = np.zeros((height, width), np.uint8)
    for occluder in scene.occluders:
        draw = _person if occluder.kind == "person" else _trolley
        draw(mask, occluder, paint=False)
        draw(canvas, occluder, paint=True)
    occluded = mask > 0
    labels: list[PlanarLabel] = []
    for index, item in enumerate(scene.items):
        label = _visible_label(
            PRODUCT_CLASS if item.kind == "product" else GAP_CLASS, item.rect, occluded, index
        )
        if label is not None:
            labels.append(label)
    return PlanarRender(canvas, occluded, tuple(labels))
