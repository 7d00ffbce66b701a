"""The ONNX detector runtime on real onnxruntime sessions of small hand-built models."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from vision_models import ModelFactory, constant_detector_model, to_input

from smartstore.edge.vision.detector import (
    OnnxDetector,
    ResizeScratch,
    best_class,
    fitted_input_size,
    letterbox,
    model_input_size,
    parse_names,
)
from smartstore.edge.vision.settings import DetectorSettings

IMGSZ = 320
Box = tuple[float, float, float, float]


@pytest.mark.parametrize(("width", "height"), [(1280, 720), (480, 640), (320, 320), (1000, 333)])
def test_boxes_come_back_in_original_pixels(make_model: ModelFactory, width: int, height: int) -> None:
    originals = [(10.0, 20.0, 110.0, 220.0), (width * 0.5, height * 0.25, width - 1.0, height - 2.0)]
    candidates = [(*to_input(box, (width, height), IMGSZ), cls, 0.9) for cls, box in enumerate(originals)]
    detector = OnnxDetector(make_model(candidates))
    frame = np.full((height, width, 3), 80, dtype=np.uint8)

    detections = sorted(detector.detect(frame), key=lambda d: d.cls)

    assert [d.name for d in detections] == ["product", "gap"]
    for detection, expected in zip(detections, originals, strict=True):
        assert detection.box == pytest.approx(expected, abs=1e-3)


def test_letterbox_keeps_aspect_and_pads_grey() -> None:
    frame = np.zeros((100, 400, 3), dtype=np.uint8)
    frame[:, :, 2] = 255  # pure red in BGR

    tensor, fitted = letterbox(frame, IMGSZ)

    assert tensor.shape == (1, 3, IMGSZ, IMGSZ)
    assert tensor.dtype == np.float32
    assert (fitted.scale, fitted.pad_x, fitted.pad_y) == (0.8, 0, 120)
    assert tensor[0, :, 0, 0] == pytest.approx([114 / 255] * 3)  # pad
    assert tensor[0, :, 160, 160] == pytest.approx([1.0, 0.0, 0.0])  # image, now RGB


def test_letterbox_into_a_reused_buffer_matches_opencvs_blob() -> None:
    """The reference is Ultralytics' recipe done the plain way: resize, pad grey 114, blobFromImage.
    One buffer and one scratch serve frames of every shape in turn (a shape twice): no stale pixels of a
    previous frame survive."""
    rng = np.random.default_rng(3)
    buffer = np.full((1, 3, IMGSZ, IMGSZ), -1.0, dtype=np.float32)
    scratch = ResizeScratch()
    for height, width in [(100, 400), (400, 100), (333, 1000), (90, 160), (320, 320), (100, 400)]:
        frame = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        scale = min(IMGSZ / width, IMGSZ / height)
        new_w, new_h = round(width * scale), round(height * scale)
        resized = frame if (new_w, new_h) == (width, height) else cv2.resize(frame, (new_w, new_h))
        top, left = (IMGSZ - new_h) // 2, (IMGSZ - new_w) // 2
        padded = cv2.copyMakeBorder(
            resized,
            top,
            IMGSZ - new_h - top,
            left,
            IMGSZ - new_w - left,
            cv2.BORDER_CONSTANT,
            value=(114,) * 3,
        )
        expected = cv2.dnn.blobFromImage(padded, 1.0 / 255.0, swapRB=True)

        tensor, _ = letterbox(frame, IMGSZ, out=buffer, scratch=scratch)

        assert tensor is buffer
        np.testing.assert_allclose(tensor, expected, atol=1e-6)
    with pytest.raises(ValueError, match="letterbox into"):
        letterbox(frame, IMGSZ + 32, out=buffer)


def test_nms_is_per_class(make_model: ModelFactory) -> None:
    candidates = [
        (100.0, 100.0, 60.0, 60.0, 0, 0.9),
        (102.0, 101.0, 60.0, 60.0, 0, 0.8),  # duplicate product: suppressed
        (101.0, 100.0, 60.0, 60.0, 1, 0.7),  # same place, other class: kept
        (250.0, 250.0, 40.0, 40.0, 0, 0.6),  # far away: kept
    ]
    detector = OnnxDetector(make_model(candidates))

    detections = detector.detect(np.zeros((IMGSZ, IMGSZ, 3), dtype=np.uint8))

    assert sorted((d.name, round(d.score, 2)) for d in detections) == [
        ("gap", 0.7),
        ("product", 0.6),
        ("product", 0.9),
    ]


def test_score_threshold_drops_weak_candidates(make_model: ModelFactory) -> None:
    candidates = [(50.0, 50.0, 20.0, 20.0, 0, 0.24), (150.0, 150.0, 20.0, 20.0, 1, 0.31)]
    path = make_model(candidates)
    frame = np.zeros((IMGSZ, IMGSZ, 3), dtype=np.uint8)

    default = OnnxDetector(path).detect(frame)
    strict = OnnxDetector(path, DetectorSettings(score_threshold=0.5, class_score_thresholds={})).detect(
        frame
    )

    assert [(d.name, round(d.score, 2)) for d in default] == [("gap", 0.31)]
    assert strict == []


def test_a_class_can_have_a_threshold_of_its_own(make_model: ModelFactory) -> None:
    candidates = [(50.0, 50.0, 20.0, 20.0, 0, 0.15), (150.0, 150.0, 20.0, 20.0, 1, 0.15)]
    path = make_model(candidates)
    frame = np.zeros((IMGSZ, IMGSZ, 3), dtype=np.uint8)

    default = OnnxDetector(path).detect(frame)
    lower_for_gaps = OnnxDetector(path, DetectorSettings(class_score_thresholds={"gap": 0.1})).detect(frame)
    stricter_gaps = OnnxDetector(
        path, DetectorSettings(score_threshold=0.1, class_score_thresholds={"gap": 0.2})
    ).detect(frame)

    assert default == []
    assert [d.name for d in lower_for_gaps] == ["gap"]
    assert [d.name for d in stricter_gaps] == ["product"]


def test_a_floor_keeps_weaker_boxes_of_its_class_for_slot_fill_and_reported_drops_them(
    make_model: ModelFactory,
) -> None:
    candidates = [
        (50.0, 50.0, 20.0, 20.0, 0, 0.9),
        (150.0, 150.0, 20.0, 20.0, 1, 0.12),
        (250.0, 250.0, 20.0, 20.0, 1, 0.05),
        (350.0, 50.0, 20.0, 20.0, 0, 0.12),
    ]
    detector = OnnxDetector(make_model(candidates))
    frame = np.zeros((IMGSZ, IMGSZ, 3), dtype=np.uint8)

    with_floor = detector.detect(frame, {"product": 0.15, "gap": 0.1})

    assert [(d.name, round(d.score, 2)) for d in with_floor] == [("product", 0.9), ("gap", 0.12)]
    assert [d.name for d in detector.reported(with_floor)] == ["product"]
    assert detector.detect(frame) == detector.reported(with_floor)
    both_low = detector.detect(frame, {"product": 0.1, "gap": 0.1})
    assert sorted(round(d.score, 2) for d in both_low) == [0.12, 0.12, 0.9]


def test_best_class_is_argmax_over_classes_first_class_on_ties() -> None:
    rng = np.random.default_rng(3)
    scores = rng.uniform(0, 1, size=(3, 500)).astype(np.float32)
    scores[:, :20] = 0.5  # ties go to the lowest class, as with argmax

    classes, best = best_class(scores)

    assert classes.tolist() == scores.argmax(axis=0).tolist()
    assert np.array_equal(best, scores.max(axis=0))
    single_class, single = best_class(scores[:1])
    assert not single_class.any()
    assert np.array_equal(single, scores[0])


def test_class_names_and_size_come_from_metadata(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = constant_detector_model(
        tmp_path / "m.onnx", [(5, 5, 4, 4, 2, 0.9)], {0: "a", 1: "b", 2: "gap"}, 160
    )
    with caplog.at_level(logging.INFO, logger="smartstore.edge.vision.detector"):
        detector = OnnxDetector(path, DetectorSettings(intra_op_threads=1))

    assert detector.names == {0: "a", 1: "b", 2: "gap"}
    assert detector.imgsz == 160
    assert detector.class_id("gap") == 2
    assert "warm-up" in caplog.text


def test_names_parse_ultralytics_and_list_forms() -> None:
    assert parse_names("{0: 'product', 1: 'gap'}") == {0: "product", 1: "gap"}
    assert parse_names("['product', 'gap']") == {0: "product", 1: "gap"}
    assert parse_names("not python") == {}
    assert parse_names(None) == {}


def test_grey_and_bgra_frames_are_accepted(make_model: ModelFactory) -> None:
    detector = OnnxDetector(make_model([(160.0, 160.0, 40.0, 40.0, 0, 0.9)]))

    grey = detector.detect(np.zeros((200, 300), dtype=np.uint8))
    bgra = detector.detect(np.zeros((200, 300, 4), dtype=np.uint8))

    assert [d.box for d in grey] == [d.box for d in bgra]
    assert len(grey) == 1


def test_a_model_of_another_layout_is_refused_at_load(tmp_path: Path) -> None:
    # Three names in metadata but the output carries scores for two classes only.
    path = constant_detector_model(tmp_path / "m.onnx", [(5, 5, 4, 4, 1, 0.9)], {0: "a", 1: "b"}, 64)
    model = onnx.load(str(path))
    for prop in model.metadata_props:
        if prop.key == "names":
            prop.value = "{0: 'a', 1: 'b', 2: 'c'}"
    onnx.save(model, str(path))

    with pytest.raises(ValueError, match="not \\[1, 4 \\+ 3 classes"):
        OnnxDetector(path)


def test_a_rectangular_model_letterboxes_into_its_own_shape(tmp_path: Path) -> None:
    # 416 x 256: a 16:9 frame fills it with 22 rows of padding instead of 182 in a 416 x 416 input.
    width, height = 1280, 720
    scale = 416 / width
    pad_y = (256 - round(height * scale)) // 2
    box = (100.0, 200.0, 500.0, 600.0)
    centre = ((box[0] + box[2]) / 2 * scale, (box[1] + box[3]) / 2 * scale + pad_y)
    candidate = (*centre, (box[2] - box[0]) * scale, (box[3] - box[1]) * scale, 0, 0.9)
    path = constant_detector_model(tmp_path / "rect.onnx", [candidate], {0: "product", 1: "gap"}, 416, 256)

    detector = OnnxDetector(path)
    [detection] = detector.detect(np.full((height, width, 3), 90, dtype=np.uint8))
    tensor, fitted = letterbox(
        np.zeros((height, width, 3), dtype=np.uint8), detector.input_size_for((width, height))
    )

    assert (detector.input_size_for((width, height)), detector.imgsz) == ((416, 256), 416)
    assert detector.input_size_for((480, 640)) == (416, 256)  # a fixed input is what every frame gets
    assert tensor.shape == (1, 3, 256, 416)
    assert (fitted.pad_x, fitted.pad_y) == (0, pad_y)
    assert detection.box == pytest.approx(box, abs=1e-3)


@pytest.mark.parametrize(
    ("frame", "fitted"),
    [
        ((1280, 720), (544, 320)),
        ((1024, 768), (480, 352)),
        ((768, 1024), (352, 480)),
        ((500, 500), (416, 416)),
    ],
)
def test_a_free_input_takes_the_frames_aspect_on_about_the_square_pixels(
    frame: tuple[int, int], fitted: tuple[int, int]
) -> None:
    width, height = fitted_input_size(frame, 416)

    assert (width, height) == fitted
    assert width % 32 == 0
    assert height % 32 == 0
    assert abs(width * height / 416**2 - 1) < 0.03
    # The frame fills the input but for less than one stride of padding.
    scale = min(width / frame[0], height / frame[1])
    assert width - frame[0] * scale < 32
    assert height - frame[1] * scale < 32


def test_a_free_shape_model_letterboxes_each_frame_into_its_fitted_input(tmp_path: Path) -> None:
    width, height = 1280, 720
    input_w, input_h = fitted_input_size((width, height), 416)
    scale = min(input_w / width, input_h / height)
    pad_x, pad_y = (input_w - round(width * scale)) // 2, (input_h - round(height * scale)) // 2
    box = (100.0, 200.0, 500.0, 600.0)
    centre = ((box[0] + box[2]) / 2 * scale + pad_x, (box[1] + box[3]) / 2 * scale + pad_y)
    candidate = (*centre, (box[2] - box[0]) * scale, (box[3] - box[1]) * scale, 0, 0.9)
    path = constant_detector_model(
        tmp_path / "free.onnx", [candidate], {0: "product", 1: "gap"}, 416, free=True
    )

    detector = OnnxDetector(path, DetectorSettings(intra_op_threads=1))
    [detection] = detector.detect(np.full((height, width, 3), 90, dtype=np.uint8))

    assert detector.imgsz == 416
    assert detector.input_size_for((width, height)) == (input_w, input_h) == (544, 320)
    assert model_input_size(path, (width, height)) == (544, 320)
    assert detection.box == pytest.approx(box, abs=1e-3)
    # Another aspect gets its own input; the first one's buffer is kept for the next frame of its camera.
    detector.detect(np.full((640, 480, 3), 90, dtype=np.uint8))
    assert detector.input_tensor((352, 480)).shape == (1, 3, 480, 352)
    assert detector.input_tensor((544, 320)).shape == (1, 3, 320, 544)


def test_a_free_shape_model_without_its_training_size_is_refused(tmp_path: Path) -> None:
    path = constant_detector_model(tmp_path / "free.onnx", [(5, 5, 4, 4, 0, 0.9)], {0: "a"}, 64, free=True)
    model = onnx.load(str(path))
    for prop in list(model.metadata_props):
        if prop.key == "imgsz":
            model.metadata_props.remove(prop)
    onnx.save(model, str(path))

    with pytest.raises(ValueError, match="names no imgsz"):
        OnnxDetector(path)
