"""ShelfVisionProcessor on JPEG frames with real onnxruntime sessions of hand-placed detector models."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
from edge_helpers import FakeClock, flat_panel, jpeg
from vision_models import shelf_model, slot_box

from smartstore.edge.processors.base import Rejection
from smartstore.edge.vision.detector import OnnxDetector
from smartstore.edge.vision.processor import DECODE_ERROR, ShelfVisionProcessor, decode_jpeg, decode_reduction
from smartstore.edge.vision.settings import MotionSettings, VisionSettings
from smartstore.edge.vision.slots import SlotFillSettings
from smartstore.kernel.contract import topics
from smartstore.kernel.contract.payloads import ShelfSignal, ShelfState, Signal
from smartstore.kernel.contract.topics import Topic
from smartstore.kernel.contract.validation import Image, RejectReason
from smartstore.kernel.storeconfig import Slot, StoreConfig

STORE = "store-berlin-01"
CAMERA = "cam-1l"


def camera_slots(store: StoreConfig, camera: str = CAMERA) -> list[Slot]:
    return [slot for shelf in store.shelves_for_camera(camera) for slot in shelf.slots]


def settings(model: Path, **changes: object) -> VisionSettings:
    values: dict[str, object] = {
        "model_path": model,
        "motion": MotionSettings(settle_s=3.0, recheck_s=600.0, stale_window_s=2.0),
        "slots": SlotFillSettings(confirmations=2),
        "confirm_interval_s": 3.0,
        "snapshot_interval_s": 60.0,
    }
    values.update(changes)
    return VisionSettings(**values)


def frame(shopper_x: int | None = None, seed: int = 1) -> bytes:
    image = cv2.cvtColor(flat_panel(seed=seed), cv2.COLOR_GRAY2BGR)
    if shopper_x is not None:
        cv2.ellipse(image, (shopper_x, 360), (110, 340), 0, 0, 360, (40, 35, 30), -1)
    return jpeg(image)


def message(data: bytes, camera: str = CAMERA) -> Image:
    return Image(Topic.parse(topics.camera_image(STORE, camera)), data)


def states(signals: list[Signal]) -> dict[str, tuple[ShelfState, bool]]:
    """slot -> (state, stale) over all ShelfSignals, later ones winning."""
    seen: dict[str, tuple[ShelfState, bool]] = {}
    for signal in signals:
        assert isinstance(signal, ShelfSignal)
        seen.update({obs.slot: (obs.state, obs.stale) for obs in signal.slots})
    return seen


@pytest.fixture
def scene(example_store: StoreConfig, tmp_path: Path) -> dict[str, Path]:
    """Models of cam-1l: slot 1 full, slot 2 an empty gap, slot 3 30 % product; and slot 1 hidden."""
    one, two, three = camera_slots(example_store)[:3]
    low = slot_box(three, 0.3)
    rest = (low[2], low[1], slot_box(three)[2], low[3])
    return {
        "stocked": shelf_model(tmp_path / "stocked.onnx", [slot_box(one), low], [slot_box(two), rest]),
        "hidden": shelf_model(tmp_path / "hidden.onnx", [low], [slot_box(two), rest]),
    }


def run(processor: ShelfVisionProcessor, clock: FakeClock, frames: list[bytes]) -> list[Signal]:
    signals: list[Signal] = []
    for data in frames:
        clock.advance(1.0)
        signals += processor.handle(message(data), clock.now)
    return signals


def test_frames_become_confirmed_slot_states_with_few_inferences(
    example_store: StoreConfig, scene: dict[str, Path], clock: FakeClock, tmp_path: Path
) -> None:
    processor = ShelfVisionProcessor(
        example_store, settings(scene["stocked"]), clock.now, snapshot_dir=tmp_path / "snaps"
    )
    first = run(processor, clock, [frame()])
    later = run(processor, clock, [frame() for _ in range(9)])

    slot1, slot2, slot3, slot4 = (slot.id for slot in camera_slots(example_store)[:4])
    # Seen once: nothing changes yet, but slots no box covers are reported stale (unknown, occluded).
    assert states(first)[slot4] == (ShelfState.UNKNOWN, True)
    assert slot1 not in states(first)
    # The agreeing second look comes `confirm_interval_s` later, not at the 10-minute re-check.
    assert states(later)[slot1] == (ShelfState.OK, False)
    assert states(later)[slot2] == (ShelfState.EMPTY, False)
    assert states(later)[slot3] == (ShelfState.LOW, False)
    assert processor.counters["frames"] == 10
    assert processor.counters["inferences"] == 2
    assert processor.counters["inferences_confirm"] == 1
    # The other 8 frames were judged still on the gate's grey decode alone.
    assert processor.counters["colour_decodes"] == 2
    [signal] = [s for s in later if isinstance(s, ShelfSignal)]
    observation = next(obs for obs in signal.slots if obs.slot == slot3)
    # 30 % product beside 70 % gap, a little more since the gap box counts without its ends (`gap_inset`).
    assert 0.3 < observation.fill < 0.36
    assert observation.confidence == 1.0


@pytest.mark.parametrize(
    ("sent", "reduction", "motion_reduction"), [((640, 360), 1, 4), ((2560, 1440), 4, 8)]
)
def test_a_camera_sending_another_size_than_configured_is_decoded_to_cover_the_model_input(
    example_store: StoreConfig,
    clock: FakeClock,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    sent: tuple[int, int],
    reduction: int,
    motion_reduction: int,
) -> None:
    one, two = camera_slots(example_store)[:2]
    # A 416 x 416 input: the configured 1280 x 720 is decoded at half size (640 x 360) to cover it.
    model = shelf_model(tmp_path / "m.onnx", [slot_box(one)], [slot_box(two)], imgsz=416)
    processor = ShelfVisionProcessor(
        example_store, settings(model), clock.now, snapshot_dir=tmp_path / "snaps"
    )
    other_size = jpeg(cv2.resize(cv2.cvtColor(flat_panel(), cv2.COLOR_GRAY2BGR), sent))

    with caplog.at_level(logging.WARNING, logger="smartstore.edge.vision.processor"):
        signals = run(processor, clock, [other_size for _ in range(10)])

    # The annotated snapshot is drawn on the decoded frame: a 640 x 360 sub-stream decoded at half size
    # would be 320 x 180, scaled up into the input; a 2560 x 1440 frame needs only a quarter.
    snapshot = cv2.imread(str(tmp_path / "snaps" / f"{CAMERA}.jpg"))
    assert snapshot.shape[:2] == (360, 640) == (sent[1] // reduction, sent[0] // reduction)
    assert processor.cameras[CAMERA].reduction == reduction
    # The gate's grey decode, 1/8 of the configured 1280 px, stays at least its 160 px too.
    assert processor.cameras[CAMERA].motion_reduction == motion_reduction
    assert processor.counters["decode_reduction_changes"] == 1
    assert f"sends {sent[0]}x{sent[1]} frames, configured 1280x720" in caplog.text
    # Slot polygons, drawn on the configured size, scale to the frames.
    assert states(signals)[one.id] == (ShelfState.OK, False)
    assert states(signals)[two.id] == (ShelfState.EMPTY, False)


def test_weak_gap_boxes_empty_a_slot_but_are_not_drawn(
    example_store: StoreConfig, clock: FakeClock, tmp_path: Path
) -> None:
    one, two = camera_slots(example_store)[:2]
    model = shelf_model(tmp_path / "weak.onnx", [slot_box(one)], [slot_box(two)], gap_score=0.15)
    processor = ShelfVisionProcessor(example_store, settings(model), clock.now)
    signals = run(processor, clock, [frame() for _ in range(5)])

    assert states(signals)[two.id] == (
        ShelfState.EMPTY,
        False,
    )  # 0.15: under the 0.25 drawn, over the 0.1 counted
    assert [d.name for d in processor.cameras[CAMERA].detections] == ["product"]


def test_a_shopper_in_front_never_empties_a_slot(
    example_store: StoreConfig, scene: dict[str, Path], clock: FakeClock
) -> None:
    processor = ShelfVisionProcessor(example_store, settings(scene["stocked"]), clock.now)
    run(processor, clock, [frame() for _ in range(5)])
    slot1 = camera_slots(example_store)[0].id
    assert processor.states(CAMERA)[slot1] == "ok"
    # From now on the detector sees no product on slot 1: somebody stands in front of it.
    processor.detector = OnnxDetector(scene["hidden"])

    walking = run(processor, clock, [frame(shopper_x=100 + 40 * step) for step in range(6)])
    standing = run(processor, clock, [frame(shopper_x=300) for _ in range(8)])

    assert walking == []  # no inference while somebody moves in front of the shelf
    assert states(standing)[slot1] == (ShelfState.OK, True)  # judged once still again: kept, stale
    assert processor.states(CAMERA)[slot1] == "ok"
    processor.detector = OnnxDetector(scene["stocked"])
    leaving = run(processor, clock, [frame(), *(frame() for _ in range(6))])
    assert states(leaving)[slot1] == (ShelfState.OK, False)


def test_annotated_snapshot_is_saved_and_offered_after_each_inference(
    example_store: StoreConfig, scene: dict[str, Path], clock: FakeClock, tmp_path: Path
) -> None:
    processor = ShelfVisionProcessor(
        example_store, settings(scene["stocked"]), clock.now, snapshot_dir=tmp_path / "snaps"
    )
    run(processor, clock, [frame()])

    [(camera, data)] = processor.take_snapshots()
    assert camera == CAMERA
    assert processor.take_snapshots() == []
    assert (tmp_path / "snaps" / f"{CAMERA}.jpg").read_bytes() == data
    image = np.asarray(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR))
    plain = np.asarray(cv2.imdecode(np.frombuffer(frame(), np.uint8), cv2.IMREAD_REDUCED_COLOR_4))
    assert image.shape == plain.shape  # drawn on the frame the detector saw (decoded at 1/4)
    blue, green, red = (image[:, :, c].astype(int) for c in range(3))
    # Product boxes are drawn green, gap boxes red, over a grey panel that has neither colour.
    assert np.count_nonzero((green - red > 80) & (green - blue > 80)) > 100
    assert np.count_nonzero((red - green > 80) & (red - blue > 80)) > 100
    assert np.abs(image.astype(int) - plain.astype(int)).max() > 100


def test_periodic_snapshot_signal_marks_a_silent_camera_stale(
    example_store: StoreConfig, scene: dict[str, Path], clock: FakeClock
) -> None:
    vision = settings(scene["stocked"], snapshot_interval_s=10.0)
    processor = ShelfVisionProcessor(example_store, vision, clock.now)
    assert processor.tick(clock.advance(11)) == []  # nothing judged yet: no snapshot of 'unknown'
    run(processor, clock, [frame() for _ in range(4)])

    [fresh] = processor.tick(clock.advance(10))  # last frame 10 s ago: within 3 intervals of 5 s
    [silent] = processor.tick(clock.advance(10))  # 20 s ago

    assert isinstance(fresh, ShelfSignal)
    assert isinstance(silent, ShelfSignal)
    assert fresh.snapshot
    assert silent.snapshot
    assert len(fresh.slots) == len(camera_slots(example_store))
    slot1 = camera_slots(example_store)[0].id
    assert next(o for o in fresh.slots if o.slot == slot1).stale is False
    assert all(obs.stale for obs in silent.slots)


def test_bad_frames_are_rejected_with_reasons(
    example_store: StoreConfig, scene: dict[str, Path], clock: FakeClock
) -> None:
    processor = ShelfVisionProcessor(example_store, settings(scene["stocked"]), clock.now)
    with pytest.raises(Rejection) as undecodable:
        processor.handle(message(b"\xff\xd8\xff" + b"\x00" * 100), clock.now)
    with pytest.raises(Rejection) as unknown:
        processor.handle(message(frame(), camera="cam-9z"), clock.now)

    assert undecodable.value.reason == DECODE_ERROR
    assert unknown.value.reason == RejectReason.UNKNOWN_REFERENCE
    # One bad frame does not disturb the next good one.
    assert run(processor, clock, [frame()]) != []


def test_missing_model_logs_and_leaves_vision_off(
    example_store: StoreConfig, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        processor = ShelfVisionProcessor(example_store, settings(tmp_path / "nowhere.onnx"), 0.0)

    assert not processor.active
    assert not processor.accepts(Topic.parse(topics.camera_image(STORE, CAMERA)))
    assert processor.tick(1000.0) == []
    assert "no detector model" in caplog.text


def test_a_model_without_product_and_gap_classes_leaves_vision_off(
    example_store: StoreConfig, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from vision_models import constant_detector_model

    model = constant_detector_model(tmp_path / "cats.onnx", [], {0: "cat", 1: "dog"}, 64)
    with caplog.at_level(logging.ERROR):
        processor = ShelfVisionProcessor(example_store, settings(model), 0.0)

    assert not processor.active
    assert "lack" in caplog.text


@pytest.mark.parametrize(
    ("camera_size", "model_input", "reduction"),
    [
        ((1280, 720), (416, 416), 2),
        ((1280, 720), (544, 320), 2),  # a free input fitted to 16:9
        ((1920, 1080), (416, 416), 4),
        ((1920, 1080), (544, 320), 2),  # a quarter (480 x 270) would be scaled up into 544 x 320
        ((640, 480), (416, 416), 1),
    ],
)
def test_jpegs_decode_as_small_as_still_covers_the_model_input(
    camera_size: tuple[int, int], model_input: tuple[int, int], reduction: int
) -> None:
    width, height = camera_size
    chosen = decode_reduction((width, height), model_input)
    frame = decode_jpeg(jpeg(np.full((height, width, 3), 128, dtype=np.uint8)), chosen)

    assert chosen == reduction
    assert frame.shape[:2] == (height // reduction, width // reduction)
    assert frame.shape[1] >= model_input[0] or frame.shape[0] >= model_input[1]
