"""What the shelf detector reports, as plain data: the detector produces it, slot fill and drawing read it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Detection:
    """One detected object; `box` is (x0, y0, x1, y1) in the original frame's pixels."""

    cls: int
    name: str
    score: float
    box: tuple[float, float, float, float]
