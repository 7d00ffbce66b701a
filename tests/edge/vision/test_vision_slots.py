"""Slot fill and state from detections: polygons vs boxes, k agreement, occlusion keeps the last state."""

from __future__ import annotations

from collections.abc import Collection, Sequence

import cv2
import numpy as np
import pytest

from smartstore.edge.vision.detections import Detection
from smartstore.edge.vision.raster import SlotRaster
from smartstore.edge.vision.slots import SlotFillSettings, SlotReading, SlotTracker
from smartstore.kernel.contract.payloads import ShelfState, SlotObservation
from smartstore.kernel.storeconfig import Slot
from smartstore.models.synth.pipeline import synthesize

PRODUCT, GAP = 0, 1
CLASS_IDS = (PRODUCT, GAP)
CAMERA = (1280, 720)  # the planogram's pixels
FRAME = (640, 360)  # the frames arrive at half size: boxes are in these pixels


def rect_slot(slot_id: str, x0: float, y0: float, x1: float, y1: float) -> Slot:
    polygon = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    return Slot(id=slot_id, gtin="09506000100005", facings=4, capacity=12, polygon=polygon)


SLOTS = [rect_slot("a", 0, 0, 400, 200), rect_slot("b", 400, 0, 800, 200)]


class CameraSlots:
    """What the vision processor does with each inference: the raster reads every slot, the tracker judges."""

    def __init__(self, slots: Sequence[Slot], reference: tuple[int, int], rule: SlotFillSettings) -> None:
        self.raster = SlotRaster(slots, reference, rule)
        self.tracker = SlotTracker(slots, 0.5, rule)

    def observe(
        self,
        detections: Sequence[Detection],
        frame_size: tuple[int, int],
        class_ids: tuple[int, int],
        stale_slots: Collection[str] = (),
    ) -> list[SlotObservation]:
        return self.tracker.observe(self.raster.measure(detections, frame_size, *class_ids), stale_slots)

    def observations(self) -> list[SlotObservation]:
        return self.tracker.observations()

    def states(self) -> dict[str, ShelfState]:
        return self.tracker.states()


def box(cls: int, x0: float, y0: float, x1: float, y1: float, score: float = 0.9) -> Detection:
    return Detection(cls, "product" if cls == PRODUCT else "gap", score, (x0, y0, x1, y1))


def tracker(confirmations: int = 2) -> CameraSlots:
    # Fill arithmetic to the pixel: gap boxes count in full here (the inset has its own test).
    return CameraSlots(SLOTS, CAMERA, SlotFillSettings(confirmations=confirmations, gap_inset=0.0))


def slot_a(product_share: float) -> list[Detection]:
    """Slot 'a' (frame x 0..200, y 0..100) split into product on the left and gap on the right."""
    split = 200 * product_share
    boxes = [box(PRODUCT, 0, 0, split, 100)] if split > 0 else []
    return [*boxes, box(GAP, split, 0, 200, 100)] if split < 200 else boxes


@pytest.mark.parametrize(("share", "state"), [(1.0, "ok"), (0.75, "ok"), (0.4, "low"), (0.1, "empty")])
def test_fill_is_product_versus_gap_area(share: float, state: str) -> None:
    slots = tracker(confirmations=1)
    changed = slots.observe(slot_a(share), FRAME, CLASS_IDS)

    (observation,) = [o for o in changed if o.slot == "a"]
    assert observation.fill == pytest.approx(share, abs=0.01)
    assert observation.state == state
    assert not observation.stale


@pytest.mark.parametrize(
    ("facings", "fill", "state"),
    [
        (1, 0.4, "empty"),
        (1, 0.6, "ok"),
        (2, 0.2, "empty"),
        (2, 0.3, "low"),
        (3, 0.14, "empty"),
        (7, 1 / 7, "low"),
        (8, 1 / 8, "low"),
        (8, 0.05, "empty"),
    ],
)
def test_the_last_facing_of_a_long_run_is_low_not_empty(facings: int, fill: float, state: str) -> None:
    """One facing of seven or eight fills 1/7 or 1/8 of the slot, yet the product is still on the shelf."""
    run = Slot(id="a", gtin="09506000100005", facings=facings, capacity=facings, polygon=SLOTS[0].polygon)
    slots = CameraSlots([run], CAMERA, SlotFillSettings(confirmations=1, gap_inset=0.0))
    (observation,) = slots.observe(slot_a(fill), FRAME, CLASS_IDS)

    assert observation.fill == pytest.approx(fill, abs=0.01)
    assert observation.state == state


