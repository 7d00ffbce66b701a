"""Write a seeded synthetic YOLO dataset: images/, labels/, train/val split, data.yaml and a manifest."""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from smartstore.models.synth import CLASS_NAMES, GAP_CLASS
from smartstore.models.synth.pipeline import synthesize
from smartstore.models.synth.scene import BACKGROUND_FAMILIES, TRAIN_FAMILIES

logger = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
GENERATOR_DIR = Path(__file__).resolve().parent


def generator_fingerprint() -> str:
    """A short hash of the generator's source: sets kept on disk are only reused while it is unchanged."""
    digest = hashlib.sha256()
    for source in sorted(GENERATOR_DIR.glob("*.py")):
        digest.update(source.name.encode())
        digest.update(source.read_bytes())
    return digest.hexdigest()[:12]


# How much larger than imgsz a frame may be drawn (models/synth/pipeline.py drawing_size); shared by every
# settings model that generates images.
Supersample = Annotated[
    float,
    Field(
        ge=1.0,
        le=4.0,
        title="Supersampling",
        description="Draw each frame at a random 1 to this many times imgsz; labels stay relative",
    ),
]


# The share of frames looking along the aisle instead of across it (models/synth/aisle.py).
Oblique = Annotated[
    float,
    Field(
        ge=0.0,
        le=1.0,
        title="Oblique aisle views",
        description="Share of frames that look along the aisle at a receding shelf",
    ),
]


class SynthSettings(BaseModel):
    """What to generate; validated before the first image is drawn."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    out: Path = Field(title="Output folder", description="Dataset root; images/ and labels/ go below it")
    count: int = Field(
        ge=1, le=1_000_000, title="Images", description="Number of images, train and val together"
    )
    seed: int = Field(default=0, ge=0, title="Seed", description="Same seed, same bytes")
    imgsz: int = Field(default=640, ge=64, le=4096, title="Image size", description="Long side in pixels")
    families: tuple[str, ...] = Field(
        default=TRAIN_FAMILIES,
        min_length=1,
        title="Back-panel families",
        description="Held-out sets use others",
    )
    supersample: Supersample = 1.0
    oblique: Oblique = 0.0
    val_fraction: float = Field(default=0.15, ge=0.0, lt=1.0, title="Validation share")
    workers: int = Field(
        default=1, ge=1, le=64, title="Worker processes", description="Output does not depend on it"
    )

    @field_validator("families")
    @classmethod
    def _known_families(cls, families: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [family for family in families if family not in BACKGROUND_FAMILIES]
        if unknown:
            raise ValueError(f"unknown background families {unknown}; known: {list(BACKGROUND_FAMILIES)}")
        return families


@dataclass(frozen=True, slots=True)
class DatasetSummary:
    root: Path
    train_images: int
    val_images: int
    product_boxes: int
    gap_boxes: int
    seconds: float

    @property
    def images_per_second(self) -> float:
        return (self.train_images + self.val_images) / max(self.seconds, 1e-9)


@dataclass(frozen=True, slots=True)
class _Rendered:
    index: int
    jpeg: bytes
    yolo_text: str
    family: str
    gaps: int
    boxes: int


def image_seed(seed: int, index: int) -> int:
    """Independent per-image seed, so any image can be regenerated alone and workers need no coordination."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def val_indices(seed: int, count: int, val_fraction: float) -> set[int]:
    n_val = round(count * val_fraction)
    if val_fraction > 0 and count > 1:
        n_val = min(max(n_val, 1), count - 1)
    order = np.random.default_rng([seed, 0x5B117]).permutation(count)
    return {int(i) for i in order[:n_val]}


def _render(job: tuple[int, int, int, tuple[str, ...], float, float]) -> _Rendered:
    index, seed, imgsz, families, supersample, oblique = job
    image = synthesize(image_seed(seed, index), imgsz, families, supersample, oblique)
    gaps = sum(1 for label in image.labels if label.cls == GAP_CLASS)
    return _Rendered(index, image.jpeg, image.yolo_text(), image.panel_family, gaps, len(image.labels))


def _rendered(settings: SynthSettings) -> Iterator[_Rendered]:
    jobs = (
        (index, settings.seed, settings.imgsz, settings.families, settings.supersample, settings.oblique)
        for index in range(settings.count)
    )
    if settings.workers == 1:
        yield from map(_render, jobs)
        return
    with multiprocessing.get_context("spawn").Pool(settings.workers) as pool:
        yield from pool.imap(_render, jobs, chunksize=4)


def write_dataset(settings: SynthSettings) -> DatasetSummary:
    """Generate the dataset under `settings.out` (Ultralytics layout) and return what was written."""
    started = time.perf_counter()
    root = settings.out
    for split in ("train", "val"):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
    in_val = val_indices(settings.seed, settings.count, settings.val_fraction)
    manifest: list[dict[str, object]] = []
    products = gaps = 0
    for done, item in enumerate(_rendered(settings), start=1):
        split = "val" if item.index in in_val else "train"
        stem = f"synth_{settings.seed}_{item.index:06d}"
        (root / "images" / split / f"{stem}.jpg").write_bytes(item.jpeg)
        (root / "labels" / split / f"{stem}.txt").write_text(item.yolo_text)
        manifest.append({"image": f"images/{split}/{stem}.jpg", "split": split, "panel_family": item.family})
        products += item.boxes - item.gaps
        gaps += item.gaps
        if done % 100 == 0 or done == settings.count:
            logger.info("synth: %s/%s images", done, settings.count)
    data = {
        "path": str(root.resolve()),
        "train": "images/train",
        "val": "images/val",
        "names": dict(CLASS_NAMES),
    }
    (root / "data.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    meta = {
        "seed": settings.seed,
        "imgsz": settings.imgsz,
        "supersample": settings.supersample,
        "oblique": settings.oblique,
        "families": list(settings.families),
        "classes": CLASS_NAMES,
        "images": manifest,
    }
    (root / MANIFEST_NAME).write_text(json.dumps(meta, indent=1) + "\n")
    summary = DatasetSummary(
        root, settings.count - len(in_val), len(in_val), products, gaps, time.perf_counter() - started
    )
    logger.info(
        "synth: wrote %s train + %s val images (%s products, %s gaps) to %s at %.1f images/s",
        summary.train_images,
        summary.val_images,
        products,
        gaps,
        root,
        summary.images_per_second,
    )
    return summary
