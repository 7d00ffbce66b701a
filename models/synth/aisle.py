"""Oblique aisle views: a long stretch of shelf receding to a vanishing point, with floor, wall and ceiling.

A shopper's or a store associate's phone photo often looks along the aisle rather than across it: the
near end of the shelf fills the frame's height, the far end is a fraction of it, and the rest of the
frame is floor, wall and ceiling. A detector that only ever saw shelves filling the frame loses most
products in such a view (model card, experiments of 2026-12-03).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from smartstore.models.synth.camera import CameraModel, camera_for_quad
from smartstore.models.synth.scene import grey_colour, hsv_colour

# The planar shelf is drawn at the near end's scale, capped so a long stretch stays quick to draw.
MAX_PLANAR_PIXELS = 5_000_000
# Walls, floors and white signs are greys with more of a colour cast than shelf fittings.
STORE_TINT = 12


@dataclass(frozen=True, slots=True)
class AisleView:
    camera: CameraModel
    bays: int  # shelf bays along the stretch the camera sees
    backdrop: np.ndarray  # out_h x out_w x 3 BGR: what the frame shows around the shelf


def _mirror(quad: np.ndarray, out_w: int) -> np.ndarray:
    """The same view with the shelf on the right: the planar left edge is then the far end."""
    top_left, top_right, bottom_right, bottom_left = quad
    mirrored = np.array([top_right, top_left, bottom_left, bottom_right], np.float32)
    mirrored[:, 0] = out_w - mirrored[:, 0]
    return mirrored


def _sign(canvas: np.ndarray, rng: np.random.Generator, x: int, y: int, width: int, height: int) -> None:
    """A hanging aisle sign or a wall banner: a coloured board with a few strokes of lettering."""
    colour = (
        hsv_colour(rng, (0.0, 0.9), (0.3, 1.0))
        if rng.uniform() < 0.6
        else grey_colour(rng, 225, 255, STORE_TINT)
    )
    ink = (30, 30, 30) if sum(colour) > 380 else (245, 245, 245)
    cv2.rectangle(canvas, (x, y), (x + width, y + height), colour, -1)
    lines = int(rng.integers(1, 4))
    for line in range(lines):
        ly = y + (line + 1) * height // (lines + 1)
        lx0 = x + int(width * rng.uniform(0.05, 0.2))
        lx1 = x + int(width * rng.uniform(0.5, 0.95))
        cv2.line(canvas, (lx0, ly), (lx1, ly), ink, max(1, height // (3 * (lines + 1))))


def aisle_backdrop(
    rng: np.random.Generator, out_w: int, out_h: int, vanishing: tuple[float, float]
) -> np.ndarray:
    """Wall and ceiling above the horizon, a shiny floor below it, floor seams converging on `vanishing`."""
    vx, vy = vanishing
    horizon = int(np.clip(vy, 0, out_h))
    canvas = np.empty((out_h, out_w, 3), np.uint8)
    wall = (
        grey_colour(rng, 150, 240, STORE_TINT)
        if rng.uniform() < 0.6
        else hsv_colour(rng, (0.2, 0.6), (0.45, 0.85))
    )
    ceiling = grey_colour(rng, 180, 250, STORE_TINT)
    ceiling_line = int(horizon * rng.uniform(0.0, 0.45))
    canvas[:ceiling_line] = ceiling
    canvas[ceiling_line:horizon] = wall
    for _ in range(int(rng.integers(0, 4))):  # ceiling lights
        lx = int(rng.integers(0, out_w))
        ly = int(rng.integers(0, max(1, ceiling_line)))
        cv2.rectangle(canvas, (lx, ly), (lx + out_w // 12, ly + max(2, out_h // 80)), (250, 250, 250), -1)
    for _ in range(int(rng.integers(0, 4))):
        width = int(out_w * rng.uniform(0.08, 0.3))
        height = max(4, int(width * rng.uniform(0.15, 0.45)))
        _sign(canvas, rng, int(rng.integers(0, out_w)), int(rng.integers(0, max(1, horizon))), width, height)
    floor = np.array(grey_colour(rng, 150, 235, STORE_TINT), np.float32)
    ramp = np.linspace(0.8, 1.1, max(1, out_h - horizon), dtype=np.float32)[:, None, None]
    canvas[horizon:] = np.clip(floor * ramp, 0, 255).astype(np.uint8)[: out_h - horizon]
    seam = tuple(int(c * 0.8) for c in floor)
    for x_edge in np.linspace(-out_w, 2 * out_w, int(rng.integers(4, 14))):
        cv2.line(canvas, (int(vx), horizon), (int(x_edge), out_h), seam, 1, cv2.LINE_AA)
    shine = np.zeros((out_h, out_w), np.float32)  # ceiling lights mirrored in a polished floor
    for _ in range(int(rng.integers(0, 4))):
        centre = (int(rng.integers(0, out_w)), int(rng.uniform(horizon, out_h)))
        axes = (max(2, int(out_w * rng.uniform(0.02, 0.08))), max(2, int(out_h * rng.uniform(0.05, 0.2))))
        cv2.ellipse(shine, centre, axes, 0, 0, 360, float(rng.uniform(0.2, 0.5)), -1)
    glow = np.asarray(cv2.GaussianBlur(shine, (0, 0), max(1.0, out_w / 60)), np.float32)
    glow[:horizon] = 0
    lit = canvas.astype(np.float32) + glow[:, :, None] * 255
    backdrop: np.ndarray = np.clip(lit, 0, 255).astype(np.uint8)
    return backdrop


def aisle_view(rng: np.random.Generator, out_w: int, out_h: int) -> AisleView:
    """A camera looking along the aisle at a shelf on its left or right, and what it sees around it."""
    near_x = -out_w * rng.uniform(0.0, 0.35)
    near_top = -out_h * rng.uniform(0.0, 0.35)
    near_bottom = out_h * (1 + rng.uniform(0.0, 0.35))
    far_x = out_w * rng.uniform(0.5, 0.92)
    # How much smaller the far end looks than the near end: the steeper the view, the smaller.
    far_ratio = float(rng.uniform(0.15, 0.6))
    horizon = out_h * rng.uniform(0.3, 0.6)
    along = 1.0 - far_ratio  # where the far end lies on the way from the near end to the vanishing point
    vanishing_x = near_x + (far_x - near_x) / along
    quad = np.array(
        [
            [near_x, near_top],
            [far_x, near_top + along * (horizon - near_top)],
            [far_x, near_bottom + along * (horizon - near_bottom)],
            [near_x, near_bottom],
        ],
        np.float32,
    )
    vanishing = (vanishing_x, horizon)
    if rng.uniform() < 0.5:
        quad = _mirror(quad, out_w)
        vanishing = (out_w - vanishing_x, horizon)
    # The stretch's length over its height, in metres: two to eight metres of a shelf about two high.
    stretch = float(rng.uniform(1.0, 4.0))
    bays = max(2, round(stretch * rng.uniform(1.2, 2.0)))
    planar_h = int(near_bottom - near_top)
    planar_w = int(planar_h * stretch)
    shrink = min(1.0, (MAX_PLANAR_PIXELS / (planar_w * planar_h)) ** 0.5)
    planar_w, planar_h = max(64, int(planar_w * shrink)), max(64, int(planar_h * shrink))
    k1 = float(rng.uniform(-0.03, 0.12)) if rng.uniform() < 0.5 else 0.0
    camera = camera_for_quad(out_w, out_h, planar_w, planar_h, quad, k1=k1)
    return AisleView(camera, bays, aisle_backdrop(rng, out_w, out_h, vanishing))
