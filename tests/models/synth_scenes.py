"""Hand-built synthetic scenes with known contents, shared by the generator's tests and their fixtures."""

from __future__ import annotations

from typing import Protocol

from models.synth.scene import Rect, Scene


class SceneFactory(Protocol):
    def __call__(self, rect: Rect, width: int = 900, height: int = 700) -> Scene: ...


PANEL_BGR = (235, 235, 235)
