"""Shelf-slot fill from one camera frame: share of pixel columns whose edge density says 'product'."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

GrayImage = npt.NDArray[np.uint8]


class UndecodableImageError(ValueError):
    """The bytes look like a JPEG but OpenCV cannot decode them."""


def decode_gray(jpeg: bytes) -> GrayImage:
    image = cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv2.IMREAD_GRAYSCALE)
    if image is None or image.size == 0:
        raise UndecodableImageError("OpenCV could not decode the JPEG")
    return np.asarray(image, dtype=np.uint8)


@dataclass(frozen=True, slots=True)
class FillEstimator:
    """Product shows as texture (labels, edges of packs); an empty slot shows the flat back panel.

    Edges come from Canny, so JPEG noise and soft lighting gradients on the panel stay below its
    thresholds; counting columns rather than pixels makes the estimate a width share, which is what
    'fill' of a facing row means.
    """

    canny_low: int = 50
    canny_high: int = 150
    column_edge_density: float = 0.06

    def edges(self, gray: GrayImage) -> GrayImage:
        # A light blur first: sensor noise must not be mistaken for product texture.
        blurred = cv2.GaussianBlur(gray, (3, 3), 0)
        return np.asarray(cv2.Canny(blurred, self.canny_low, self.canny_high), dtype=np.uint8)

    def fill(self, edges: GrayImage, polygon: Sequence[Sequence[float]], scale: tuple[float, float]) -> float:
        """Fill 0..1 of one slot; `scale` maps the planogram's camera pixels onto this frame."""
        height, width = edges.shape[:2]
        points = np.array([[x * scale[0], y * scale[1]] for x, y in polygon], dtype=np.float64)
        x0, y0 = np.floor(points.min(axis=0)).astype(int)
        x1, y1 = np.ceil(points.max(axis=0)).astype(int)
        x0, y0 = max(int(x0), 0), max(int(y0), 0)
        x1, y1 = min(int(x1), width), min(int(y1), height)
        if x1 - x0 < 2 or y1 - y0 < 2:
            return 0.0
        # Shrink by a couple of pixels so the slot's own outline (shelf edge, divider) is not texture.
        mask = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
        cv2.fillPoly(mask, [np.round(points - (x0, y0)).astype(np.int32)], 255)
        mask = cv2.erode(mask, np.ones((5, 5), dtype=np.uint8))
        inside = mask > 0
        pixels_per_column = inside.sum(axis=0)
        edge_per_column = ((edges[y0:y1, x0:x1] > 0) & inside).sum(axis=0)
        columns = pixels_per_column > 0
        if not columns.any():
            return 0.0
        density = edge_per_column[columns] / pixels_per_column[columns]
        return float((density > self.column_edge_density).mean())
