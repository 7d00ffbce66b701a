"""AP50 by hand-made cases, settings validation, the network guard, and a tiny real train+export+eval."""

from __future__ import annotations

import json
import math
import os
import socket
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import onnxruntime as ort
import pytest
import yaml
from pydantic import ValidationError

from smartstore.edge.vision.detector import OnnxDetector, parse_names
from smartstore.models.evaluate import (
    EvalSettings,
    ImageResult,
    evaluate,
    read_yolo_labels,
    score_class,
    voc_ap,
)
from smartstore.models.offline import import_ultralytics, refuse_network
from smartstore.models.synth.dataset import SynthSettings, write_dataset
from smartstore.models.train import TrainSettings, prepare_dataset, train
from smartstore.models.trainer_hooks import WeightAverage, assign_per_image

REAL_PHOTOS = Path(__file__).resolve().parents[2] / "bench" / "data" / "real-shelves-ccby"


def boxes(*rows: tuple[float, float, float, float]) -> np.ndarray:
    return np.array(rows, dtype=np.float64).reshape(-1, 4)


def image(truths: np.ndarray, predicted: np.ndarray, scores: list[float]) -> ImageResult:
    return ImageResult(truths=truths, boxes=predicted, scores=np.array(scores, dtype=np.float64))


A = (0.0, 0.0, 10.0, 10.0)
B = (20.0, 20.0, 30.0, 30.0)
C = (50.0, 0.0, 60.0, 10.0)


def test_perfect_detections_score_one() -> None:
    score = score_class([image(boxes(A, B), boxes(B, A), [0.9, 0.8]), image(boxes(C), boxes(C), [0.7])])
    assert score.ap50 == pytest.approx(1.0)
    assert (score.truths, score.predictions, score.true_positives) == (3, 3, 3)
    assert score.precision_at_edge == pytest.approx(1.0)
    assert score.recall_at_edge == pytest.approx(1.0)


def test_one_missed_object_of_two_halves_ap() -> None:
    score = score_class([image(boxes(A, B), boxes(A), [0.9])])
    assert score.ap50 == pytest.approx(0.5)
    assert score.recall_at_edge == pytest.approx(0.5)


def test_duplicate_detection_is_a_false_positive() -> None:
    # A (0.9) hit, A again (0.8) duplicate, B (0.7) hit: precision 1 at recall 0.5, then 2/3 at recall 1.
    score = score_class([image(boxes(A, B), boxes(A, A, B), [0.9, 0.8, 0.7])])
    assert score.true_positives == 2
    assert score.ap50 == pytest.approx(0.5 * 1.0 + 0.5 * 2 / 3)
    assert score.precision_at_edge == pytest.approx(2 / 3)


def test_box_below_half_overlap_is_a_miss() -> None:
    shifted = (6.0, 0.0, 16.0, 10.0)  # IoU with A = 4 / 16 = 0.25
    score = score_class([image(boxes(A), boxes(shifted), [0.9])])
    assert score.ap50 == pytest.approx(0.0)
    assert score.true_positives == 0


def test_a_confident_false_positive_ranked_first_lowers_ap() -> None:
    score = score_class([image(boxes(A), boxes(C, A), [0.9, 0.5])])
    assert score.ap50 == pytest.approx(0.5)  # the only hit comes at precision 1/2


def test_no_predictions_score_zero_and_no_truths_are_undefined() -> None:
    assert score_class([image(boxes(A), boxes(), [])]).ap50 == 0.0
    assert math.isnan(score_class([image(boxes(), boxes(A), [0.9])]).ap50)


def test_edge_threshold_only_counts_confident_detections() -> None:
    score = score_class([image(boxes(A, B), boxes(A, B), [0.9, 0.1])], edge_threshold=0.25)
    assert score.ap50 == pytest.approx(1.0)
    assert score.recall_at_edge == pytest.approx(0.5)


def test_voc_ap_uses_the_precision_envelope() -> None:
    # Precision dips then recovers: the envelope takes the later, higher value for the earlier recall.
    ap = voc_ap(np.array([0.5, 0.5, 1.0]), np.array([1.0, 0.5, 2 / 3]))
    assert ap == pytest.approx(0.5 + 0.5 * 2 / 3)


def test_yolo_labels_become_pixel_boxes(tmp_path: Path) -> None:
    labels = tmp_path / "a.txt"
    labels.write_text("0 0.5 0.5 0.2 0.4\n1 0.1 0.1 0.2 0.2\n")
    classes, pixel_boxes = read_yolo_labels(labels, width=200, height=100)
    assert classes.tolist() == [0, 1]
    np.testing.assert_allclose(pixel_boxes, [[80, 30, 120, 70], [0, 0, 40, 20]])
    empty_classes, empty_boxes = read_yolo_labels(tmp_path / "missing.txt", 10, 10)
    assert len(empty_classes) == 0
    assert empty_boxes.shape == (0, 4)


