"""Train the shelf detector from its yaml with Ultralytics on synthetic data, then export it to ONNX."""

from __future__ import annotations

import importlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from smartstore.models.data_source import DataSource
from smartstore.models.export import ExportedModel, export_onnx
from smartstore.models.offline import import_ultralytics, refuse_network
from smartstore.models.real_data import RealPhotos, add_real_photos
from smartstore.models.synth.dataset import Oblique, Supersample, SynthSettings, write_dataset
from smartstore.models.synth.scene import TRAIN_FAMILIES
from smartstore.models.trainer_hooks import EpochLog, WeightAverage, on_train_batch_start_assign_per_image

logger = logging.getLogger(__name__)

MODELS_DIR = Path(__file__).resolve().parent
ARCHITECTURE_YAML = MODELS_DIR / "shelf-detector.yaml"
SHIPPED_MODEL = MODELS_DIR / "shelf-detector.onnx"

# The detector is judged on real photos it never saw, so augmentation pushes colour, exposure, scale and
# framing well past Ultralytics' defaults; blur, noise, JPEG artefacts and lens distortion come from the
# generator itself (models/synth/degrade.py, camera.py), per image and seeded.
AUGMENTATION: dict[str, float] = {
    "hsv_h": 0.04,  # colour casts of store lighting
    "hsv_s": 0.8,
    "hsv_v": 0.6,  # dim aisles and blown-out fridges
    "degrees": 3.0,  # slightly rolled cameras
    "translate": 0.2,
    # Shelves filmed from near and far; the generator already varies the zoom, and shrinking its small
    # facings further leaves boxes too small to learn from.
    "scale": 0.4,
    "shear": 2.0,
    "perspective": 0.0005,  # on top of the generator's homography
    "fliplr": 0.5,
    "flipud": 0.0,  # shelves are never upside down
    "mosaic": 1.0,
    # Blending two shelves puts products over gaps, the very thing the detector must tell apart.
    "mixup": 0.0,
}


class TrainSettings(DataSource):
    """One training run; validated before any data is generated."""

    out: Path = Field(title="Run folder", description="Weights, results and the ONNX export go here")
    synth_count: int | None = Field(  # two at least: one for training, one for validation
        default=None, ge=2, title="Synthetic images", description="Generate this many when no --data"
    )
    synth_supersample: Supersample = 1.0  # the loader scales the larger frames down, as the edge does
    synth_oblique: Oblique = 0.0
    epochs: int = Field(default=50, ge=1, le=10_000, title="Epochs")
    imgsz: int = Field(default=416, ge=64, le=2048, multiple_of=32, title="Image size", description="Square")
    # On a 2-core CPU a batch of 8 trains faster per image than 16 (140 against 170-190 ms forward and
    # backward at 416) and steps the optimizer twice as often: 7 epochs of it beat 6 of 16 (model card).
    batch: int = Field(default=8, ge=1, le=1024, title="Batch size")
    workers: int = Field(default=2, ge=0, le=64, title="Data-loader workers")
    seed: int = Field(default=0, ge=0, title="Seed", description="Data and training seed")
    threads: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        ge=1,
        le=256,
        title="Torch threads",
        description="CPU threads for training; Ultralytics alone would use one",
    )
    device: str = Field(default="auto", title="Device", description="auto: cuda:0 when CUDA exists, else cpu")
    patience: int = Field(default=100, ge=0, title="Early-stop patience", description="Epochs; 0 = never")
    class_weight_power: float = Field(
        default=0.0,
        ge=0,
        le=1,
        title="Class weight power",
        description="Weight each class's loss by 1 / its box count to this power; gaps are the rare class",
    )
    # Ultralytics weighs the class loss 0.5 against 7.5 for the box: the errors left were boxes on the right
    # place with the wrong class (a product and a gap box of near-equal scores on one facing), and slot
    # fill needs the class far more than a tight box (model card, experiments of 2026-12-04, night).
    classification_gain: float = Field(
        default=0.5,
        gt=0,
        le=10,
        title="Classification loss gain",
        description="Weight of the class loss (Ultralytics' cls; its box loss weighs 7.5)",
    )
    # Ultralytics' weight average ramps its decay over 2,000 optimizer steps (0.9999 (1 - e^(-step/2000))),
    # made for long runs: a CPU run of 1,500 steps ends at a decay of 0.53, an average of its last two steps.
    ema_steps: int = Field(
        default=0,
        ge=0,
        le=100_000,
        title="Weight average window",
        description="Optimizer steps the exported weights' moving average spans; 0: Ultralytics' own",
    )
    learning_rate: float | None = Field(
        default=None,
        gt=0,
        le=1,
        title="Learning rate",
        description="AdamW's initial rate; None: Ultralytics' (AdamW at 0.002 * 5 / (4 + classes))",
    )
    # Validating the 300 val images costs a tenth of each CPU epoch; the exported weights are the last
    # epoch's average either way, so a run may validate once at the end and spend that time training.
    validate_each_epoch: bool = Field(
        default=True,
        title="Validate each epoch",
        description="Score the val split after every epoch (else after the last only)",
    )
    free_input: bool = Field(
        default=True,
        title="Free input shape",
        description="Export the ONNX input's height and width free, fitted by the edge to each camera",
    )
    real: Path | None = Field(
        default=None,
        title="Real photos",
        description="YOLO-labelled real photos (images/, labels/, split prefixes) added to training",
    )
    real_splits: tuple[str, ...] = Field(
        default=("train",), title="Real splits", description="Prefixes taken"
    )
    real_repeat: int = Field(
        default=2, ge=1, le=100, title="Real repeats", description="Copies per real photo"
    )
    real_product_score: float = Field(
        default=0.5, gt=0, lt=1, title="Teacher score", description="Lowest teacher score kept as a product"
    )
    real_teacher: Path | None = Field(
        default=SHIPPED_MODEL,
        title="Product teacher",
        description="ONNX model that pseudo-labels products on the real photos (they label gaps only)",
    )
    init_weights: Path | None = Field(
        default=None,
        title="Start from",
        description="Our own Ultralytics .pt to fine-tune (same yaml); None: from scratch",
    )
    architecture: Path = Field(default=ARCHITECTURE_YAML, title="Architecture yaml")
    ship: Path | None = Field(default=None, title="Ship to", description="Also copy the ONNX file here")

    @model_validator(mode="after")
    def _architecture_exists(self) -> TrainSettings:
        if not self.architecture.is_file():
            raise ValueError(f"architecture {self.architecture} does not exist")
        if self.init_weights is not None and not self.init_weights.is_file():
            raise ValueError(f"{self.init_weights} does not exist")
        if self.real is not None and not (self.real / "images").is_dir():
            raise ValueError(f"{self.real / 'images'} does not exist")
        if self.real is not None and self.data is not None:
            raise ValueError("--real adds to a generated set; add real photos to your own --data yourself")
        return self


