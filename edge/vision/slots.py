"""Slot fill from detections: product vs gap area inside each planogram polygon, debounced into states."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from smartstore.edge.vision.detector import Detection
from smartstore.kernel.contract.payloads import ShelfState, SlotObservation
from smartstore.kernel.storeconfig import Slot

logger = logging.getLogger(__name__)

LabelMask = npt.NDArray[np.uint8]


class SlotFillSettings(BaseModel):
    """How detections become slot states."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    confirmations: int = Field(
        2, ge=1, le=20, title="Confirmations", description="Agreeing observations before a state changes."
    )
    min_coverage: float = Field(
        0.3,
        ge=0,
        le=1,
        title="Min coverage",
        description="Share of a slot that product or gap boxes must cover; less means occluded (stale).",
    )
    mask_width: int = Field(
        320, ge=32, le=4096, title="Mask width", description="Polygons and boxes are rasterized this wide."
    )
    product_class: str = Field("product", title="Product class", description="Model class name of stock.")
    gap_class: str = Field("gap", title="Gap class", description="Model class name of an empty facing.")
    confidence_window: int = Field(
        5, ge=1, le=100, title="Confidence window", description="Recent observations confidence looks at."
    )
    empty_facing_share: float = Field(
        0.5,
        gt=0,
        lt=1,
        title="Empty below",
        description="A slot reads empty when product shows over less than this share of one facing.",
    )
    # The detector scores the rare gap class low: on held-out synthetic shelves, counting weaker boxes than
    # the 0.25 that is drawn and reported finds more empty slots without more false ones (model card).
    product_score: float = Field(
        0.15,
        gt=0,
        lt=1,
        title="Product evidence",
        description="Lowest product-box score counted in fill.",
    )
    gap_score: float = Field(
        0.1, gt=0, lt=1, title="Gap evidence", description="Lowest gap-box score that counts in fill."
    )
    # A gap box spans the empty stretch plus a little of what stands beside it; where that is the last product
    # of a run, a confident gap box would hide it (held-out seeds 2 / 1: F1 +0.008 / +0.003, model card).
    # Sized by the box's smaller side, so a wide empty stretch loses a sliver at its ends, not whole slots.
    gap_inset: float = Field(
        0.08,
        ge=0,
        lt=0.5,
        title="Gap box inset",
        description="A gap box counts without this share of its smaller side at its left and right.",
    )

    # A stocked facing gets a product box centred on it; product area in a slot where no box is centred is
    # neighbours' boxes spilling in. Such a slot is empty once gap boxes cover enough of it (held-out seeds
    # 3 / 4, chosen on: F1 +0.007 / +0.004; seeds 1 / 2 and scaled +0.003 to +0.005; oblique views unchanged;
    # model card).
    spill_fill: float = Field(
        0.8,
        ge=0,
        le=1,
        title="Spill fill",
        description="A slot with no product box centred in it reads empty below this fill (0: off).",
    )

    @property
    def evidence_floors(self) -> dict[str, float]:
        """Class name -> the score down to which the detector must keep boxes for slot fill to see them."""
        return {self.product_class: self.product_score, self.gap_class: self.gap_score}

    def reads_empty(self, reading: SlotReading, facings: int) -> bool:
        """Whether a slot of `facings` facings reads empty: product over less than half a facing, or no
        product box centred in it and its fill below `spill_fill`.

        A camera sees facings, not units: one facing of eight fills 1/8 of its slot, and that slot is low, not
        out of stock; a single-facing slot is there or not.
        """
        if reading.fill < self.empty_facing_share / max(facings, 1):
            return True
        return reading.centred_products == 0 and reading.fill < self.spill_fill


@dataclass(frozen=True, slots=True)
class SlotReading:
    """One frame's view of a slot: `fill` = product / (product + gap) area, `coverage` = boxed share,
    `centred_products` = product boxes (from the evidence score) whose centre lies in the slot."""

    fill: float
    coverage: float
    centred_products: int

    def occluded(self, min_coverage: float) -> bool:
        return self.coverage < min_coverage


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