def test_settings_need_exactly_one_data_source(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="exactly one"):
        TrainSettings(out=tmp_path)
    with pytest.raises(ValidationError, match="exactly one"):
        TrainSettings(out=tmp_path, data=tmp_path, synth_count=10)
    with pytest.raises(ValidationError, match=r"data\.yaml"):
        TrainSettings(out=tmp_path, data=tmp_path)
    with pytest.raises(ValidationError, match="multiple of 32"):
        TrainSettings(out=tmp_path, synth_count=10, imgsz=300)
    model = tmp_path / "m.onnx"
    model.write_bytes(b"x")
    with pytest.raises(ValidationError, match="unknown background"):
        EvalSettings(model=model, synth_count=4, families=("marble",))


def test_class_weight_power_stays_between_off_and_full_inverse_frequency(tmp_path: Path) -> None:
    assert TrainSettings(out=tmp_path, synth_count=10).class_weight_power == 0.0
    with pytest.raises(ValidationError, match="less than or equal to 1"):
        TrainSettings(out=tmp_path, synth_count=10, class_weight_power=1.5)
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        TrainSettings(out=tmp_path, synth_count=10, class_weight_power=-0.1)


def test_real_photo_settings_are_checked_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="less than 1"):
        TrainSettings(out=tmp_path, synth_count=10, real_product_score=1.5)
    with pytest.raises(ValidationError, match="images does not exist"):
        TrainSettings(out=tmp_path, synth_count=10, real=tmp_path / "nowhere")
    (tmp_path / "data.yaml").write_text("nc: 2\n")
    with pytest.raises(ValidationError, match="adds to a generated set"):
        TrainSettings(out=tmp_path, data=tmp_path, real=REAL_PHOTOS)
    with pytest.raises(ValidationError, match="does not exist"):
        TrainSettings(out=tmp_path, synth_count=10, init_weights=tmp_path / "none.pt")


def test_a_generated_training_set_is_reused_only_for_the_same_drawing(tmp_path: Path) -> None:
    settings = TrainSettings(out=tmp_path, synth_count=3, imgsz=96, workers=1)
    root = prepare_dataset(settings)
    manifest = root / "manifest.json"
    first_written = manifest.stat().st_mtime_ns
    assert prepare_dataset(settings) == root
    assert manifest.stat().st_mtime_ns == first_written
    larger = TrainSettings(out=tmp_path, synth_count=3, imgsz=96, workers=1, synth_supersample=2.0)
    assert prepare_dataset(larger) == root
    assert json.loads(manifest.read_text())["supersample"] == 2.0
    with pytest.raises(ValidationError, match="greater than or equal to 1"):
        TrainSettings(out=tmp_path, synth_count=3, synth_supersample=0.5)


def test_network_guard_refuses_internet_but_not_loopback() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with refuse_network() as attempts:
            with socket.socket() as client:
                client.connect(server.getsockname())  # loopback stays open
            with pytest.raises(OSError, match="refused"), socket.socket() as client:
                client.connect(("203.0.113.7", 443))
            with pytest.raises(socket.gaierror):
                socket.getaddrinfo("github.com", 443)
    assert attempts == ["connect ('203.0.113.7', 443)", "lookup github.com"]
    assert socket.getaddrinfo("localhost", 80)  # restored


def _require_training_stack() -> None:
    if os.environ.get("SMARTSTORE_REQUIRE_TRAIN") != "1":  # CI installs the train extra and sets it
        pytest.importorskip("torch")
        pytest.importorskip("ultralytics")


def test_weight_average_spans_the_steps_asked_for() -> None:
    _require_training_stack()
    import torch

    import_ultralytics()
    model = torch.nn.Linear(2, 1)
    trainer = SimpleNamespace(model=model, ema=None)
    WeightAverage(150).on_pretrain_routine_end(trainer)
    ema = trainer.ema
    assert ema is not None
    # Ramped from nothing over 150 steps to an average of the last ~150 (Ultralytics': 0.53 at step 1,500).
    assert ema.decay(0) == 0
    assert ema.decay(150) == pytest.approx((1 - 1 / 150) * (1 - math.exp(-1)))
    assert ema.decay(1500) == pytest.approx(1 - 1 / 150, abs=1e-4)
    with torch.no_grad():
        model.weight.fill_(1.0)
        ema.ema.weight.fill_(0.0)
    ema.updates = 10_000
    ema.update(model)
    assert float(ema.ema.weight[0, 0]) == pytest.approx(1 / 150, rel=1e-3)


