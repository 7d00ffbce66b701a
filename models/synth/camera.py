"""A shelf camera's view of the planar scene: perspective and lens distortion, on pixels and boxes alike."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from smartstore.models.synth.scene import Rect

OUTLINE_SAMPLES = 24  # points per box side: distortion bends straight edges, so corners alone are not enough
MIN_BOX_PX = 3.0
MIN_IN_FRAME_SHARE = 0.4  # a box cut by the frame edge keeps its label only if this much stays in view

BoxF = tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class CameraModel:
    out_width: int
    out_height: int
    planar_width: int
    planar_height: int
    homography: np.ndarray  # planar -> undistorted output pixels
    k1: float  # radial distortion: > 0 barrel, < 0 pincushion
    k2: float

    @property
    def focal(self) -> float:
        return float(max(self.out_width, self.out_height))


def _corner_scale(out_w: int, out_h: int, k1: float, k2: float) -> float:
    r2 = ((out_w / 2) ** 2 + (out_h / 2) ** 2) / max(out_w, out_h) ** 2
    return max(1.0, 1 + k1 * r2 + k2 * r2 * r2)


def random_camera(rng: np.random.Generator, out_w: int, out_h: int, strength: float = 1.0) -> CameraModel:
    """A camera across the aisle, tilted and yawed: the shelf's image is a quad covering the whole frame."""
    k1 = float(rng.uniform(-0.06, 0.22)) * strength if rng.uniform() < 0.7 else 0.0
    k2 = float(rng.uniform(-0.02, 0.05)) * strength if k1 else 0.0
    scale = _corner_scale(out_w, out_h, k1, k2)
    cx, cy = out_w / 2, out_h / 2
    half_w, half_h = out_w / 2 * scale, out_h / 2 * scale
    margins = rng.uniform(0.0, 0.3 * strength, size=(4, 2)) * np.array([out_w, out_h])
    margins += rng.uniform(0.02, 0.2) * np.array(
        [out_w, out_h]
    )  # zoom: how much shelf falls outside the frame
    quad = np.array(
        [
            [cx - half_w - margins[0, 0], cy - half_h - margins[0, 1]],
            [cx + half_w + margins[1, 0], cy - half_h - margins[1, 1]],
            [cx + half_w + margins[2, 0], cy + half_h + margins[2, 1]],
            [cx - half_w - margins[3, 0], cy + half_h + margins[3, 1]],
        ],
        np.float32,
    )
    planar_w = round(float(quad[1, 0] - quad[0, 0] + quad[2, 0] - quad[3, 0]) / 2)
    planar_h = round(float(quad[3, 1] - quad[0, 1] + quad[2, 1] - quad[1, 1]) / 2)
    return camera_for_quad(out_w, out_h, planar_w, planar_h, quad, k1, k2)


def camera_for_quad(
    out_w: int, out_h: int, planar_w: int, planar_h: int, quad: np.ndarray, k1: float = 0.0, k2: float = 0.0
) -> CameraModel:
    """The camera that maps the planar rectangle's corners onto `quad` (TL, TR, BR, BL) in the output."""
    source = np.array([[0, 0], [planar_w, 0], [planar_w, planar_h], [0, planar_h]], np.float32)
    homography = cv2.getPerspectiveTransform(source, np.asarray(quad, np.float32))
    return CameraModel(out_w, out_h, planar_w, planar_h, homography.astype(np.float64), k1, k2)


