"""Oblique aisle views: a receding shelf with exact labels, a backdrop around it, frontal frames untouched."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from synth_scenes import PANEL_BGR, SceneFactory

from smartstore.models.synth.aisle import aisle_view
from smartstore.models.synth.camera import CameraModel, warp_boxes
from smartstore.models.synth.dataset import image_seed
from smartstore.models.synth.degrade import NO_DEGRADATION
from smartstore.models.synth.pipeline import render_view, synthesize, synthesize_scene
from smartstore.models.synth.scene import TRAIN_FAMILIES

TOLERANCE_PX = 2.0
BACKDROP_BGR = (20, 200, 20)


def _drawn_bbox(image: np.ndarray) -> tuple[int, int, int, int]:
    differs = np.abs(image.astype(np.int16) - np.array(PANEL_BGR, np.int16)).max(axis=2) > 40
    rows, cols = np.flatnonzero(differs.any(axis=1)), np.flatnonzero(differs.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _heights(view_seed: int) -> tuple[float, float]:
    """Image height of the planar shelf's left and right ends (their outer eighths)."""
    camera = aisle_view(np.random.default_rng(view_seed), 640, 480).camera
    w, h = camera.planar_width, camera.planar_height
    left, right = warp_boxes([(0, 0, w // 8, h), (w - w // 8, 0, w, h)], _unclipped(camera))
    assert left is not None
    assert right is not None
    return left[3] - left[1], right[3] - right[1]


def _unclipped(camera: CameraModel) -> CameraModel:
    """The same camera on a frame large enough that nothing of the shelf is clipped."""
    shift = np.array([[1, 0, 2000], [0, 1, 2000], [0, 0, 1]], np.float64)
    return replace(
        camera, out_width=5000, out_height=5000, homography=shift @ camera.homography, k1=0.0, k2=0.0
    )


@pytest.mark.parametrize("seed", range(6))
def test_the_shelf_recedes_one_end_far_smaller(seed: int) -> None:
    left, right = _heights(seed)
    near, far = max(left, right), min(left, right)
    assert far / near < 0.65
    assert near > 480  # the near end fills the frame's height


def test_shelf_is_on_either_side_of_the_frame() -> None:
    sides = {"left" if left > right else "right" for left, right in map(_heights, range(20))}
    assert sides == {"left", "right"}


@pytest.mark.parametrize("seed", range(6))
def test_label_matches_product_pixels_in_an_aisle_view(seed: int, single_product_scene: SceneFactory) -> None:
    rng = np.random.default_rng(seed)
    view = aisle_view(rng, 640, 480)
    camera = view.camera
    # Somewhere in the nearer half of the stretch, where the product stays well above the size limit.
    x0 = int(camera.planar_width * rng.uniform(0.1, 0.4))
    y0 = int(camera.planar_height * rng.uniform(0.3, 0.5))
    rect = (x0, y0, x0 + camera.planar_width // 12, y0 + camera.planar_height // 6)
    scene = single_product_scene(rect, camera.planar_width, camera.planar_height)
    backdrop = np.full_like(view.backdrop, PANEL_BGR)
    image = render_view(scene, camera, NO_DEGRADATION, backdrop)
    if not image.labels:  # the mirrored view puts this stretch far away; the box may leave the frame
        pytest.skip("product out of view")
    assert np.allclose(image.labels[0].box, _drawn_bbox(image.image), atol=TOLERANCE_PX)


def test_backdrop_shows_only_where_the_shelf_is_not(single_product_scene: SceneFactory) -> None:
    view = aisle_view(np.random.default_rng(3), 640, 480)
    camera = view.camera
    scene = single_product_scene((10, 10, 20, 20), camera.planar_width, camera.planar_height)
    backdrop = np.full_like(view.backdrop, BACKDROP_BGR)
    image = render_view(scene, camera, NO_DEGRADATION, backdrop).image
    is_backdrop = np.all(np.abs(image.astype(np.int16) - np.array(BACKDROP_BGR)) <= 1, axis=2)
    # The plain panel carries a few per cent of smooth blotches.
    is_shelf = np.all(np.abs(image.astype(np.int16) - np.array(PANEL_BGR)) <= 20, axis=2)
    # Both fill a real part of the frame and between them nearly all of it (the rest: the blended outline).
    assert 0.1 < is_backdrop.mean() < 0.9
    assert 0.1 < is_shelf.mean() < 0.9
    assert (is_backdrop | is_shelf).mean() > 0.98


def test_oblique_share_and_frontal_frames_unchanged() -> None:
    seeds = [image_seed(5, index) for index in range(120)]
    oblique = 0
    for seed in seeds:
        frontal = synthesize_scene(seed, 256, TRAIN_FAMILIES)
        mixed = synthesize_scene(seed, 256, TRAIN_FAMILIES, oblique=0.25)
        if mixed[0].jpeg == frontal[0].jpeg:
            continue
        oblique += 1
        assert mixed[2].planar_width > mixed[2].planar_height  # a long stretch of shelf
    assert 15 <= oblique <= 45  # a quarter of 120, give or take sampling


def test_aisle_frames_are_reproducible_and_labelled() -> None:
    seed = image_seed(5, 0)
    first, second = synthesize(seed, 320, oblique=1.0), synthesize(seed, 320, oblique=1.0)
    assert first.jpeg == second.jpeg
    assert first.labels == second.labels
    assert first.jpeg != synthesize(seed, 320).jpeg
    assert len(first.labels) > 20
