"""What makes synthetic shelves look like real aisles: packed rows, narrow runs, shading, photos, tags."""

from __future__ import annotations

import numpy as np
from synth_scenes import seeded_scenes

from smartstore.models.synth.products import draw_product
from smartstore.models.synth.scene import DARK_LOOK_SHARE, ProductLook

GREY = (200, 200, 200)


def test_products_fill_most_of_the_clearance_and_many_runs_are_one_or_two_facings() -> None:
    scenes = seeded_scenes(30)
    shares: list[float] = []
    for scene in scenes:
        for level in scene.levels:
            clear = level.surface - level.top
            shares.extend(
                (item.rect[3] - item.rect[1]) / clear
                for item in scene.items
                if item.kind == "product" and item.rect[3] == level.surface
            )
    runs = [slot.facings for scene in scenes for slot in scene.slots]
    assert np.median(shares) > 0.68
    assert sum(facings <= 2 for facings in runs) / len(runs) > 0.5


def test_round_products_are_darker_towards_their_sides() -> None:
    canvas = np.zeros((120, 60, 3), np.uint8)
    draw_product(canvas, (0, 0, 60, 120), ProductLook("can", GREY, GREY, GREY, GREY, 0, seed=3))
    middle_rows = canvas[40:80].astype(np.float32).mean(axis=(0, 2))
    assert middle_rows[1] < 0.8 * middle_rows[30]
    assert middle_rows[58] < 0.8 * middle_rows[30]


def test_a_pack_photo_adds_many_colours_to_a_plain_face() -> None:
    plain, photo = (np.zeros((120, 80, 3), np.uint8) for _ in range(2))
    draw_product(plain, (0, 0, 80, 120), ProductLook("box", GREY, GREY, GREY, GREY, 2, seed=5))
    draw_product(photo, (0, 0, 80, 120), ProductLook("box", GREY, GREY, GREY, GREY, 2, seed=5, picture=True))

    def colours(image: np.ndarray) -> int:
        return len(np.unique((image // 32).reshape(-1, 3), axis=0))

    assert colours(photo) > colours(plain) + 10


def test_some_stores_have_evenly_spaced_label_strips() -> None:
    evenly_spaced = 0
    for scene in seeded_scenes(30):
        for level in scene.levels:
            steps = np.diff(sorted(tag[0] for tag in level.tags))
            # Tags under SKU runs follow the runs' widths; a strip repeats one pitch along the board.
            if len(steps) and np.bincount(steps).max() >= 5:
                evenly_spaced += 1
    assert evenly_spaced >= 10


def test_some_packs_are_dark_yet_keep_a_colourful_label() -> None:
    looks = {item.look.seed: item.look for scene in seeded_scenes(20) for item in scene.items if item.look}
    dark = [look for look in looks.values() if max(look.body) < 60]
    # The dark share of product colours (model card: without it dark facings read as gaps), give or take.
    assert 0.6 * DARK_LOOK_SHARE < len(dark) / len(looks) < 1.6 * DARK_LOOK_SHARE
    assert all(max(look.band) > 70 or max(look.logo) > 120 for look in dark)
