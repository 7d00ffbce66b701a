"""Gaps in the synthetic scenes: frequent enough to learn, one box per empty stretch."""

from __future__ import annotations

import itertools

from synth_scenes import seeded_scenes


def test_adjacent_empty_facings_form_one_gap() -> None:
    for scene in seeded_scenes(40):
        gaps = sorted(
            (item.rect for item in scene.items if item.kind != "product"), key=lambda r: (r[3], r[0])
        )
        for left, right in itertools.pairwise(gaps):
            same_level = left[3] == right[3]
            assert not (same_level and 0 <= right[0] - left[2] <= 6), (left, right)


def test_most_scenes_have_gaps() -> None:
    scenes = seeded_scenes(60)
    with_gaps = sum(any(item.kind != "product" for item in scene.items) for scene in scenes)
    gap_share = sum(item.kind != "product" for s in scenes for item in s.items) / sum(
        len(s.items) for s in scenes
    )
    assert with_gaps >= 0.8 * len(scenes)
    assert gap_share >= 0.04