@pytest.mark.parametrize(
    ("own_product", "gap", "spill_fill", "state"),
    [
        (False, True, 0.8, "empty"),  # only a neighbour's box spills in: nothing stands in the slot
        (True, True, 0.8, "low"),  # a pack of its own left, centred in the slot
        (False, False, 0.8, "ok"),  # no gap box: nothing says the rest is empty
        (False, True, 0.0, "low"),  # the spill rule off: product area alone decides
    ],
)
def test_a_slot_with_no_product_box_centred_in_it_reads_empty(
    own_product: bool, gap: bool, spill_fill: float, state: str
) -> None:
    """Slot 'a' (frame x 0..200) of four facings: a product box of slot 'b' reaches 70 px into it."""
    rule = SlotFillSettings(confirmations=1, gap_inset=0.0, spill_fill=spill_fill)
    slots = CameraSlots(SLOTS, CAMERA, rule)
    detections = [box(PRODUCT, 130, 0, 290, 100)]  # centred at x 210, in slot 'b'
    if gap:
        detections.append(box(GAP, 0, 0, 130, 100))
    if own_product:
        detections.append(box(PRODUCT, 0, 0, 20, 100))
    slots.observe(detections, FRAME, CLASS_IDS)

    by_slot = {o.slot: o for o in slots.observations()}
    assert by_slot["a"].state == state
    assert by_slot["b"].state == "ok"


def test_overlapping_and_partial_boxes() -> None:
    slots = tracker(confirmations=1)
    # A gap box partly under an equally confident product box: the product wins there. A box half
    # outside the slot counts only inside it (slot 'b' starts at frame x 200).
    detections = [box(PRODUCT, 0, 0, 150, 100), box(GAP, 100, 0, 200, 100), box(PRODUCT, 150, 0, 250, 100)]
    slots.observe(detections, FRAME, CLASS_IDS)

    by_slot = {o.slot: o for o in slots.observations()}
    assert by_slot["a"].fill == pytest.approx(1.0)  # product everywhere the model looked
    assert by_slot["b"].state == ShelfState.UNKNOWN
    assert by_slot["b"].stale


@pytest.mark.parametrize(
    ("product_score", "gap_score", "fill", "state"),
    [(0.3, 0.8, 0.0, "empty"), (0.8, 0.3, 1.0, "ok"), (0.5, 0.5, 1.0, "ok")],
)
def test_where_boxes_overlap_the_more_confident_class_counts(
    product_score: float, gap_score: float, fill: float, state: str
) -> None:
    slots = tracker(confirmations=1)
    # Both boxes cover all of slot 'a': a product box leaking over an empty stretch, or a gap box over stock.
    detections = [box(PRODUCT, 0, 0, 200, 100, product_score), box(GAP, 0, 0, 200, 100, gap_score)]
    slots.observe(detections, FRAME, CLASS_IDS)

    by_slot = {o.slot: o for o in slots.observations()}
    assert by_slot["a"].fill == pytest.approx(fill)
    assert by_slot["a"].state == state


@pytest.mark.parametrize(("gap_score", "counted"), [(0.12, True), (0.08, False)])
def test_gap_boxes_count_from_the_evidence_score(gap_score: float, counted: bool) -> None:
    slots = tracker(confirmations=1)
    slots.observe([box(GAP, 0, 0, 200, 100, gap_score)], FRAME, CLASS_IDS)

    (observation,) = [o for o in slots.observations() if o.slot == "a"]
    assert observation.stale is not counted
    assert observation.state == (ShelfState.EMPTY if counted else ShelfState.UNKNOWN)


def test_a_change_needs_k_agreeing_observations() -> None:
    slots = tracker(confirmations=3)
    states = []
    for share in [1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]:
        slots.observe(slot_a(share), FRAME, CLASS_IDS)
        states.append(slots.states()["a"])

    assert states == ["unknown", "unknown", "ok", "ok", "ok", "ok", "ok", "ok", "empty"]
    (observation,) = [o for o in slots.observations() if o.slot == "a"]
    assert observation.fill == 0.0
    assert observation.confidence == pytest.approx(4 / 5)  # the last five: empty, full, empty, empty, empty


