"""What real store photos show that a clean layout lacks: deep shadowed shelves, dark gaps, wire basket
fronts, price-tag rails and glare (issue #26). Drawn from a stream of the scene's own, so layouts stay put.
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from smartstore.models.synth.scene import Finish, Item, Level, Rect, Scene, grey_colour, product_look

# Shares, each from looking at the CC BY wire-shelf aisle and the failures on it (issue #26):
# deep shelves whose back is in near-black shadow (a gap there is a black cavity): the detector missed them
DEEP_SHELF_SHARE = 0.15
# on other shelves, gaps with a shadowed back under the shelf above (the lit lip, then a dark cavity)
SHADOW_GAP_SHARE = 0.25
# of the shadowed gaps, those with one product pushed far back: still a gap, small and darker
PUSHED_BACK_SHARE = 0.4
# scenes whose shelves have wire basket fronts or fences over the facings; most of them on wire shelving
WIRE_FRONT_SHARE = 0.15
WIRE_FRONT_SHARE_ON_WIRE = 0.6
# scenes with a white or clear price-tag rail along every lip, densely hung with white or yellow tags
TAG_RAIL_SHARE = 0.3
# scenes with specular glare on packs and lips (shiny film, lacquered board, a phone under strip lights)
GLARE_SHARE = 0.35
FINISH_STREAM = 0xF1A15


def _tag_rail(rng: np.random.Generator, level: Level, width: int, tag_w: int, yellow: bool) -> Level:
    """A pale rail along the lip, hung with evenly spaced tags whatever stands above them."""
    _, y0, _, y1 = level.lip
    lip_h = y1 - y0
    tag_h = max(3, int(lip_h * rng.uniform(0.55, 0.9)))
    tag_y = y0 + (lip_h - tag_h) // 2
    pitch = max(tag_w + 2, int(tag_w * rng.uniform(1.05, 1.8)))
    tags = tuple(
        (x, tag_y, x + tag_w, tag_y + tag_h)
        for x in range(int(rng.integers(0, pitch)), width - tag_w, pitch)
        if rng.uniform() < 0.9
    )
    tag_colour = (int(rng.integers(20, 90)), int(rng.integers(205, 240)), int(rng.integers(235, 256)))
    return replace(
        level,
        lip_colour=grey_colour(rng, 165, 215, 10),  # a clear or pale rail, darker than white tags
        tags=tags,
        tag_colour=tag_colour if yellow else (250, 250, 250),
    )


def add_finish(scene: Scene) -> Scene:
    """`scene` with the shadows, dark gaps, wire fronts, tag rails and glare of a real store photo."""
    rng = np.random.default_rng([scene.panel.seed, FINISH_STREAM])
    deep = float(rng.uniform(0.6, 1.0)) if rng.uniform() < DEEP_SHELF_SHARE else 0.0
    items = list(scene.items)
    shadow_gaps: list[int] = []
    for index, item in enumerate(items):
        if item.kind == "product" or not (deep or rng.uniform() < SHADOW_GAP_SHARE):
            continue
        shadow_gaps.append(index)
        if item.look is None and rng.uniform() < PUSHED_BACK_SHARE:
            items[index] = Item("frontal_gap", item.rect, product_look(rng))
    front_share = WIRE_FRONT_SHARE_ON_WIRE if scene.panel.family == "wire" else WIRE_FRONT_SHARE
    wire_fronts: tuple[int, ...] = ()
    if rng.uniform() < front_share:
        wire_fronts = tuple(i for i in range(len(scene.levels)) if rng.uniform() < 0.7)
    levels = scene.levels
    tag_rail = bool(rng.uniform() < TAG_RAIL_SHARE)
    if tag_rail:
        tag_w = max(6, int(scene.width * rng.uniform(0.025, 0.05)))
        yellow = bool(rng.uniform() < 0.5)
        levels = tuple(_tag_rail(rng, level, scene.width, tag_w, yellow) for level in levels)
    finish = Finish(
        deep=deep,
        shadow_gaps=tuple(shadow_gaps),
        wire_fronts=wire_fronts,
        wire_colour=grey_colour(rng, 190, 245, 6),
        tag_rail=tag_rail,
        glare=int(rng.integers(2, 10)) if rng.uniform() < GLARE_SHARE else 0,
        seed=int(rng.integers(2**31)),
    )
    return replace(scene, items=tuple(items), levels=levels, finish=finish)


def shade_deep_shelves(canvas: np.ndarray, scene: Scene) -> None:
    """The back of each shelf near-black under the shelf above, lighter towards the lit front lip."""
    deep = scene.finish.deep
    if deep <= 0:
        return
    low, high = 0.04 + 0.3 * (1 - deep), 1 - 0.55 * deep
    for level in scene.levels:
        y0, y1 = max(0, level.top), min(canvas.shape[0], level.surface - level.board_depth)
        if y1 <= y0:
            continue
        ramp = low + (high - low) * np.linspace(0, 1, y1 - y0, dtype=np.float32) ** 1.5
        canvas[y0:y1] = (canvas[y0:y1] * ramp[:, None, None]).astype(np.uint8)


def shadow_cavity(canvas: np.ndarray, rect: Rect, seed: int) -> None:
    """A gap's back in deep shadow: near-black at the top, lighter towards the lip, darker at the sides."""
    x0, y0 = max(0, rect[0]), max(0, rect[1])
    x1, y1 = min(canvas.shape[1], rect[2]), min(canvas.shape[0], rect[3])
    if x1 - x0 < 2 or y1 - y0 < 2:
        return
    rng = np.random.default_rng(seed)
    top, bottom = float(rng.uniform(0.04, 0.14)), float(rng.uniform(0.25, 0.5))
    down = top + (bottom - top) * np.linspace(0, 1, y1 - y0, dtype=np.float32) ** 2
    across = 0.7 + 0.3 * np.sin(np.linspace(0, np.pi, x1 - x0, dtype=np.float32))
    region = canvas[y0:y1, x0:x1]
    region[:] = (region * (down[:, None] * across[None, :])[:, :, None]).astype(np.uint8)


