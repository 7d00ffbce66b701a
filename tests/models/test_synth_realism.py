"""Sim-to-real elements (issue #26): wire shelving, dark gaps, plain packs, tag rails, glare, framing."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from smartstore.models.synth import GAP_CLASS, PRODUCT_CLASS
from smartstore.models.synth.degrade import HARSH_SHARE, random_degradation
from smartstore.models.synth.pipeline import synthesize, synthesize_scene
from smartstore.models.synth.realism import add_finish
from smartstore.models.synth.render import render_planar
from smartstore.models.synth.scene import (
    HELDOUT_FAMILIES,
    PLAIN_LOOK_SHARE,
    TRAIN_FAMILIES,
    BackPanel,
    Scene,
    generate_scene,
)
from smartstore.models.synth.wire import wire_panel


def _finished(count: int, families: tuple[str, ...] = TRAIN_FAMILIES, start: int = 0) -> list[Scene]:
    return [
        add_finish(generate_scene(np.random.default_rng(seed), 800, 600, families))
        for seed in range(start, start + count)
    ]


def _grey(image: np.ndarray) -> np.ndarray:
    return np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), np.float32)


def _thin_bright_lines(profile: np.ndarray) -> list[int]:
    """Widths of the runs where a 1-D brightness profile stands well above its local median."""
    background = np.array([np.median(profile[max(0, i - 6) : i + 7]) for i in range(len(profile))])
    bright = np.concatenate([[False], profile - background > 20, [False]])
    edges = np.flatnonzero(np.diff(bright.astype(np.int8)))
    return [int(end - start) for start, end in zip(edges[::2], edges[1::2], strict=True)]


def test_wire_family_trains_and_held_out_families_are_untouched() -> None:
    assert "wire" in TRAIN_FAMILIES
    assert "wire" not in HELDOUT_FAMILIES
    assert HELDOUT_FAMILIES == ("tiles", "gradient", "stripes")
    assert synthesize(3, 256, ("wire",)).panel_family == "wire"


def test_wire_panel_is_a_grid_of_thin_bright_lines() -> None:
    for seed in range(6):
        panel = BackPanel("wire", (200, 200, 200), (150, 150, 150), 12, seed)
        grey = _grey(
            np.clip(wire_panel(panel, np.random.default_rng(seed), 300, 400), 0, 255).astype(np.uint8)
        )
        across, down = _thin_bright_lines(grey.mean(axis=0)), _thin_bright_lines(grey.mean(axis=1))
        # cells of at most two 24 px pitches
        assert len(across) >= 400 // 48
        assert len(down) >= 300 // 48
        assert max(across + down) <= 3  # wires, not stripes


def test_a_gap_on_wire_shelving_shows_the_grid() -> None:
    scenes = _finished(40, ("wire",))
    seen = 0
    for scene in scenes:
        planar = render_planar(replace(scene, occluders=(), finish=replace(scene.finish, shadow_gaps=())))
        for label in planar.labels:
            x0, y0, x1, y1 = label.box
            item = scene.items[label.item_index]
            if label.cls != GAP_CLASS or item.kind != "empty_gap" or x1 - x0 < 60 or y1 - y0 < 40:
                continue
            crop = _grey(planar.image[y0 : y1 - (y1 - y0) // 4, x0:x1])
            seen += len(_thin_bright_lines(crop.mean(axis=0))) >= 2
    assert seen >= 5


def test_deep_shelves_and_shadowed_gaps_are_dark_and_still_gaps() -> None:
    scenes = [scene for scene in _finished(80) if scene.finish.shadow_gaps][:12]
    assert any(scene.finish.deep > 0 for scene in scenes)
    luminances: list[float] = []
    for scene in scenes:
        planar = render_planar(replace(scene, occluders=(), finish=replace(scene.finish, glare=0)))
        for label in planar.labels:
            if label.item_index in scene.finish.shadow_gaps:
                assert label.cls == GAP_CLASS
                x0, y0, x1, y1 = label.box
                luminances.append(float(_grey(planar.image[y0:y1, x0:x1]).mean()))
    assert len(luminances) >= 10
    assert np.median(luminances) < 55
    # Some shadowed gaps hold one product pushed far back: a dark recess, labelled a gap.
    assert any(
        scene.items[index].kind == "frontal_gap" and scene.items[index].look is not None
        for scene in scenes
        for index in scene.finish.shadow_gaps
    )


def test_finish_keeps_every_product_and_adds_no_gap() -> None:
    for seed in range(20):
        bare = generate_scene(np.random.default_rng(seed), 800, 600, TRAIN_FAMILIES)
        finished = add_finish(bare)
        assert len(finished.items) == len(bare.items)
        for before, after in zip(bare.items, finished.items, strict=True):
            assert before.rect == after.rect
            assert (before.kind == "product") == (after.kind == "product")
            if before.kind == "product":
                assert before.look == after.look


def test_plain_and_black_packs_are_labelled_products() -> None:
    scenes = _finished(30)
    looks = {item.look.seed: item.look for scene in scenes for item in scene.items if item.look}
    plain = [look for look in looks.values() if look.plain]
    assert 0.5 * PLAIN_LOOK_SHARE < len(plain) / len(looks) < 1.6 * PLAIN_LOOK_SHARE
    assert any(max(look.body) < 50 for look in plain)  # black packs
    assert any(look.body[2] > look.body[0] + 25 for look in plain)  # kraft: redder than blue
    checked = 0
    for scene in scenes[:10]:
        planar = render_planar(scene)
        for label in planar.labels:
            look = scene.items[label.item_index].look
            if scene.items[label.item_index].kind == "product" and look is not None and look.plain:
                assert label.cls == PRODUCT_CLASS
                checked += 1
    assert checked >= 10


def test_tag_rails_hang_many_evenly_spaced_tags_on_every_lip() -> None:
    railed = [scene for scene in _finished(40) if scene.finish.tag_rail]
    assert railed
    for scene in railed[:5]:
        for level in scene.levels:
            steps = np.diff([tag[0] for tag in level.tags])
            assert np.bincount(steps).max() >= len(level.tags) // 3  # one pitch, a few tags missing
            assert all(level.lip[1] <= tag[1] and tag[3] <= level.lip[3] for tag in level.tags)


def test_glare_and_wire_fronts_only_brighten_or_cover_and_keep_the_labels() -> None:
    scene = next(scene for scene in _finished(30) if scene.finish.glare)
    bare = replace(scene, finish=replace(scene.finish, glare=0, wire_fronts=()))
    lit = render_planar(replace(scene, finish=replace(scene.finish, wire_fronts=())))
    fenced = render_planar(replace(bare, finish=replace(bare.finish, wire_fronts=(0, 1, 2))))
    plain = render_planar(bare)
    assert lit.labels == plain.labels == fenced.labels
    gain = lit.image.astype(np.int16) - plain.image.astype(np.int16)
    assert gain.min() >= 0
    assert (gain.max(axis=2) > 40).sum() > 50  # highlight blobs, not a faint tint
    assert (fenced.image != plain.image).any()


def test_a_share_of_frames_are_harsh_phone_photos() -> None:
    params = [random_degradation(np.random.default_rng(seed)) for seed in range(400)]
    harsh = [p for p in params if p.jpeg_quality <= 40 and p.noise_sigma >= 8.0]
    assert 0.6 * HARSH_SHARE < len(harsh) / len(params) < 1.6 * HARSH_SHARE


def test_wide_phone_frames_show_ceiling_and_floor_around_the_unit() -> None:
    wide = 0
    for seed in range(30):
        image, _, camera = synthesize_scene(seed, 320)
        corners = np.array([[0, 0, 1], [camera.planar_width, camera.planar_height, 1]], np.float64)
        mapped = corners @ camera.homography.T
        top, bottom = mapped[0, 1] / mapped[0, 2], mapped[1, 1] / mapped[1, 2]
        if top > 0.03 * image.height and bottom < 0.97 * image.height:
            wide += 1
            assert all(label.box[1] >= top - 4 and label.box[3] <= bottom + 4 for label in image.labels)
    assert 2 <= wide <= 14


def test_new_elements_keep_same_seed_same_bytes() -> None:
    for seed in (4, 11, 17):
        first, second = synthesize(seed, 320, ("wire",)), synthesize(seed, 320, ("wire",))
        assert first.jpeg == second.jpeg
        assert first.yolo_text() == second.yolo_text()