def test_the_tracker_judges_readings_alone() -> None:
    """The pure core: slot readings in (no picture, no raster), confirmed state changes out."""
    slots = SlotTracker(SLOTS, 0.5, SlotFillSettings(confirmations=2))
    empty, full = SlotReading(fill=0.0, coverage=1.0, centred_products=0), SlotReading(1.0, 1.0, 4)

    assert slots.observe({"a": full, "b": full}) == []
    changed = slots.observe({"a": full, "b": empty})

    assert [(o.slot, o.state) for o in changed] == [("a", ShelfState.OK)]
    hidden = SlotReading(fill=0.0, coverage=0.1, centred_products=0)
    assert [(o.slot, o.stale) for o in slots.observe({"a": hidden, "b": full})] == [("a", True)]


def test_motion_and_occlusion_keep_the_last_state_stale_never_empty() -> None:
    slots = tracker(confirmations=2)
    for _ in range(2):
        slots.observe(slot_a(1.0), FRAME, CLASS_IDS)
    assert slots.states()["a"] == ShelfState.OK

    # The gate saw motion over 'a' and the arm hides the products: many frames, still never empty.
    for _ in range(5):
        changed = slots.observe(slot_a(0.0), FRAME, CLASS_IDS, stale_slots={"a"})
        assert slots.states()["a"] == ShelfState.OK
    # A shopper standing still in front: no motion, but neither products nor gaps are detected there.
    for _ in range(5):
        slots.observe([box(PRODUCT, 0, 0, 40, 100)], FRAME, CLASS_IDS)
        assert slots.states()["a"] == ShelfState.OK
    (observation,) = [o for o in slots.observations() if o.slot == "a"]
    assert observation.stale
    assert observation.state == ShelfState.OK
    assert observation.fill == 1.0

    changed = slots.observe(slot_a(1.0), FRAME, CLASS_IDS)
    assert [(o.slot, o.state, o.stale) for o in changed if o.slot == "a"] == [("a", ShelfState.OK, False)]


def test_slots_over_a_synthetic_shelf_read_its_true_labels() -> None:
    """Slots drawn over the generator's exact product and gap boxes, the labels fed in as detections."""
    image = synthesize(23, 640)  # a seed with both products and gaps in view
    size = (image.width, image.height)
    detections = [box(label.cls, *label.box) for label in image.labels]
    slots, expected = [], {}
    for index, label in enumerate(image.labels):
        x0, y0, x1, y1 = label.box
        if (x1 - x0) * (y1 - y0) < 400:
            continue  # slivers at the frame's edge: no planogram slot is that small
        # The slot is the middle of the box, as a planogram drawn over a snapshot would be.
        dx, dy = (x1 - x0) * 0.2, (y1 - y0) * 0.2
        slots.append(rect_slot(f"s{index}", x0 + dx, y0 + dy, x1 - dx, y1 - dy))
        expected[f"s{index}"] = ShelfState.OK if label.cls == PRODUCT else ShelfState.EMPTY
    assert ShelfState.EMPTY in expected.values()

    tracker = CameraSlots(slots, size, SlotFillSettings(confirmations=1))
    tracker.observe(detections, size, CLASS_IDS)

    states = tracker.states()
    right = sum(states[slot] is state for slot, state in expected.items())
    assert right / len(expected) >= 0.95


