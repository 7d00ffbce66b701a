"""Score an ONNX shelf detector through the edge's own OnnxDetector: VOC all-point AP at IoU 0.5 per class."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from pydantic import Field, model_validator

from smartstore.edge.vision.detector import OnnxDetector
from smartstore.edge.vision.settings import DetectorSettings
from smartstore.edge.vision.slots import SlotFillSettings
from smartstore.models.data_source import DataSource
from smartstore.models.slot_eval import SlotRecord, SlotScore, score_slots
from smartstore.models.synth.dataset import (
    Oblique,
    Supersample,
    SynthSettings,
    generator_fingerprint,
    write_dataset,
)
from smartstore.models.synth.scene import BACKGROUND_FAMILIES, HELDOUT_FAMILIES

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
# Below the edge's operating threshold on purpose: AP integrates over the whole precision-recall curve.
AP_SCORE_THRESHOLD = 0.001
EDGE_SCORE_THRESHOLD = DetectorSettings().score_threshold


@dataclass(frozen=True, slots=True)
class ImageResult:
    """One image's ground truth and predictions for one class; boxes are (x0, y0, x1, y1) rows."""

    truths: FloatArray
    boxes: FloatArray
    scores: FloatArray


@dataclass(frozen=True, slots=True)
class ClassScore:
    ap50: float  # nan when the class has no ground truth
    truths: int
    predictions: int
    true_positives: int
    # At the edge's operating threshold, where its slot logic sees the detections.
    precision_at_edge: float
    recall_at_edge: float


def iou(box: FloatArray, others: FloatArray) -> FloatArray:
    """IoU of one (4,) box against (M, 4) boxes."""
    inter_w = np.clip(np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0]), 0, None)
    inter_h = np.clip(np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1]), 0, None)
    inter = inter_w * inter_h
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    result: FloatArray = inter / np.maximum(area + areas - inter, 1e-12)
    return result


def voc_ap(recall: FloatArray, precision: FloatArray) -> float:
    """Area under the precision envelope (VOC 2010+ all-point interpolation)."""
    recall_steps = np.concatenate([[0.0], recall, [1.0]])
    envelope = np.concatenate([[0.0], precision, [0.0]])
    envelope = np.maximum.accumulate(envelope[::-1])[::-1]
    changed = np.flatnonzero(recall_steps[1:] != recall_steps[:-1])
    return float(np.sum((recall_steps[changed + 1] - recall_steps[changed]) * envelope[changed + 1]))


def score_class(
    images: Sequence[ImageResult], iou_threshold: float = 0.5, edge_threshold: float = EDGE_SCORE_THRESHOLD
) -> ClassScore:
    """Greedy matching, best score first; a second hit on an already matched truth is a false positive."""
    n_truths = sum(len(image.truths) for image in images)
    ranked = sorted(
        (
            (float(score), index, row)
            for index, image in enumerate(images)
            for row, score in enumerate(image.scores)
        ),
        key=lambda item: -item[0],
    )
    matched = [np.zeros(len(image.truths), dtype=bool) for image in images]
    hits = np.zeros(len(ranked), dtype=bool)
    for rank, (_, index, row) in enumerate(ranked):
        truths = images[index].truths
        if len(truths) == 0:
            continue
        overlaps = iou(images[index].boxes[row], truths)
        best = int(np.argmax(overlaps))
        if overlaps[best] >= iou_threshold and not matched[index][best]:
            matched[index][best] = True
            hits[rank] = True
    scores = np.array([item[0] for item in ranked], dtype=np.float64)
    true_positives = np.cumsum(hits)
    precision = true_positives / np.arange(1, len(ranked) + 1)
    recall = true_positives / n_truths if n_truths else np.zeros(len(ranked))
    ap = voc_ap(recall, precision) if n_truths else math.nan
    at_edge = scores >= edge_threshold
    edge_hits = int(hits[at_edge].sum())
    return ClassScore(
        ap50=ap,
        truths=n_truths,
        predictions=len(ranked),
        true_positives=int(hits.sum()),
        precision_at_edge=edge_hits / int(at_edge.sum()) if at_edge.any() else 0.0,
        recall_at_edge=edge_hits / n_truths if n_truths else math.nan,
    )