def test_per_image_assignment_gives_the_librarys_targets() -> None:
    _require_training_stack()
    import torch

    import_ultralytics()
    from ultralytics.utils.tal import TaskAlignedAssigner

    generator = torch.Generator().manual_seed(0)
    boxes_per_image = [7, 0, 2, 5]  # padded to 7 rows, as the loss pads a batch
    images, most, classes = len(boxes_per_image), max(boxes_per_image), 2
    ys, xs = torch.meshgrid(torch.arange(16) + 0.5, torch.arange(16) + 0.5, indexing="ij")
    anchors = torch.stack([xs.flatten(), ys.flatten()], dim=1)
    corners = torch.rand(images, most, 2, generator=generator) * 12
    sizes = 1 + torch.rand(images, most, 2, generator=generator) * 4
    gt_bboxes = torch.cat([corners, corners + sizes], dim=2)
    gt_labels = torch.randint(0, classes, (images, most, 1), generator=generator).float()
    mask_gt = torch.zeros(images, most, 1)
    for image, count in enumerate(boxes_per_image):
        mask_gt[image, :count] = 1
        gt_bboxes[image, count:] = 0  # padding rows, as the loss writes them
    centres = torch.rand(images, len(anchors), 2, generator=generator) * 16
    pd_bboxes = torch.cat([centres - 1.5, centres + 1.5], dim=2)
    pd_scores = torch.rand(images, len(anchors), classes, generator=generator)

    library = TaskAlignedAssigner(topk=5, num_classes=classes, alpha=0.5, beta=6.0)
    criterion = SimpleNamespace(assigner=library)
    expected = criterion.assigner(pd_scores, pd_bboxes, anchors, gt_labels, gt_bboxes, mask_gt)
    assign_per_image(criterion)
    assert type(criterion.assigner) is not TaskAlignedAssigner
    assert (criterion.assigner.topk, criterion.assigner.alpha) == (5, 0.5)
    got = criterion.assigner(pd_scores, pd_bboxes, anchors, gt_labels, gt_bboxes, mask_gt)
    labels, bboxes, scores, foreground, gt_index = expected
    assert foreground.sum() > 0
    assert torch.equal(got[3], foreground)
    assert torch.equal(got[0], labels)
    assert torch.allclose(got[1], bboxes)
    assert torch.allclose(got[2], scores)
    assert torch.equal(got[4][foreground], gt_index[foreground])


@pytest.mark.slow
def test_tiny_training_exports_an_onnx_model_the_edge_loads_and_fine_tunes_on_real_photos(
    tmp_path: Path,
) -> None:
    _require_training_stack()
    with refuse_network() as attempts:
        result = train(
            TrainSettings(
                out=tmp_path / "run",
                synth_count=16,
                epochs=1,
                imgsz=160,
                batch=8,
                workers=0,
                class_weight_power=0.5,
                classification_gain=1.5,
                ema_steps=4,
                validate_each_epoch=False,
                ship=tmp_path / "shipped.onnx",
            )
        )
    assert attempts == []
    run_args = yaml.safe_load((result.run_dir / "args.yaml").read_text(encoding="utf-8"))
    assert (run_args["cls"], run_args["cls_pw"], run_args["val"]) == (1.5, 0.5, False)
    assert result.epochs_run == 1
    assert "metrics/mAP50(B)" in result.metrics  # the last epoch is scored even without per-epoch validation
    assert result.best_weights.is_file()
    assert result.shipped is not None
    assert result.shipped.read_bytes() == result.onnx.path.read_bytes()
    session = ort.InferenceSession(str(result.onnx.path), providers=["CPUExecutionProvider"])
    assert parse_names(session.get_modelmeta().custom_metadata_map["names"]) == {0: "product", 1: "gap"}
    assert session.get_inputs()[0].shape[1:] == [3, "height", "width"]  # free: fitted to each camera
    assert result.onnx.free_input
    assert result.onnx.imgsz == 160
    assert result.onnx.output_shape[:2] == (1, 6)

    detector = OnnxDetector(result.onnx.path)
    assert detector.imgsz == 160
    assert detector.input_size_for((200, 120)) == (192, 128)
    assert isinstance(detector.detect(np.full((120, 200, 3), 90, dtype=np.uint8)), list)

    heldout = tmp_path / "heldout"
    write_dataset(SynthSettings(out=heldout, count=3, seed=5, imgsz=160, families=("tiles",), val_fraction=0))
    report = evaluate(EvalSettings(model=result.onnx.path, data=heldout))
    assert report.images == 3
    assert set(report.classes) == {"product", "gap"}
    assert report.classes["product"].truths > 0
    assert 0.0 <= report.classes["product"].ap50 <= 1.0

    # Fine-tuning that run's weights on real photos too (the CC BY layout: train__ prefixes, gaps only).
    real = tmp_path / "real"
    for folder in ("images", "labels"):
        (real / folder).mkdir(parents=True)
    for index, photo in enumerate(sorted(REAL_PHOTOS.glob("images/valid__*.jpg"))[:2]):
        (real / "images" / f"train__{index}.jpg").write_bytes(photo.read_bytes())
        labels = (REAL_PHOTOS / "labels" / f"{photo.stem}.txt").read_text()
        (real / "labels" / f"train__{index}.txt").write_text(labels)
    tuned = train(
        TrainSettings(
            out=tmp_path / "tuned",
            synth_count=16,
            epochs=1,
            imgsz=160,
            batch=8,
            workers=0,
            validate_each_epoch=False,
            init_weights=result.best_weights,
            real=real,
            real_repeat=2,
        )
    )
    assert yaml.safe_load((tuned.run_dir / "args.yaml").read_text(encoding="utf-8"))["pretrained"] is True
    assert tuned.real_photos["images"] == 4
    assert tuned.real_photos["gaps"] > 0
    real_in_training = list((tmp_path / "tuned" / "dataset" / "images" / "train").glob("real__*.jpg"))
    assert len(real_in_training) == 4
