"""Slot states from slot readings (product vs gap area, `SlotRaster`): the fill rule, debounced."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from smartstore.kernel.contract.payloads import ShelfState, SlotObservation
from smartstore.kernel.storeconfig import Slot

logger = logging.getLogger(__name__)


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
    """Slot states of one camera: each inference's readings in, slots whose state or staleness changed out.

    A slot moving in the gate's window, or hidden (neither product nor gap boxes cover `min_coverage` of it,
    e.g. a shopper standing in front) keeps its last state marked stale and adds no evidence, so an arm or
    a trolley can never make a slot empty. Every change of state, from unknown too, needs `confirmations`
    agreeing observations; confidence is the share of the last `confidence_window` ones that agree.
    """

    def __init__(
        self, slots: Sequence[Slot], low_fill: float, settings: SlotFillSettings | None = None
    ) -> None:
        self.settings = settings or SlotFillSettings()
        self._low = low_fill
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
        self, readings: Mapping[str, SlotReading], stale_slots: Collection[str] = ()
    ) -> list[SlotObservation]:
        """One inference's reading of every slot (`SlotRaster.measure`); returns the slots that changed."""
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
