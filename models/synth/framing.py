"""Wide phone framing: a whole unit of several shelves facing the camera, with ceiling above and floor below.

Phone photos of a shelf are seldom filled edge to edge by it: the top of the unit, a strip of wall or
ceiling and the floor in front show too (issue #26). The backdrop is the oblique view's (`aisle.py`).
"""

from __future__ import annotations

import numpy as np

from smartstore.models.synth.aisle import aisle_backdrop
from smartstore.models.synth.camera import CameraModel, camera_for_quad

# Frontal frames drawn as a wide phone view instead of a shelf camera filling the frame.
WIDE_FRAME_SHARE = 0.2
WIDE_STREAM = 0x3D1DE


def wide_view(rng: np.random.Generator, out_w: int, out_h: int) -> tuple[CameraModel, np.ndarray]:
    """A shelf unit spanning the frame's width, its top and bottom inside it, a little keystoned."""
    top = out_h * rng.uniform(0.04, 0.22)
    bottom = out_h * rng.uniform(0.8, 0.96)
    left, right = -out_w * rng.uniform(0.0, 0.15), out_w * (1 + rng.uniform(0.0, 0.15))
    # A phone held below or above the shelf's middle sees its top or bottom narrower.
    keystone = out_w * rng.uniform(-0.06, 0.06)
    top_in, bottom_in = max(0.0, keystone), max(0.0, -keystone)
    quad = np.array(
        [
            [left + top_in, top],
            [right - top_in, top],
            [right - bottom_in, bottom],
            [left + bottom_in, bottom],
        ],
        np.float32,
    )
    planar_w, planar_h = max(64, int(right - left)), max(64, int(bottom - top))
    k1 = float(rng.uniform(-0.03, 0.12)) if rng.uniform() < 0.5 else 0.0
    camera = camera_for_quad(out_w, out_h, planar_w, planar_h, quad, k1=k1)
    vanishing = (out_w * float(rng.uniform(0.3, 0.7)), bottom - (bottom - top) * float(rng.uniform(0.0, 0.1)))
    return camera, aisle_backdrop(rng, out_w, out_h, vanishing)
