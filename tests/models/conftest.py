"""Fixtures for the synthetic shelf generator: hand-built scenes with known contents."""

from __future__ import annotations

import pytest
from synth_scenes import PANEL_BGR, SceneFactory

from smartstore.models.synth.scene import BackPanel, Item, ProductLook, Rect, Scene


@pytest.fixture
def single_product_scene() -> SceneFactory:
    """A plain light panel with one dark box at `rect`, nothing else: its pixels are easy to find."""

    def build(rect: Rect, width: int = 900, height: int = 700) -> Scene:
        look = ProductLook("box", (30, 30, 160), (150, 30, 30), (10, 10, 10), (0, 140, 0), 0, seed=7)
        return Scene(
            width=width,
            height=height,
            panel=BackPanel("plain", PANEL_BGR, PANEL_BGR, 10, seed=1),
            frame_colour=PANEL_BGR,
            uprights=(),
            header=None,
            header_colour=PANEL_BGR,
            floor_top=height,
            floor_colour=PANEL_BGR,
            levels=(),
            items=(Item("product", rect, look),),
            occluders=(),
        )

    return build
