"""Slot-level out-of-stock scoring: held-out synthetic shelves through the edge's detector and slot fill."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, Self

import cv2
import numpy as np

from smartstore.edge.vision.detector import OnnxDetector, letterbox_scale
from smartstore.edge.vision.raster import SlotRaster
from smartstore.edge.vision.settings import DetectorSettings
from smartstore.edge.vision.slots import SlotFillSettings
from smartstore.kernel.storeconfig import Slot
from smartstore.models.synth.camera import warp_boxes
from smartstore.models.synth.dataset import image_seed
from smartstore.models.synth.pipeline import synthesize_scene
from smartstore.models.synth.scene import Rect, Scene, SlotTruth

logger = logging.getLogger(__name__)

# A planogram slot hidden this much by a person or trolley is not scored: the edge keeps its last state.
OCCLUDED_SHARE = 0.25
# A planogram slot is drawn on the camera's own image, so it lies in the frame. A SKU run the frame edge cuts
# is no such slot, and its truth counts facings out of view: one facing left outside the frame reads as a
# false "empty" (until 2026-12-04 runs 40 % in view were scored; 64 % of the false empties were such runs).
SLOT_IN_FRAME_SHARE = 0.95
# Slots narrower than this in the output image are below what a shelf camera is calibrated for.
MIN_SLOT_WIDTH_PX = 8.0
# Bands of slot width in model-input pixels: how narrow a slot may be and still be judged well, which
# tells an installer how far a camera may stand from its shelf.
WIDTH_BANDS: tuple[tuple[float, float], ...] = ((0.0, 16.0), (16.0, 24.0), (24.0, 40.0), (40.0, math.inf))
PLACEHOLDER_GTIN = "00000000000000"
# What a scored slot shows: empty ones by their gap, stocked ones by their pack, to tell which looks the model
# misses or takes for empty.
SlotLook = Literal["bare", "recess", "recess_far_back", "dark_pack", "pack"]
SLOT_LOOKS: dict[SlotLook, str] = {
    "bare": "empty, back panel showing",
    "recess": "empty, dark recess",
    "recess_far_back": "empty, dark recess with a pack far back",
    "dark_pack": "stocked with dark packs",
    "pack": "stocked with other packs",
}


class _OutOfStockRates:
    """Precision, recall and F1 of 'empty' over counts a subclass holds."""

    __slots__ = ()
    slots: int
    hits: int
    predicted_empty: int
    true_empty: int

    @property
    def precision(self) -> float:
        return self.hits / self.predicted_empty if self.predicted_empty else math.nan

    @property
    def recall(self) -> float:
        return self.hits / self.true_empty if self.true_empty else math.nan

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r > 0 else math.nan

    @property
    def false_empty_share(self) -> float:
        """Share of the stocked slots called empty."""
        stocked = self.slots - self.true_empty
        return (self.predicted_empty - self.hits) / stocked if stocked else math.nan

    def counted(self, empty: bool, predicted: bool) -> Self:
        """These counts with one more slot: truly `empty` or not, `predicted` empty or not."""
        return replace(  # type: ignore[type-var]  # a mixin: each subclass is a dataclass
            self,
            slots=self.slots + 1,
            true_empty=self.true_empty + empty,
            predicted_empty=self.predicted_empty + predicted,
            hits=self.hits + (empty and predicted),
        )


@dataclass(frozen=True, slots=True)
class WidthBand(_OutOfStockRates):
    """Out-of-stock counts for the scored slots whose width at the model input falls in [low, high)."""

    low: float
    high: float
    slots: int = 0
    true_empty: int = 0
    predicted_empty: int = 0
    hits: int = 0

    def label(self) -> str:
        if not self.low:
            return f"<{self.high:g}px"
        return f"{self.low:g}-{self.high:g}px" if math.isfinite(self.high) else f">={self.low:g}px"


@dataclass(frozen=True, slots=True)
class LookGroup(_OutOfStockRates):
    """Out-of-stock counts for the scored slots of one look (`SLOT_LOOKS`)."""

    look: SlotLook
    slots: int = 0
    true_empty: int = 0
    predicted_empty: int = 0
    hits: int = 0

    def summary(self) -> str:
        if self.true_empty:
            return f"{SLOT_LOOKS[self.look]} R {self.recall:.3f} ({self.true_empty})"
        return f"{SLOT_LOOKS[self.look]} {100 * self.false_empty_share:.1f} % called empty ({self.slots})"


@dataclass(frozen=True, slots=True)
class SlotRecord:
    """One scored slot of one held-out image: what it was, what the edge read, to find where a model errs."""

    image: int  # index in the held-out set (its seed is image_seed(seed, image))
    slot: int  # index in the scene's slots
    box: tuple[float, float, float, float]  # in the image's pixels
    truth: SlotTruth
    look: SlotLook
    width_at_input: float  # pixels at the model input
    fill: float
    coverage: float
    unreadable: bool
    predicted_empty: bool

    def as_json(self) -> dict[str, Any]:
        wrong = ""
        if self.predicted_empty != self.truth.empty:
            wrong = "false empty" if self.predicted_empty else "missed"
        return {
            "wrong": wrong,
            "image": self.image,
            "slot": self.slot,
            "box": [round(value, 1) for value in self.box],
            "facings": self.truth.facings,
            "missing": self.truth.missing,
            "look": self.look,
            "width_at_input": round(self.width_at_input, 1),
            "fill": round(self.fill, 3),
            "coverage": round(self.coverage, 3),
            "unreadable": self.unreadable,
        }


@dataclass(frozen=True, slots=True)
class SlotScore(_OutOfStockRates):
    """Out-of-stock (empty slot) detection over every scored slot of the held-out images."""

    images: int
    slots: int
    skipped_occluded: int
    true_empty: int
    predicted_empty: int
    hits: int
    unreadable: int  # visible slots the edge would mark stale (no product or gap box covering them)
    skipped_out_of_view: int = 0  # SKU runs not wholly in the frame (cut or outside) or too small: no slot
    by_width: tuple[WidthBand, ...] = ()
    by_look: tuple[LookGroup, ...] = ()

    def as_json(self) -> dict[str, Any]:
        def clean(value: float) -> float | None:
            return None if math.isnan(value) else round(value, 4)

        return {
            "images": self.images,
            "slots": self.slots,
            "skipped_occluded": self.skipped_occluded,
            "skipped_out_of_view": self.skipped_out_of_view,
            "true_empty": self.true_empty,
            "predicted_empty": self.predicted_empty,
            "unreadable": self.unreadable,
            "oos_precision": clean(self.precision),
            "oos_recall": clean(self.recall),
            "oos_f1": clean(self.f1),
            "by_slot_width": {
                band.label(): {
                    "slots": band.slots,
                    "true_empty": band.true_empty,
                    "oos_precision": clean(band.precision),
                    "oos_recall": clean(band.recall),
                }
                for band in self.by_width
            },
            "by_look": {
                group.look: {
                    "slots": group.slots,
                    "true_empty": group.true_empty,
                    "oos_recall": clean(group.recall),
                    "called_empty": clean(group.false_empty_share),
                }
                for group in self.by_look
            },
        }

    def line(self) -> str:
        bands = ", ".join(
            f"{band.label()} P {band.precision:.3f} R {band.recall:.3f} ({band.true_empty} empty)"
            for band in self.by_width
        )
        looks = ", ".join(group.summary() for group in self.by_look if group.slots)
        return (
            f"slots {self.slots} ({self.true_empty} empty, {self.skipped_occluded} occluded and "
            f"{self.skipped_out_of_view} not wholly in view skipped, "
            f"{self.unreadable} unreadable): out-of-stock precision {self.precision:.3f}, "
            f"recall {self.recall:.3f}, F1 {self.f1:.3f}"
            + (f"; by slot width at the model input: {bands}" if bands else "")
            + (f"; by look: {looks}" if looks else "")
        )


def _overlap(rect: Rect, other: Rect) -> int:
    width = min(rect[2], other[2]) - max(rect[0], other[0])
    height = min(rect[3], other[3]) - max(rect[1], other[1])
    return max(width, 0) * max(height, 0)


def occluded_share(scene: Scene, truth: SlotTruth) -> float:
    area = max((truth.rect[2] - truth.rect[0]) * (truth.rect[3] - truth.rect[1]), 1)
    return min(sum(_overlap(truth.rect, occluder.rect) for occluder in scene.occluders) / area, 1.0)


def _centre_inside(rect: Rect, outer: Rect) -> bool:
    cx, cy = (rect[0] + rect[2]) / 2, (rect[1] + rect[3]) / 2
    return outer[0] <= cx <= outer[2] and outer[1] <= cy <= outer[3]


def slot_look(scene: Scene, truth: SlotTruth) -> SlotLook:
    """An empty slot by the gap drawn most over it, a stocked one by its pack (one look per SKU run)."""
    if truth.empty:
        gaps = [item for item in scene.items if item.kind != "product"]
        gap = max(gaps, key=lambda item: _overlap(item.rect, truth.rect), default=None)
        if gap is None or gap.kind == "empty_gap" or not _overlap(gap.rect, truth.rect):
            return "bare"
        return "recess" if gap.look is None else "recess_far_back"
    pack = next(
        (
            item.look
            for item in scene.items
            if item.kind == "product" and item.look is not None and _centre_inside(item.rect, truth.rect)
        ),
        None,
    )
    return "dark_pack" if pack is not None and pack.dark else "pack"


def _band_index(width: float) -> int:
    return next(i for i, (low, high) in enumerate(WIDTH_BANDS) if low <= width < high)


def _slot(index: int, box: tuple[float, float, float, float], facings: int) -> Slot:
    x0, y0, x1, y1 = box
    polygon = [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]
    return Slot(id=f"s{index}", gtin=PLACEHOLDER_GTIN, facings=facings, capacity=facings, polygon=polygon)


def score_slots(
    model: Path,
    count: int,
    seed: int,
    imgsz: int,
    families: Sequence[str],
    supersample: float = 1.0,
    oblique: float = 0.0,
    detector_settings: DetectorSettings | None = None,
    fill_settings: SlotFillSettings | None = None,
    records: list[SlotRecord] | None = None,
) -> SlotScore:
    """Detect on `count` held-out images and judge each visible SKU run empty or not, as the edge would.

    `records`, when given, gets one `SlotRecord` per scored slot.
    """
    detector = OnnxDetector(model, detector_settings or DetectorSettings())
    rule = fill_settings or SlotFillSettings()
    by_name = {name: cls for cls, name in detector.names.items()}
    product_cls, gap_cls = by_name["product"], by_name["gap"]
    skipped = unreadable = out_of_view = 0
    bands = [WidthBand(low, high) for low, high in WIDTH_BANDS]
    looks = {look: LookGroup(look) for look in SLOT_LOOKS}
    for index in range(count):
        image, scene, camera = synthesize_scene(
            image_seed(seed, index), imgsz, families, supersample, oblique
        )
        frame = np.asarray(cv2.imdecode(np.frombuffer(image.jpeg, np.uint8), cv2.IMREAD_COLOR), np.uint8)
        boxes = warp_boxes([truth.rect for truth in scene.slots], camera, SLOT_IN_FRAME_SHARE)
        scored: list[tuple[Slot, SlotTruth, int]] = []
        for number, (truth, box) in enumerate(zip(scene.slots, boxes, strict=True)):
            if box is None:
                out_of_view += 1
                continue
            if box[2] - box[0] < MIN_SLOT_WIDTH_PX:
                continue
            if occluded_share(scene, truth) > OCCLUDED_SHARE:
                skipped += 1
                continue
            scored.append((_slot(number, box, truth.facings), truth, number))
        if not scored:
            continue
        size = (image.width, image.height)
        to_input = letterbox_scale(size, detector.input_size_for(size))
        raster = SlotRaster([slot for slot, _, _ in scored], size, rule, mask_width=image.width)
        detections = detector.detect(frame, rule.evidence_floors)
        readings = raster.measure(detections, size, product_cls, gap_cls)
        for slot, truth, number in scored:
            reading = readings[slot.id]
            stale = reading.occluded(rule.min_coverage)
            empty = not stale and rule.reads_empty(reading, slot.facings)
            unreadable += stale
            width = (slot.polygon[1][0] - slot.polygon[0][0]) * to_input
            band = _band_index(width)
            bands[band] = bands[band].counted(truth.empty, empty)
            look = slot_look(scene, truth)
            looks[look] = looks[look].counted(truth.empty, empty)
            if records is not None:
                (x0, y0), (x1, y1) = slot.polygon[0], slot.polygon[2]
                records.append(
                    SlotRecord(
                        image=index,
                        slot=number,
                        box=(x0, y0, x1, y1),
                        truth=truth,
                        look=look,
                        width_at_input=width,
                        fill=reading.fill,
                        coverage=reading.coverage,
                        unreadable=stale,
                        predicted_empty=empty,
                    )
                )
    score = SlotScore(
        images=count,
        slots=sum(band.slots for band in bands),
        skipped_occluded=skipped,
        true_empty=sum(band.true_empty for band in bands),
        predicted_empty=sum(band.predicted_empty for band in bands),
        hits=sum(band.hits for band in bands),
        unreadable=unreadable,
        skipped_out_of_view=out_of_view,
        by_width=tuple(bands),
        by_look=tuple(looks.values()),
    )
    logger.info("slot-level: %s", score.line())
    return score
