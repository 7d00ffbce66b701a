"""Perspective and lens distortion move labels exactly with the pixels."""

from __future__ import annotations

import numpy as np
import pytest
from synth_scenes import PANEL_BGR, SceneFactory

from smartstore.models.synth.camera import camera_for_quad, random_camera, warp_boxes
from smartstore.models.synth.degrade import NO_DEGRADATION
from smartstore.models.synth.pipeline import render_view

TOLERANCE_PX = 2.0


def _drawn_bbox(image: np.ndarray) -> tuple[int, int, int, int]:
    differs = np.abs(image.astype(np.int16) - np.array(PANEL_BGR, np.int16)).max(axis=2) > 40
    rows, cols = np.flatnonzero(differs.any(axis=1)), np.flatnonzero(differs.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


@pytest.mark.parametrize("seed", range(8))
def test_label_matches_warped_product_pixels(seed: int, single_product_scene: SceneFactory) -> None:
    rng = np.random.default_rng(seed)
    camera = random_camera(rng, 640, 480, strength=1.5)
    x0 = int(camera.planar_width * rng.uniform(0.35, 0.5))
    y0 = int(camera.planar_height * rng.uniform(0.35, 0.5))
    rect = (x0, y0, x0 + int(rng.integers(30, 120)), y0 + int(rng.integers(40, 140)))
    scene = single_product_scene(rect, camera.planar_width, camera.planar_height)
    view = render_view(scene, camera, NO_DEGRADATION)
    assert len(view.labels) == 1
    expected = _drawn_bbox(view.image)
    assert np.allclose(view.labels[0].box, expected, atol=TOLERANCE_PX), (view.labels[0].box, expected)


@pytest.mark.parametrize("k1", [-0.08, 0.15, 0.3])
def test_strong_lens_distortion_near_the_corner(k1: float, single_product_scene: SceneFactory) -> None:
    quad = np.array([[-60, -40], [700, -90], [720, 560], [-80, 520]], np.float32)
    camera = camera_for_quad(640, 480, 800, 600, quad, k1=k1, k2=0.02)
    scene = single_product_scene(
        (60, 50, 200, 180), 800, 600
    )  # near the top-left, where distortion is strongest
    view = render_view(scene, camera, NO_DEGRADATION)
    assert len(view.labels) == 1
    assert np.allclose(view.labels[0].box, _drawn_bbox(view.image), atol=TOLERANCE_PX)


def test_boxes_mostly_outside_the_frame_are_dropped_and_others_clipped() -> None:
    quad = np.array([[0, 0], [640, 0], [640, 480], [0, 480]], np.float32)
    camera = camera_for_quad(640, 480, 640, 480, quad)
    inside, cut, gone = warp_boxes([(100, 100, 200, 200), (600, 100, 700, 200), (620, 100, 720, 200)], camera)
    assert inside == pytest.approx((100, 100, 200, 200), abs=1e-3)
    assert cut == pytest.approx((600, 100, 640, 200), abs=1e-3)
    assert gone is None


def test_a_stricter_in_frame_share_drops_boxes_the_edge_cuts() -> None:
    quad = np.array([[0, 0], [640, 0], [640, 480], [0, 480]], np.float32)
    camera = camera_for_quad(640, 480, 640, 480, quad)
    rects = [(100, 100, 200, 200), (600, 100, 700, 200), (540, 100, 644, 200)]  # in, 40 % in, 96 % in
    inside, cut, nearly = warp_boxes(rects, camera, min_in_frame=0.95)
    assert inside == pytest.approx((100, 100, 200, 200), abs=1e-3)
    assert cut is None
    assert nearly == pytest.approx((540, 100, 640, 200), abs=1e-3)