@dataclass(slots=True)
class _SlotTrack:
    slot: Slot
    state: ShelfState = ShelfState.UNKNOWN
    fill: float = 0.0
    stale: bool = False
    candidate: ShelfState = ShelfState.UNKNOWN
    streak: int = 0
    recent: deque[ShelfState] = field(default_factory=deque)

    def observation(self) -> SlotObservation:
        agreeing = sum(1 for state in self.recent if state is self.state)
        confidence = agreeing / len(self.recent) if self.recent else 0.0
        return SlotObservation(
            slot=self.slot.id,
            gtin=self.slot.gtin,
            state=self.state,
            fill=round(min(max(self.fill, 0.0), 1.0), 3),
            confidence=round(confidence, 3),
            stale=self.stale,
        )


class SlotTracker:
    """Slot states of one camera: detections of each inference in, slots whose state or staleness changed out.

    A slot moving in the gate's window, or hidden (neither product nor gap boxes cover `min_coverage` of it,
    e.g. a shopper standing in front) keeps its last state marked stale and adds no evidence, so an arm or
    a trolley can never make a slot empty. Every change of state, from unknown too, needs `confirmations`
    agreeing observations; confidence is the share of the last `confidence_window` ones that agree.
    """

    def __init__(
        self,
        slots: Sequence[Slot],
        reference_size: tuple[int, int],
        low_fill: float,
        settings: SlotFillSettings | None = None,
    ) -> None:
        self.settings = settings or SlotFillSettings()
        self._low = low_fill
        self._raster = SlotRaster(slots, reference_size, self.settings)
        self._tracks = {
            slot.id: _SlotTrack(slot, recent=deque(maxlen=self.settings.confidence_window)) for slot in slots
        }

    def state_for(self, reading: SlotReading, facings: int) -> ShelfState:
        if self.settings.reads_empty(reading, facings):
            return ShelfState.EMPTY
        if reading.fill < self._low:
            return ShelfState.LOW
        return ShelfState.OK

    def observe(
        self,
        detections: Sequence[Detection],
        frame_size: tuple[int, int],
        class_ids: tuple[int, int],
        stale_slots: Collection[str] = (),
    ) -> list[SlotObservation]:
        """One inference: `class_ids` = (product, gap) of the model; returns the slots that changed."""
        readings = self._raster.measure(detections, frame_size, *class_ids)
        changed: list[SlotObservation] = []
        for slot_id, track in self._tracks.items():
            reading = readings[slot_id]
            hidden = slot_id in stale_slots or reading.occluded(self.settings.min_coverage)
            before = (track.state, track.stale)
            if hidden:
                track.stale = True
            else:
                track.stale = False
                self._apply(track, reading)
            if (track.state, track.stale) != before:
                changed.append(track.observation())
        return changed

    def _apply(self, track: _SlotTrack, reading: SlotReading) -> None:
        observed = self.state_for(reading, track.slot.facings)
        fill = reading.fill
        track.recent.append(observed)
        if observed is track.state:
            track.fill = fill
            track.candidate, track.streak = observed, 0
            return
        track.streak = track.streak + 1 if observed is track.candidate else 1
        track.candidate = observed
        if track.streak >= self.settings.confirmations:
            logger.debug("slot %s: %s -> %s (fill %.2f)", track.slot.id, track.state, observed, fill)
            track.state, track.fill, track.streak = observed, fill, 0

    def pending(self) -> bool:
        """Whether some slot has seen a new state fewer than `confirmations` times: worth another look."""
        return any(track.streak > 0 for track in self._tracks.values())

    def observations(self) -> list[SlotObservation]:
        """Every slot's current view, for periodic snapshots."""
        return [track.observation() for track in self._tracks.values()]

    def states(self) -> dict[str, ShelfState]:
        return {slot_id: track.state for slot_id, track in self._tracks.items()}
