"""Synthetic scenes for the generator's tests: hand-built ones with known contents, and seeded batches."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from smartstore.models.synth.scene import TRAIN_FAMILIES, Rect, Scene, generate_scene


class SceneFactory(Protocol):
    def __call__(self, rect: Rect, width: int = 900, height: int = 700) -> Scene: ...


PANEL_BGR = (235, 235, 235)


def seeded_scenes(count: int) -> list[Scene]:
    """Scenes of seeds 0..count-1 at 1200 x 900 planar pixels, training back panels."""
    return [generate_scene(np.random.default_rng(seed), 1200, 900, TRAIN_FAMILIES) for seed in range(count)]