def _glow(canvas: np.ndarray, centre: tuple[int, int], axes: tuple[int, int], strength: float) -> None:
    """A soft specular highlight: the pixels pulled towards white inside a blurred ellipse."""
    cx, cy = centre
    ax, ay = max(1, axes[0]), max(1, axes[1])
    pad = max(ax, ay) // 2 + 2
    x0, y0 = max(0, cx - ax - pad), max(0, cy - ay - pad)
    x1, y1 = min(canvas.shape[1], cx + ax + pad), min(canvas.shape[0], cy + ay + pad)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return
    mask = np.zeros((y1 - y0, x1 - x0), np.float32)
    cv2.ellipse(mask, (cx - x0, cy - y0), (ax, ay), 0, 0, 360, strength, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), max(0.8, min(ax, ay) * 0.5))[:, :, None]
    region = canvas[y0:y1, x0:x1].astype(np.float32)
    canvas[y0:y1, x0:x1] = (region + (255 - region) * mask).astype(np.uint8)


def draw_glare(canvas: np.ndarray, scene: Scene) -> None:
    """Highlight blobs on packs and bands along shelf lips; labels stay, as glare hides nothing."""
    if scene.finish.glare <= 0:
        return
    rng = np.random.default_rng([scene.finish.seed, 1])
    products = [item.rect for item in scene.items if item.kind == "product"]
    for _ in range(scene.finish.glare):
        strength = float(rng.uniform(0.5, 0.95))
        if products and rng.uniform() < 0.7:
            x0, y0, x1, y1 = products[int(rng.integers(len(products)))]
            centre = (int(rng.uniform(x0, x1)), int(rng.uniform(y0, y0 + (y1 - y0) * 0.6)))
            axes = (int((x1 - x0) * rng.uniform(0.15, 0.6)), int((y1 - y0) * rng.uniform(0.05, 0.3)))
        elif scene.levels:
            x0, y0, x1, y1 = scene.levels[int(rng.integers(len(scene.levels)))].lip
            centre = (int(rng.uniform(x0, x1)), (y0 + y1) // 2)
            axes = (int(scene.width * rng.uniform(0.03, 0.2)), max(1, (y1 - y0) // 3))
        else:
            continue
        _glow(canvas, centre, axes, strength)
