"""Slot readings from detections: boxes and planogram polygons rasterized (OpenCV) on a small shared mask."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from smartstore.edge.vision.detections import Detection
from smartstore.edge.vision.slots import SlotFillSettings, SlotReading
from smartstore.kernel.storeconfig import Slot

LabelMask = npt.NDArray[np.uint8]

# Labels of the raster: what the most confident box covering a pixel says is there (nothing where none does).
_NOTHING, _PRODUCT, _GAP = range(3)


class SlotRaster:
    """Rasterizes slot polygons once per frame size, and each frame's boxes, on a small shared mask."""

    def __init__(
        self,
        slots: Sequence[Slot],
        reference_size: tuple[int, int],
        rule: SlotFillSettings,
        mask_width: int | None = None,
    ) -> None:
        """Boxes count the way `rule` says (evidence scores, gap inset); the mask is
        `rule.mask_width` wide unless told otherwise."""
        self._slots = list(slots)
        self._rule = rule
        self._reference = reference_size
        self._mask_width = rule.mask_width if mask_width is None else mask_width
        self._frame_size: tuple[int, int] | None = None
        self._scale = 1.0
        self._mask_shape = (0, 0)
        # Every slot's inside pixels as flat mask indices, all slots end to end (slots may overlap), and where
        # each slot's run starts (slots with no pixel left out): one gather and one segmented sum per label
        # count every slot of a frame.
        self._pixels: npt.NDArray[np.intp] = np.zeros(0, dtype=np.intp)
        self._runs: npt.NDArray[np.intp] = np.zeros(0, dtype=np.intp)
        self._slots_with_pixels: npt.NDArray[np.intp] = np.zeros(0, dtype=np.intp)
        # The same pixels sorted, with their slots: where a box's centre falls.
        self._sorted_pixels: npt.NDArray[np.intp] = np.zeros(0, dtype=np.intp)
        self._sorted_slots: npt.NDArray[np.intp] = np.zeros(0, dtype=np.intp)
        self._areas: list[int] = []

    def measure(
        self, detections: Sequence[Detection], frame_size: tuple[int, int], product_cls: int, gap_cls: int
    ) -> dict[str, SlotReading]:
        if frame_size != self._frame_size:
            self._prepare(frame_size)
        labels, centres = self._paint(detections, product_cls, gap_cls)
        counts = np.zeros((len(self._slots), 2), dtype=np.intp)
        if len(self._runs):
            inside = labels.ravel()[self._pixels]
            for column, label in enumerate((_PRODUCT, _GAP)):
                counts[self._slots_with_pixels, column] = np.add.reduceat(
                    inside == label, self._runs, dtype=np.intp
                )
        centred = self._slots_holding(centres)
        readings: dict[str, SlotReading] = {}
        for slot, (product, gap), area, centred_here in zip(
            self._slots, counts.tolist(), self._areas, centred.tolist(), strict=True
        ):
            covered = product + gap
            # Product vs gap rather than product vs polygon: boxes never tile a slot exactly (shelf lip,
            # dividers, price tags), so a full slot would otherwise never read as full.
            readings[slot.id] = SlotReading(
                fill=product / covered if covered else 0.0,
                coverage=min(covered / area, 1.0),
                centred_products=centred_here,
            )
        return readings

    def _prepare(self, frame_size: tuple[int, int]) -> None:
        width, height = frame_size
        self._frame_size = frame_size
        self._scale = self._mask_width / width
        self._mask_shape = (max(1, round(height * self._scale)), self._mask_width)
        to_mask = (self._scale * width / self._reference[0], self._scale * height / self._reference[1])
        pixels: list[npt.NDArray[np.intp]] = []
        areas: list[int] = []
        for slot in self._slots:
            canvas = np.zeros(self._mask_shape, dtype=np.uint8)
            points = np.array([[x * to_mask[0], y * to_mask[1]] for x, y in slot.polygon], dtype=np.float64)
            cv2.fillPoly(canvas, [np.round(points).astype(np.int32)], 1)
            pixels.append(np.flatnonzero(canvas))
            areas.append(max(len(pixels[-1]), 1))
        self._pixels = np.concatenate(pixels) if pixels else np.zeros(0, dtype=np.intp)
        sizes = np.array([len(p) for p in pixels], dtype=np.intp)
        slot_of_pixel = np.repeat(np.arange(len(pixels), dtype=np.intp), sizes)
        # reduceat reads an empty run as the next pixel's value, so slots without pixels get no run.
        self._slots_with_pixels = np.flatnonzero(sizes)
        self._runs = (np.cumsum(sizes) - sizes)[self._slots_with_pixels]
        order = np.argsort(self._pixels, kind="stable")
        self._sorted_pixels, self._sorted_slots = self._pixels[order], slot_of_pixel[order]
        self._areas = areas

    def _paint(
        self, detections: Sequence[Detection], product_cls: int, gap_cls: int
    ) -> tuple[LabelMask, npt.NDArray[np.intp]]:
        """Each mask pixel labelled by the most confident box covering it (from the evidence scores), and
        the flat mask index of each product box's centre.

        Where a product and a gap box overlap, the more confident one says what is there: a weak product
        box leaking over an empty stretch must not hide it, nor a weak gap box a full facing. Boxes are
        painted weakest first, a product after a gap of the same score, so the last paint wins.
        """
        labels = np.full(self._mask_shape, _NOTHING, dtype=np.uint8)
        rule = self._rule
        product = [d for d in detections if d.cls == product_cls and d.score >= rule.product_score]
        gap = [d for d in detections if d.cls == gap_cls and d.score >= rule.gap_score]
        if not product and not gap:
            return labels, self._centres(np.zeros((0, 4)))
        # One array pass for all boxes, a Python loop only for the slice assignments (a frame has ~100).
        product_boxes = np.array([d.box for d in product], dtype=np.float64).reshape(-1, 4)
        gap_boxes = np.array([d.box for d in gap], dtype=np.float64).reshape(-1, 4)
        gap_sides = gap_boxes[:, 2:] - gap_boxes[:, :2]
        inset = gap_sides.min(axis=1) * rule.gap_inset
        gap_boxes[:, 0] += inset
        gap_boxes[:, 2] -= inset
        boxes = np.concatenate([product_boxes, gap_boxes])
        scores = np.array([d.score for d in product] + [d.score for d in gap], dtype=np.float64)
        is_product = np.arange(len(boxes)) < len(product)
        order = np.lexsort((is_product, scores))  # stable: weakest first, a product after a gap of its score
        painted = np.maximum(np.round(boxes[order] * self._scale), 0).astype(np.intp).tolist()
        painted_labels = np.where(is_product[order], _PRODUCT, _GAP).tolist()
        for (x0, y0, x1, y1), label in zip(painted, painted_labels, strict=True):
            labels[y0:y1, x0:x1] = label
        return labels, self._centres(product_boxes)

    def _centres(self, boxes: npt.NDArray[np.float64]) -> npt.NDArray[np.intp]:
        """The flat mask index of each (N, 4) box's centre."""
        height, width = self._mask_shape
        if len(boxes) == 0:
            return np.zeros(0, dtype=np.intp)
        corners = boxes.astype(np.float32)
        centres = (corners[:, :2] + corners[:, 2:]) * np.float32(self._scale / 2)
        columns = np.clip(centres[:, 0].astype(np.intp), 0, width - 1)
        rows = np.clip(centres[:, 1].astype(np.intp), 0, height - 1)
        return rows * width + columns

    def _slots_holding(self, pixels: npt.NDArray[np.intp]) -> npt.NDArray[np.intp]:
        """How many of these flat mask pixels each slot holds: a lookup of each in the sorted slot pixels,
        not a pass over all of them (a few hundred centres against tens of thousands of slot pixels)."""
        first = np.searchsorted(self._sorted_pixels, pixels, side="left")
        found = np.searchsorted(self._sorted_pixels, pixels, side="right") - first
        # Overlapping slots list a pixel once each: expand every run of equal pixels into its slots.
        starts = np.repeat(first, found)
        within = np.arange(len(starts)) - np.repeat(np.cumsum(found) - found, found)
        return np.bincount(self._sorted_slots[starts + within], minlength=len(self._slots))