def _undistort(camera: CameraModel, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Output (distorted) pixels -> ideal pinhole pixels; the explicit direction, used to build the remap."""
    cx, cy, f = camera.out_width / 2, camera.out_height / 2, camera.focal
    nx, ny = (x - cx) / f, (y - cy) / f
    r2 = nx * nx + ny * ny
    factor = 1 + camera.k1 * r2 + camera.k2 * r2 * r2
    return cx + nx * factor * f, cy + ny * factor * f


def _distort(camera: CameraModel, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ideal pixels -> output pixels: `_undistort` inverted by fixed-point iteration (converges for our k)."""
    if camera.k1 == 0 and camera.k2 == 0:
        return x, y
    cx, cy, f = camera.out_width / 2, camera.out_height / 2, camera.focal
    ux, uy = (x - cx) / f, (y - cy) / f
    dx, dy = ux.copy(), uy.copy()
    for _ in range(20):
        r2 = dx * dx + dy * dy
        factor = 1 + camera.k1 * r2 + camera.k2 * r2 * r2
        dx, dy = ux / factor, uy / factor
    return cx + dx * f, cy + dy * f


def warp_image(planar: np.ndarray, camera: CameraModel, backdrop: np.ndarray | None = None) -> np.ndarray:
    """Resample the planar image into the camera's frame: one remap for perspective and distortion.

    Without a backdrop the planar image's edge is repeated where the frame sees past it (the shelf fills
    the frame); with one, the backdrop shows there, blended along the shelf's anti-aliased outline.
    """
    ys, xs = np.mgrid[0 : camera.out_height, 0 : camera.out_width].astype(np.float32)
    ux, uy = _undistort(camera, xs, ys)
    points = np.stack([ux, uy], axis=-1).reshape(-1, 1, 2).astype(np.float32)
    source = cv2.perspectiveTransform(points, np.linalg.inv(camera.homography)).reshape(
        camera.out_height, camera.out_width, 2
    )
    map_x, map_y = np.ascontiguousarray(source[..., 0]), np.ascontiguousarray(source[..., 1])
    if backdrop is None:
        return cv2.remap(planar, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    # Remapping with a black border gives the shelf premultiplied by its coverage; the coverage itself
    # comes from remapping a plane of ones the same way.
    shelf = cv2.remap(planar, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    ones = np.ones(planar.shape[:2], np.float32)
    coverage = cv2.remap(ones, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    blended = shelf.astype(np.float32) + backdrop.astype(np.float32) * (1.0 - coverage)[:, :, None]
    return np.clip(blended, 0, 255).astype(np.uint8)


def _outlines(rects: list[Rect]) -> np.ndarray:
    """Dense points along each box's border: boxes x samples x 2."""
    # Pixel i spans [i, i + 1) but remap samples at pixel centres: shift by half a pixel both ways.
    corners = np.asarray(rects, np.float64) - 0.5
    x0, y0, x1, y1 = (corners[:, i : i + 1] for i in range(4))
    t = np.linspace(0.0, 1.0, OUTLINE_SAMPLES, endpoint=False)[None, :]
    ones = np.ones_like(t)
    xs = np.concatenate([x0 + (x1 - x0) * t, x1 * ones, x1 - (x1 - x0) * t, x0 * ones], axis=1)
    ys = np.concatenate([y0 * ones, y0 + (y1 - y0) * t, y1 * ones, y1 - (y1 - y0) * t], axis=1)
    return np.stack([xs, ys], axis=-1)


def warp_boxes(
    rects: list[Rect], camera: CameraModel, min_in_frame: float = MIN_IN_FRAME_SHARE
) -> list[BoxF | None]:
    """Each planar box as the output-pixel bounding box of its warped outline, clipped to the frame.

    None where the box leaves the frame (less than `min_in_frame` of it in view) or becomes tiny.
    """
    if not rects:
        return []
    outlines = _outlines(rects)
    flat = outlines.reshape(-1, 1, 2)
    ideal = cv2.perspectiveTransform(flat, camera.homography).reshape(-1, 2)
    dx, dy = _distort(camera, ideal[:, 0], ideal[:, 1])
    warped = np.stack([dx, dy], axis=-1).reshape(outlines.shape)
    lows, highs = warped.min(axis=1) + 0.5, warped.max(axis=1) + 0.5
    boxes: list[BoxF | None] = []
    for (x0, y0), (x1, y1) in zip(lows.tolist(), highs.tolist(), strict=True):
        area = max(1e-6, (x1 - x0) * (y1 - y0))
        cx0, cy0 = max(0.0, x0), max(0.0, y0)
        cx1, cy1 = min(float(camera.out_width), x1), min(float(camera.out_height), y1)
        tiny = cx1 - cx0 < MIN_BOX_PX or cy1 - cy0 < MIN_BOX_PX
        if tiny or (cx1 - cx0) * (cy1 - cy0) / area < min_in_frame:
            boxes.append(None)
        else:
            boxes.append((cx0, cy0, cx1, cy1))
    return boxes