def test_overlapping_slots_and_many_boxes_match_a_per_slot_reference() -> None:
    """The raster counts all slots in one pass (slots with no pixel in the frame too, before, between and
    after the others); the reference does each slot and each class on its own:
    per pixel the best product and the best gap score, product where it is at least the gap's; and the
    product boxes centred in each slot, one by one."""
    rng = np.random.default_rng(5)
    mask_width, frame = 320, FRAME
    off_frame = [rect_slot(f"off{n}", 1400, 800, 1500, 900) for n in range(3)]  # no mask pixel at all
    slots = [
        off_frame[0],
        rect_slot("a", 0, 0, 400, 200),
        rect_slot("b", 300, 100, 900, 400),  # overlaps a
        off_frame[1],
        Slot(
            id="tri",
            gtin="09506000100005",
            facings=2,
            capacity=4,
            polygon=[(600, 300), (1270, 320), (900, 710)],
        ),
        off_frame[2],
    ]
    detections = []
    for _ in range(60):
        x0, y0 = rng.uniform(-20, frame[0]), rng.uniform(-20, frame[1])
        w, h = rng.uniform(5, 120), rng.uniform(5, 120)
        cls = int(rng.integers(0, 2))
        detections.append(box(cls, x0, y0, x0 + w, y0 + h, round(float(rng.uniform(0.05, 0.95)), 1)))
    detections.append(box(PRODUCT, 180, 70, 220, 130))  # centred where slots a and b overlap
    detections.append(box(PRODUCT, 190, 80, 210, 120))  # twice
    rule = SlotFillSettings(product_score=0.15, gap_score=0.1, gap_inset=0)
    raster = SlotRaster(slots, CAMERA, rule, mask_width)

    readings = raster.measure(detections, frame, PRODUCT, GAP)

    scale = mask_width / frame[0]
    shape = (round(frame[1] * scale), mask_width)
    best = {PRODUCT: np.zeros(shape), GAP: np.zeros(shape)}
    for d in detections:
        if d.score >= (0.15 if d.cls == PRODUCT else 0.1):
            x0, y0, x1, y1 = (max(round(v * scale), 0) for v in d.box)
            np.maximum(best[d.cls][y0:y1, x0:x1], d.score, out=best[d.cls][y0:y1, x0:x1])
    products = (best[PRODUCT] > 0) & (best[PRODUCT] >= best[GAP])
    gaps = best[GAP] > best[PRODUCT]
    for slot in off_frame:
        assert (readings[slot.id].coverage, readings[slot.id].centred_products) == (0.0, 0)
    for slot in slots[1:3] + slots[4:5]:
        inside = np.zeros(shape, dtype=np.uint8)
        points = np.array(slot.polygon) * (mask_width / CAMERA[0])
        cv2.fillPoly(inside, [np.round(points).astype(np.int32)], 1)
        product, gap = int((products & (inside > 0)).sum()), int((gaps & (inside > 0)).sum())
        assert product + gap > 0
        assert readings[slot.id].fill == pytest.approx(product / (product + gap))
        assert readings[slot.id].coverage == pytest.approx((product + gap) / inside.sum())
        centred = sum(
            1
            for d in detections
            if d.cls == PRODUCT
            and d.score >= 0.15
            and inside[
                min(max(int((d.box[1] + d.box[3]) / 2 * scale), 0), shape[0] - 1),
                min(max(int((d.box[0] + d.box[2]) / 2 * scale), 0), shape[1] - 1),
            ]
        )
        assert readings[slot.id].centred_products == centred
    assert readings["a"].centred_products >= 2
    assert readings["b"].centred_products >= 2


@pytest.mark.parametrize(
    ("rule", "state"), [(SlotFillSettings(), "low"), (SlotFillSettings(gap_inset=0), "empty")]
)
def test_a_gap_box_spilling_over_the_last_product_does_not_hide_it(
    rule: SlotFillSettings, state: str
) -> None:
    """Slot 'a' holds four facings; one is left at the left end (frame x 0..28), and the confident gap box of
    the empty stretch reaches 8 px into it. Without the inset the gap outscores that strip and the run reads
    empty; with it the last product counts in full and the run is low."""
    run = Slot(id="a", gtin="09506000100005", facings=4, capacity=4, polygon=SLOTS[0].polygon)
    slots = CameraSlots([run], CAMERA, rule.model_copy(update={"confirmations": 1}))
    detections = [box(PRODUCT, 0, 0, 28, 100, 0.5), box(GAP, 20, 0, 200, 100, 0.9)]

    (observation,) = slots.observe(detections, FRAME, CLASS_IDS)

    assert observation.state == state


def test_a_wide_empty_stretch_reads_empty_to_its_ends() -> None:
    """The inset is sized by the box's smaller side: one gap box over a whole empty board (frame x 0..400)
    trims 8 px at its ends, so the narrow slots there (20 px) stay readable and empty."""
    stretch = [
        rect_slot("left", 0, 0, 40, 200),
        rect_slot("middle", 40, 0, 760, 200),
        rect_slot("right", 760, 0, 800, 200),
    ]
    slots = CameraSlots(stretch, CAMERA, SlotFillSettings(confirmations=1))

    changed = slots.observe([box(GAP, 0, 0, 400, 100, 0.9)], FRAME, CLASS_IDS)

    assert {(o.slot, o.state, o.stale) for o in changed} == {
        ("left", "empty", False),
        ("middle", "empty", False),
        ("right", "empty", False),
    }