def read_yolo_labels(label_file: Path, width: int, height: int) -> tuple[npt.NDArray[np.int64], FloatArray]:
    """YOLO txt -> classes and pixel (x0, y0, x1, y1) boxes. A row is `cls cx cy w h` or, as Roboflow
    exports some boxes, a polygon `cls x1 y1 x2 y2 ...` (normalised), taken as its bounding box like
    Ultralytics does."""
    classes: list[int] = []
    boxes: list[list[float]] = []
    lines = label_file.read_text().splitlines() if label_file.exists() else []
    for line in lines:
        try:
            values = [float(v) for v in line.split()]
        except ValueError:
            continue  # not a label row; a labelling tool's stray line must not stop a whole score
        if len(values) < 5:
            continue
        if len(values) == 5:
            _, cx, cy, w, h = values
            x0, y0, x1, y1 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
        else:
            xs, ys = values[1::2], values[2::2]
            x0, y0, x1, y1 = min(xs), min(ys), max(xs), max(ys)
        classes.append(int(values[0]))
        boxes.append([x0 * width, y0 * height, x1 * width, y1 * height])
    return np.array(classes, dtype=np.int64), np.array(boxes, dtype=np.float64).reshape(-1, 4)


class EvalSettings(DataSource):
    """Which model on which held-out images."""

    model: Path = Field(title="ONNX model")
    seed: int = Field(default=1, ge=0, title="Seed", description="Differ from the training seed")
    families: tuple[str, ...] = Field(default=HELDOUT_FAMILIES, min_length=1, title="Back-panel families")
    imgsz: int = Field(default=640, ge=64, le=4096, title="Generated image size")
    supersample: Supersample = 1.0
    oblique: Oblique = 0.0
    work: Path = Field(default=Path("var/eval"), title="Where generated held-out sets go")
    score_threshold: float = Field(default=AP_SCORE_THRESHOLD, gt=0, lt=1, title="Lowest score kept")
    edge: DetectorSettings = Field(
        default_factory=DetectorSettings,
        title="Edge detector settings",
        description="Thresholds for precision/recall at the edge (the boxes it reports)",
    )
    slots: SlotFillSettings = Field(
        default_factory=SlotFillSettings,
        title="Edge slot-fill settings",
        description="How slot-level scoring turns boxes into empty or not, as the edge does",
    )

    @model_validator(mode="after")
    def _known_families_and_model(self) -> EvalSettings:
        unknown = [family for family in self.families if family not in BACKGROUND_FAMILIES]
        if unknown:
            raise ValueError(f"unknown background families {unknown}")
        if not self.model.is_file():
            raise ValueError(f"model {self.model} does not exist")
        return self


@dataclass(frozen=True, slots=True)
class EvalReport:
    model: Path
    dataset: Path
    images: int
    classes: dict[str, ClassScore]
    inference_ms_p50: float

    @property
    def map50(self) -> float:
        values = [score.ap50 for score in self.classes.values() if not math.isnan(score.ap50)]
        return float(np.mean(values)) if values else math.nan

    def as_json(self) -> dict[str, Any]:
        def clean(value: float) -> float | None:
            return None if math.isnan(value) else round(value, 4)

        return {
            "model": str(self.model),
            "dataset": str(self.dataset),
            "images": self.images,
            "mAP50": clean(self.map50),
            "detect_ms_p50": round(self.inference_ms_p50, 1),
            "classes": {
                name: {
                    "ap50": clean(score.ap50),
                    "truths": score.truths,
                    "predictions": score.predictions,
                    "precision_at_edge": clean(score.precision_at_edge),
                    "recall_at_edge": clean(score.recall_at_edge),
                }
                for name, score in self.classes.items()
            },
        }

    def table(self) -> str:
        lines = [f"{'class':<10} {'truths':>7} {'AP50':>7} {'P@edge':>7} {'R@edge':>7}"]
        for name, score in self.classes.items():
            lines.append(
                f"{name:<10} {score.truths:>7} {score.ap50:>7.3f} "
                f"{score.precision_at_edge:>7.3f} {score.recall_at_edge:>7.3f}"
            )
        lines.append(
            f"{'all':<10} {self.images:>7} {self.map50:>7.3f}   "
            f"(images; detect p50 {self.inference_ms_p50:.1f} ms)"
        )
        return "\n".join(lines)


