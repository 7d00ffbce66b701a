"""Real photos into a training set: their gap boxes mapped to our classes, their products pseudo-labelled.

Real shelf photos whose licence allows training (the CC BY set credited in the model card) are labelled
with empty spaces only. Added as they are, every product on them would teach the detector that a real
product is background, so the products a model already finds on them (score >= `product_score`, not on
a labelled gap) are written as product boxes: the teacher's misses stay background, its finds are learnt.

Layout read: `images/` and `labels/` (YOLO txt, same stems), the split in the file-name prefix
(`train__…`, `valid__…`, `test__…`), as `../shared/real-shelves-ccby/` and Roboflow exports have it.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from smartstore.edge.vision.detector import OnnxDetector
from smartstore.models.evaluate import read_yolo_labels

logger = logging.getLogger(__name__)

PRODUCT, GAP = 0, 1
PREFIX = "real__"  # every file this module writes into a dataset starts so: rewritten as a whole


@dataclass(frozen=True, slots=True)
class RealPhotos:
    """Which real photos go into training, and how."""

    folder: Path
    splits: tuple[str, ...] = ("train",)
    # Their class id -> ours. The CC BY set's one class, 0 = empty_shelf, is our gap.
    label_map: Mapping[int, int] = field(default_factory=lambda: {0: GAP})
    repeat: int = 2  # copies per photo: 80 real photos against 1,700 synthetic ones would barely count
    # Roboflow's rotated variants carry boxes loosened to the rotated corners: a gap box 30 % too large
    # teaches the detector to call shelf edges gaps. Files named in meta/augmentation_flags.json only.
    skip_rotated: bool = True
    product_score: float = 0.5
    teacher: Path | None = None  # ONNX model that pseudo-labels products; None: no product boxes


def split_of(name: str) -> str:
    return name.split("__", 1)[0] if "__" in name else ""


def _rotated(folder: Path) -> set[str]:
    flags = folder / "meta" / "augmentation_flags.json"
    if not flags.is_file():
        return set()
    return {entry["file"] for entry in json.loads(flags.read_text()) if entry.get("rotated_black_corners")}


def read_labels(path: Path, label_map: Mapping[int, int]) -> list[tuple[int, float, float, float, float]]:
    """YOLO rows (class, cx, cy, w, h normalised; polygons as their boxes) with classes mapped; unmapped
    classes dropped."""
    classes, boxes = read_yolo_labels(path, 1, 1)
    return [
        (label_map[int(cls)], (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0)
        for cls, (x0, y0, x1, y1) in zip(classes.tolist(), boxes.tolist(), strict=True)
        if int(cls) in label_map
    ]


def _corners(row: tuple[int, float, float, float, float]) -> tuple[float, float, float, float]:
    _, cx, cy, w, h = row
    return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2


def _overlap_share(box: Sequence[float], other: Sequence[float]) -> float:
    """Share of `box`'s area inside `other`."""
    width = min(box[2], other[2]) - max(box[0], other[0])
    height = min(box[3], other[3]) - max(box[1], other[1])
    area = (box[2] - box[0]) * (box[3] - box[1])
    return 0.0 if width <= 0 or height <= 0 or area <= 0 else width * height / area


def pseudo_products(
    detector: OnnxDetector, image: np.ndarray, gaps: Sequence[tuple[float, float, float, float]], score: float
) -> list[tuple[int, float, float, float, float]]:
    """Product boxes the teacher finds (normalised YOLO rows), none mostly on a labelled gap."""
    height, width = image.shape[:2]
    rows = []
    for detection in detector.detect(image):
        if detection.cls != PRODUCT or detection.score < score:
            continue
        x0, y0, x1, y1 = detection.box
        box = (x0 / width, y0 / height, x1 / width, y1 / height)
        if any(_overlap_share(box, gap) > 0.3 for gap in gaps):
            continue
        rows.append((PRODUCT, (box[0] + box[2]) / 2, (box[1] + box[3]) / 2, box[2] - box[0], box[3] - box[1]))
    return rows


def add_real_photos(dataset: Path, photos: RealPhotos, split: str = "train") -> dict[str, int]:
    """Write the chosen real photos into `dataset`'s `split` (replacing earlier ones); return counts."""
    images_out, labels_out = dataset / "images" / split, dataset / "labels" / split
    images_out.mkdir(parents=True, exist_ok=True)
    labels_out.mkdir(parents=True, exist_ok=True)
    for old in [*images_out.glob(f"{PREFIX}*"), *labels_out.glob(f"{PREFIX}*")]:
        old.unlink()
    for cache in (dataset / "labels").glob("*.cache"):
        cache.unlink()  # Ultralytics' label cache would hide the new files
    detector = OnnxDetector(photos.teacher) if photos.teacher is not None else None
    rotated = _rotated(photos.folder) if photos.skip_rotated else set()
    counts = {"photos": 0, "images": 0, "gaps": 0, "products": 0, "skipped_rotated": 0}
    for image_path in sorted((photos.folder / "images").glob("*.jpg")):
        if split_of(image_path.name) not in photos.splits:
            continue
        if image_path.name in rotated:
            counts["skipped_rotated"] += 1
            continue
        rows = read_labels(photos.folder / "labels" / f"{image_path.stem}.txt", photos.label_map)
        if detector is not None:
            image = cv2.imread(str(image_path))
            if image is None:
                logger.warning("%s is not a readable image; skipped", image_path)
                continue
            gaps = [_corners(row) for row in rows if row[0] == GAP]
            rows += pseudo_products(detector, image, gaps, photos.product_score)
        text = "".join(f"{c} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}\n" for c, cx, cy, w, h in rows)
        counts["photos"] += 1
        counts["gaps"] += sum(1 for row in rows if row[0] == GAP)
        counts["products"] += sum(1 for row in rows if row[0] == PRODUCT)
        for copy in range(photos.repeat):
            stem = f"{PREFIX}{image_path.stem}__{copy}"
            shutil.copyfile(image_path, images_out / f"{stem}.jpg")
            (labels_out / f"{stem}.txt").write_text(text)
            counts["images"] += 1
    logger.info("real photos added to %s: %s", images_out, counts)
    return counts
