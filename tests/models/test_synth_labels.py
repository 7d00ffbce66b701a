"""Every kept label sits on something drawn (products on product pixels, gaps on none); occlusion rules."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from smartstore.models.synth.render import MIN_VISIBLE_SHARE, render_planar
from smartstore.models.synth.scene import Occluder, Scene, generate_scene


def _scene(seed: int, width: int = 700, height: int = 600) -> Scene:
    return generate_scene(np.random.default_rng(seed), width, height, ("plain", "pegboard", "wood"))


@pytest.mark.parametrize("seed", range(6))
def test_product_boxes_lie_on_drawn_products_and_empty_gaps_on_none(seed: int) -> None:
    scene = dataclasses.replace(_scene(seed), occluders=())
    stocked = render_planar(scene)
    bare = render_planar(dataclasses.replace(scene, items=())).image
    changed = np.abs(stocked.image.astype(np.int16) - bare.astype(np.int16)).max(axis=2) > 0
    assert stocked.labels
    for label in stocked.labels:
        x0, y0, x1, y1 = label.box
        share = float(changed[y0:y1, x0:x1].mean())
        kind = scene.items[label.item_index].kind
        if kind == "product":
            assert share > 0.6, (label, share)
        elif kind == "empty_gap":
            # nothing drawn there but the shelf itself, give or take a neighbour's anti-aliased edge
            assert share < 0.02, (label, share)
        else:
            frontal = stocked.image[y0:y1, x0:x1].mean()
            assert frontal < bare[y0:y1, x0:x1].mean() * 0.6  # a dark recess


@pytest.mark.parametrize("seed", range(6))
def test_occluded_objects_lose_or_clip_their_labels(seed: int) -> None:
    scene = _scene(seed)
    person = Occluder("person", (200, 0, 420, scene.height + 10), (90, 60, 40), seed=3)
    scene = dataclasses.replace(scene, occluders=(person,))
    render = render_planar(scene)
    kept = {label.item_index: label for label in render.labels}
    in_frame = [i for i, item in enumerate(scene.items) if item.rect[2] <= scene.width]
    dropped = clipped = 0
    for index in in_frame:
        x0, y0, x1, y1 = scene.items[index].rect
        visible = 1.0 - float(render.occluder_mask[y0:y1, x0:x1].mean())
        if visible < MIN_VISIBLE_SHARE:
            assert index not in kept
            dropped += 1
            continue
        label = kept[index]
        assert label.visible_share == pytest.approx(visible)
        lx0, ly0, lx1, ly1 = label.box
        assert x0 <= lx0 < lx1 <= x1
        assert y0 <= ly0 < ly1 <= y1
        # the kept box is the tight box of what can be seen: each of its borders shows something
        seen = ~render.occluder_mask[ly0:ly1, lx0:lx1]
        assert seen[:, 0].any()
        assert seen[:, -1].any()
        assert seen[0].any()
        assert seen[-1].any()
        clipped += (lx1 - lx0) < (x1 - x0)
    assert dropped > 0
    assert clipped > 0


def test_gap_boxes_are_flatter_than_product_boxes_on_average() -> None:
    product_energy: list[float] = []
    gap_energy: list[float] = []
    for seed in range(15):
        image = render_planar(_scene(seed)).image.astype(np.float32).mean(axis=2)
        edges = np.abs(np.diff(image, axis=1))
        for label in render_planar(_scene(seed)).labels:
            x0, y0, x1, y1 = label.box
            patch = edges[y0:y1, x0 : max(x0 + 1, x1 - 1)]
            (product_energy if label.cls == 0 else gap_energy).append(float(patch.mean()))
    assert gap_energy
    assert np.mean(gap_energy) < 0.6 * np.mean(product_energy)