def prepare_heldout(settings: EvalSettings) -> Path:
    if settings.data is not None:
        return settings.data
    assert settings.synth_count is not None  # guaranteed by the validator
    # The generator's fingerprint in the name: a set drawn by an older generator is never scored again.
    drawn = f"{settings.imgsz}" + (f"x{settings.supersample:g}" if settings.supersample > 1 else "")
    drawn += f"-oblique{settings.oblique:g}" if settings.oblique > 0 else ""
    name = f"heldout-s{settings.seed}-n{settings.synth_count}-{drawn}-{'-'.join(settings.families)}"
    root = settings.work / f"{name}-g{generator_fingerprint()}"
    if not (root / "manifest.json").is_file():
        write_dataset(
            SynthSettings(
                out=root,
                count=settings.synth_count,
                seed=settings.seed,
                imgsz=settings.imgsz,
                supersample=settings.supersample,
                oblique=settings.oblique,
                families=settings.families,
                val_fraction=0.0,
            )
        )
    return root


def evaluate(settings: EvalSettings) -> EvalReport:
    """Every image of the dataset (all splits) through OnnxDetector, then AP50 per class."""
    dataset = prepare_heldout(settings)
    detector = OnnxDetector(
        settings.model,
        # As many boxes as the edge keeps: a whole unit in one frame holds up to ~500 facings and gaps.
        DetectorSettings(score_threshold=settings.score_threshold, class_score_thresholds={}),
    )
    per_class: dict[int, list[ImageResult]] = {cls: [] for cls in detector.names}
    timings: list[float] = []
    image_files = sorted((dataset / "images").glob("*/*.jpg"))
    for image_file in image_files:
        image = cv2.imread(str(image_file))
        if image is None:
            logger.warning("skipped unreadable image %s", image_file)
            continue
        started = time.perf_counter()
        detections = detector.detect(np.asarray(image, dtype=np.uint8))
        timings.append((time.perf_counter() - started) * 1000)
        label_file = dataset / "labels" / image_file.parent.name / f"{image_file.stem}.txt"
        truth_classes, truth_boxes = read_yolo_labels(label_file, image.shape[1], image.shape[0])
        for cls, results in per_class.items():
            mine = [detection for detection in detections if detection.cls == cls]
            results.append(
                ImageResult(
                    truths=truth_boxes[truth_classes == cls],
                    boxes=np.array([d.box for d in mine], dtype=np.float64).reshape(-1, 4),
                    scores=np.array([d.score for d in mine], dtype=np.float64),
                )
            )
    report = EvalReport(
        model=settings.model,
        dataset=dataset,
        images=len(timings),
        classes={
            name: score_class(results, edge_threshold=settings.edge.threshold(name))
            for name, results in ((detector.names[cls], results) for cls, results in per_class.items())
        },
        inference_ms_p50=float(np.median(timings)) if timings else math.nan,
    )
    logger.info("evaluated %s on %s images: mAP50 %.3f", settings.model, report.images, report.map50)
    return report


def score_heldout_slots(settings: EvalSettings, records: list[SlotRecord] | None = None) -> SlotScore:
    """Out-of-stock scoring of a generated held-out set (`synth_count`), with the settings' edge thresholds
    and slot rule: only generated sets know their planogram slots."""
    if settings.synth_count is None:
        raise ValueError("slot scoring needs a generated held-out set (synth_count)")
    return score_slots(
        settings.model,
        settings.synth_count,
        settings.seed,
        settings.imgsz,
        settings.families,
        supersample=settings.supersample,
        oblique=settings.oblique,
        detector_settings=settings.edge,
        fill_settings=settings.slots,
        records=records,
    )
