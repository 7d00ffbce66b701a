"""Wire shelving: a wire-grid back panel over what lies behind it, and wire basket fronts over the facings.

On wire shelving a gap shows the grid and whatever is behind it: the next aisle's packs out of focus, or a
dark aisle (issue #26: the detector trained on solid back panels missed most such gaps).
"""

from __future__ import annotations

import cv2
import numpy as np

from smartstore.models.synth.scene import BackPanel, Bgr, Level, grey_colour, hsv_colour

# What shows through the grid: the next aisle's packs, a dark aisle, or a wall in the panel's colour.
BEHIND_WEIGHTS = np.array([0.55, 0.3, 0.15])


def _far_packs(rng: np.random.Generator, height: int, width: int, pitch: int) -> np.ndarray:
    """Rows of out-of-focus packs in the next aisle, dimmer than the packs in front of the grid."""
    canvas = np.empty((height, width, 3), np.uint8)
    canvas[:] = grey_colour(rng, 40, 110)
    y = -int(rng.integers(0, pitch * 4))
    while y < height:
        row_h = int(pitch * rng.uniform(3, 9))
        x = 0
        while x < width:
            pack_w = int(pitch * rng.uniform(1.2, 4))
            colour = (
                grey_colour(rng, 150, 240) if rng.uniform() < 0.4 else hsv_colour(rng, (0.3, 1), (0.3, 1))
            )
            top = y + int(row_h * rng.uniform(0, 0.3))
            cv2.rectangle(canvas, (x, top), (x + pack_w - 1, y + row_h - 2), colour, -1)
            x += pack_w + int(rng.integers(0, 3))
        cv2.rectangle(canvas, (0, y + row_h - 2), (width, y + row_h), grey_colour(rng, 150, 230), -1)
        y += row_h
    sigma = max(1.0, pitch * rng.uniform(0.3, 0.8))
    blurred: np.ndarray = cv2.GaussianBlur(canvas, (0, 0), sigma)
    return blurred


def wire_panel(panel: BackPanel, rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A grid of thin bright wires (cells of about 1.2-2 pitches) over what lies behind the shelf."""
    pitch = panel.pitch
    behind = int(rng.choice(3, p=BEHIND_WEIGHTS))
    if behind == 0:
        back = _far_packs(rng, height, width, pitch).astype(np.float32) * float(rng.uniform(0.35, 0.8))
    elif behind == 1:
        back = np.empty((height, width, 3), np.float32)
        back[:] = grey_colour(rng, 15, 70)
    else:
        back = np.empty((height, width, 3), np.float32)
        back[:] = np.array(panel.colour, np.float32) * float(rng.uniform(0.5, 0.9))
    cell = max(5, int(pitch * rng.uniform(1.2, 2.0)))
    thick = 1 if cell < 14 or rng.uniform() < 0.5 else 2
    wire = np.array(grey_colour(rng, 195, 250, 6), np.float32)
    edge = (back + wire) / 2  # the anti-aliased rim of a wire
    ox, oy = int(rng.integers(cell)), int(rng.integers(cell))
    for start in range(oy, height, cell):
        back[start : start + thick] = wire
        back[start + thick : start + thick + 1] = edge[start + thick : start + thick + 1]
    for start in range(ox, width, cell):
        back[:, start : start + thick] = wire
        back[:, start + thick : start + thick + 1] = edge[:, start + thick : start + thick + 1]
    return back


def draw_wire_front(canvas: np.ndarray, level: Level, colour: Bgr, seed: int) -> None:
    """A wire basket front or shelf fence: one to three rails above the lip, joined by upright wires."""
    rng = np.random.default_rng(seed)
    clear = level.surface - level.top
    thick = max(1, clear // 70)
    rails = [
        level.surface - int(clear * share)
        for share in sorted(rng.uniform(0.06, 0.35, int(rng.integers(1, 4))))
    ]
    shadow = tuple(int(c * 0.45) for c in colour)
    x0, x1 = level.lip[0], level.lip[2]
    for y in rails:
        cv2.line(canvas, (x0, y + thick), (x1, y + thick), shadow, thick)
        cv2.line(canvas, (x0, y), (x1, y), colour, thick, cv2.LINE_AA)
    if rng.uniform() < 0.7:  # upright wires of a basket front
        step = max(4, int(clear * rng.uniform(0.05, 0.15)))
        for x in range(x0 + int(rng.integers(step)), x1, step):
            cv2.line(canvas, (x, min(rails)), (x, level.surface), colour, thick, cv2.LINE_AA)
