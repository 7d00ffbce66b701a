"""Shoppers and trolleys passing a shelf camera, drawn once by the synthetic generator, reused as sprites."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np

from smartstore.devices.sim.camera_scene import CameraLayout
from smartstore.models.synth.degrade import degrade
from smartstore.models.synth.render import render_planar
from smartstore.models.synth.scene import Bgr, Occluder, hsv_colour

logger = logging.getLogger(__name__)

BANK_SIZE = 8  # distinct passers-by per camera; more only costs start-up time
PERSON_SHARE = 0.6  # the generator's mix of people and trolleys


@dataclass(frozen=True, slots=True)
class OccluderSprite:
    pixels: np.ndarray  # HxWx3 BGR
    painted: np.ndarray  # HxW bool: pixels the occluder draws (a trolley's wheels and legs too)
    hides: np.ndarray  # HxW bool: what counts as hidden, the generator's label-dropping mask

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])


class OccluderBank:
    """Up to `BANK_SIZE` sprites per camera, each drawn the first time it is picked."""

    def __init__(self, layout: CameraLayout, rng: np.random.Generator) -> None:
        self._layout = layout
        self._rng = rng
        self._sprites: list[OccluderSprite] = []

    def pick(self) -> OccluderSprite:
        index = int(self._rng.integers(BANK_SIZE))
        if index >= len(self._sprites):
            self._sprites.append(self._draw())
            return self._sprites[-1]
        return self._sprites[index]

    def _draw(self) -> OccluderSprite:
        """A person (head to the floor) or a trolley (standing on it), sized as the generator sizes them."""
        rng = self._rng
        frame_w, frame_h = self._layout.static.width, self._layout.static.height
        seed = int(rng.integers(2**31))
        if rng.uniform() < PERSON_SHARE:
            width = int(frame_w * rng.uniform(0.15, 0.35))
            height = int(frame_h * (1 - rng.uniform(-0.1, 0.5)))
            colour = hsv_colour(rng, (0.0, 0.9), (0.1, 0.9))
            occluder = Occluder("person", (0, 0, width, height + 10), colour, seed)
        else:
            width = int(frame_w * rng.uniform(0.25, 0.45))
            height = int(frame_h * rng.uniform(0.22, 0.4))
            level = int(rng.integers(120, 221))
            grey: Bgr = (level, level, level)
            occluder = Occluder("trolley", (0, 0, width, height + 5), grey, seed)
        backdrop = replace(
            self._layout.static, width=width, height=height, uprights=(), floor_top=height, levels=()
        )
        plain = render_planar(backdrop).image
        drawn = render_planar(replace(backdrop, occluders=(occluder,)))
        painted = np.any(drawn.image != plain, axis=2) | drawn.occluder_mask
        # The shelf's light falls on the passer-by too, but not its position-dependent gradient.
        light = replace(self._layout.degradation, gradient=(0.0, 0.0, 0.0))
        logger.debug("occluder %s %dx%d drawn", occluder.kind, width, height)
        return OccluderSprite(degrade(drawn.image, light), painted, drawn.occluder_mask)