@dataclass(frozen=True, slots=True)
class TrainResult:
    run_dir: Path
    best_weights: Path
    onnx: ExportedModel
    shipped: Path | None
    train_images: int
    epochs_run: int
    seconds: float
    epoch_seconds: tuple[float, ...]
    epoch_train_seconds: tuple[float, ...]
    metrics: dict[str, float] = field(default_factory=dict)
    real_photos: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "run_dir": str(self.run_dir),
            "best_weights": str(self.best_weights),
            "onnx": str(self.onnx.path),
            "shipped": str(self.shipped) if self.shipped else None,
            "train_images": self.train_images,
            "epochs": self.epochs_run,
            "seconds": round(self.seconds, 1),
            "epoch_seconds": [round(seconds, 1) for seconds in self.epoch_seconds],
            "epoch_train_seconds": [round(seconds, 1) for seconds in self.epoch_train_seconds],
            "metrics": {name: round(value, 4) for name, value in self.metrics.items()},
            "real_photos": self.real_photos,
        }


def _optimizer(learning_rate: float | None) -> dict[str, Any]:
    # Ultralytics' "auto" picks AdamW for runs under 10,000 steps and fits the rate to the class count.
    return {} if learning_rate is None else {"optimizer": "AdamW", "lr0": learning_rate}


def resolve_device(requested: str) -> str:
    if requested != "auto":
        return requested
    # Through importlib: torch is in the train extra only, and CI type-checks without it.
    torch = importlib.import_module("torch")
    return "0" if torch.cuda.is_available() else "cpu"


def prepare_dataset(settings: TrainSettings) -> Path:
    """The dataset folder: the one given, or a synthetic one generated once under the run folder."""
    if settings.data is not None:
        return settings.data
    assert settings.synth_count is not None  # guaranteed by the validator
    root = settings.out / "dataset"
    manifest = root / "manifest.json"
    if manifest.is_file() and (root / "data.yaml").is_file():
        meta = json.loads(manifest.read_text())
        wanted = (
            settings.synth_count,
            settings.seed,
            settings.imgsz,
            settings.synth_supersample,
            settings.synth_oblique,
        )
        found = (
            len(meta["images"]),
            meta["seed"],
            meta["imgsz"],
            meta.get("supersample", 1.0),
            meta.get("oblique", 0.0),
        )
        if found == wanted:
            logger.info("reusing synthetic dataset %s", root)
            return root
    write_dataset(
        SynthSettings(
            out=root,
            count=settings.synth_count,
            seed=settings.seed,
            imgsz=settings.imgsz,
            supersample=settings.synth_supersample,
            oblique=settings.synth_oblique,
            families=TRAIN_FAMILIES,
            # Generation runs before training: every core may draw.
            workers=max(settings.workers, os.cpu_count() or 1),
        )
    )
    return root


def _count_train_images(dataset: Path) -> int:
    return sum(1 for _ in (dataset / "images" / "train").glob("*.jpg"))


def train(settings: TrainSettings) -> TrainResult:
    """Generate data if needed, train from the yaml (or our own earlier weights), export best.pt to ONNX."""
    started = time.perf_counter()
    settings.out.mkdir(parents=True, exist_ok=True)
    dataset = prepare_dataset(settings)
    real_counts: dict[str, int] = {}
    if settings.real is not None:
        photos = RealPhotos(
            settings.real,
            settings.real_splits,
            repeat=settings.real_repeat,
            product_score=settings.real_product_score,
            teacher=settings.real_teacher,
        )
        real_counts = add_real_photos(dataset, photos)
    ultralytics = import_ultralytics()

    device = resolve_device(settings.device)
    # Importing Ultralytics pins OMP_NUM_THREADS=1, and its device selection resets torch to cpu_count - 1
    # threads (one on a 2-core box, halving training speed there); the thread count is ours to choose.
    importlib.import_module("torch").set_num_threads(settings.threads)
    setattr(importlib.import_module("ultralytics.utils.torch_utils"), "NUM_THREADS", settings.threads)  # noqa: B010
    model = ultralytics.YOLO(str(settings.architecture), task="detect")
    if settings.init_weights is not None:
        model.load(str(settings.init_weights))  # matched by name and shape: our own earlier run
    epoch_log = EpochLog(settings.epochs)
    model.add_callback("on_train_epoch_start", epoch_log.on_train_epoch_start)
    model.add_callback("on_train_epoch_end", epoch_log.on_train_epoch_end)
    model.add_callback("on_fit_epoch_end", epoch_log.on_fit_epoch_end)
    model.add_callback("on_train_batch_start", on_train_batch_start_assign_per_image)
    if settings.ema_steps:
        weight_average = WeightAverage(settings.ema_steps)
        model.add_callback("on_pretrain_routine_end", weight_average.on_pretrain_routine_end)
    run_dir = settings.out.resolve() / "train"
    with refuse_network() as attempts:
        model.train(
            data=str((dataset / "data.yaml").resolve()),
            epochs=settings.epochs,
            imgsz=settings.imgsz,
            batch=settings.batch,
            workers=settings.workers,
            device=device,
            seed=settings.seed,
            deterministic=True,
            patience=settings.patience,
            project=str(run_dir.parent),
            name=run_dir.name,
            exist_ok=True,
            # False builds fresh weights from the yaml; True keeps the ones loaded above.
            pretrained=settings.init_weights is not None,
            # AMP's self-check downloads yolo26n.pt; on CPU AMP does nothing anyway.
            amp=False,
            plots=False,
            val=settings.validate_each_epoch,
            # Ultralytics' fixed 10 mosaic-free / 3 warm-up epochs would swallow a short CPU run whole.
            close_mosaic=min(10, max(1, settings.epochs // 5)),
            warmup_epochs=min(3.0, max(0.5, settings.epochs / 10)),
            # Ultralytics accumulates gradients up to a nominal batch of 64; a CPU run has only a few hundred
            # batches, and stepping the optimizer after each of them learns far more in the same time.
            nbs=settings.batch,
            cls_pw=settings.class_weight_power,
            cls=settings.classification_gain,
            **_optimizer(settings.learning_rate),
            # Decoded once instead of four JPEGs per mosaic per step: the data loader shares the two cores.
            cache="ram",
            verbose=True,
            **AUGMENTATION,
        )
    if attempts:
        logger.warning("training tried the network %s times: %s", len(attempts), attempts)
    best = run_dir / "weights" / "best.pt"
    if not best.is_file():
        best = run_dir / "weights" / "last.pt"
    trainer = model.trainer
    metrics: dict[str, float] = (
        {str(k): float(v) for k, v in (trainer.metrics or {}).items()} if trainer else {}
    )
    exported = export_onnx(
        best, settings.imgsz, settings.out / "shelf-detector.onnx", free_input=settings.free_input
    )
    shipped = None
    if settings.ship is not None:
        settings.ship.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(exported.path, settings.ship)
        shipped = settings.ship
    result = TrainResult(
        run_dir=run_dir,
        best_weights=best,
        onnx=exported,
        shipped=shipped,
        train_images=_count_train_images(dataset),
        epochs_run=len(epoch_log.seconds),
        seconds=time.perf_counter() - started,
        epoch_seconds=tuple(epoch_log.seconds),
        epoch_train_seconds=tuple(epoch_log.train_seconds[: len(epoch_log.seconds)]),
        metrics=metrics,
        real_photos=real_counts,
    )
    (settings.out / "train-summary.json").write_text(json.dumps(result.summary(), indent=1) + "\n")
    return result
