"""Ultralytics trainer callbacks of a training run: epoch log lines, weight average, per-image assignment."""

from __future__ import annotations

import functools
import importlib
import time
from dataclasses import dataclass
from typing import Any


class EpochLog:
    """One plain line per epoch next to Ultralytics' bars, so a log file shows the pace without tqdm."""

    def __init__(self, epochs: int) -> None:
        self.epochs = epochs
        self.epoch_started = time.perf_counter()
        self.in_epoch = False
        self.seconds: list[float] = []
        self.train_seconds: list[float] = []

    def on_train_epoch_start(self, trainer: Any) -> None:
        self.epoch_started = time.perf_counter()
        self.in_epoch = True

    def on_train_epoch_end(self, trainer: Any) -> None:
        self.train_seconds.append(time.perf_counter() - self.epoch_started)

    def on_fit_epoch_end(self, trainer: Any) -> None:
        if not self.in_epoch:
            return  # the final validation of best.pt fires this hook once more
        self.in_epoch = False
        took = time.perf_counter() - self.epoch_started
        self.seconds.append(took)
        metrics = trainer.metrics or {}
        done = len(self.seconds)
        left = (self.epochs - done) * (sum(self.seconds) / done)
        validated = bool(getattr(trainer.args, "val", True)) or done == self.epochs
        scores = (
            f"mAP50 {float(metrics.get('metrics/mAP50(B)', 0.0)):.3f}, "
            f"mAP50-95 {float(metrics.get('metrics/mAP50-95(B)', 0.0)):.3f}"
            if validated
            else "not validated"
        )
        print(
            f"epoch {done}/{self.epochs}: {took:.1f} s ({self.train_seconds[-1]:.1f} s training), {scores}, "
            f"about {left / 60:.1f} min left",
            flush=True,
        )


@dataclass(frozen=True, slots=True)
class WeightAverage:
    """Replaces the trainer's weight EMA with one spanning `steps` optimizer steps, its decay ramped up over
    as many (the EMA is what Ultralytics validates, keeps as best.pt and so exports)."""

    steps: int

    def on_pretrain_routine_end(self, trainer: Any) -> None:
        torch_utils = importlib.import_module("ultralytics.utils.torch_utils")
        trainer.ema = torch_utils.ModelEMA(trainer.model, decay=1 - 1 / self.steps, tau=self.steps)


@functools.cache
def per_image_assigner_class() -> type:
    """Ultralytics' task-aligned assigner, run image by image on each image's own boxes.

    The library pads every image of a batch to the most crowded one's box count and assigns over
    (images x boxes x anchors) at once: a batch of shelves averages 125 boxes an image but pads to 2.5 times
    that, and on a CPU the padding made the assignment 30 % of each training step. The assignment of one
    image never looks at another's boxes, so the targets are the same; the library takes this path itself
    when a GPU runs out of memory. (Built on first use: Ultralytics is only in the `train` extra.)
    """
    torch = importlib.import_module("torch")
    tal = importlib.import_module("ultralytics.utils.tal")

    class PerImageAssigner(tal.TaskAlignedAssigner):  # type: ignore[misc, name-defined]
        def forward(self, pd_scores, pd_bboxes, anc_points, gt_labels, gt_bboxes, mask_gt, **extra):  # type: ignore[no-untyped-def]
            whole = (pd_scores, pd_bboxes, anc_points, gt_labels, gt_bboxes, mask_gt)
            assign = super().forward  # zero-argument super() does not reach into the comprehension below
            if pd_scores.shape[0] == 1 or gt_bboxes.shape[1] == 0:
                return assign(*whole, **extra)
            # Padding rows come last, so an image's own boxes are its first `count` rows.
            counts = mask_gt.squeeze(-1).bool().sum(1).clamp(min=1).tolist()
            per_image = [
                assign(
                    pd_scores[i : i + 1],
                    pd_bboxes[i : i + 1],
                    anc_points,
                    gt_labels[i : i + 1, :count],
                    gt_bboxes[i : i + 1, :count],
                    mask_gt[i : i + 1, :count],
                    **{key: value[i : i + 1] for key, value in extra.items()},
                )
                for i, count in enumerate(counts)
            ]
            return tuple(torch.cat(parts) for parts in zip(*per_image, strict=True))

    return PerImageAssigner


def assign_per_image(criterion: Any) -> None:
    """Swaps a detection loss's assigner for the per-image one, with the same settings."""
    assigner_class = per_image_assigner_class()
    if isinstance(criterion.assigner, assigner_class):
        return
    keys = ("topk", "topk2", "num_classes", "alpha", "beta", "stride")
    criterion.assigner = assigner_class(**{key: getattr(criterion.assigner, key) for key in keys})


def on_train_batch_start_assign_per_image(trainer: Any) -> None:
    """The training model's loss is built lazily on the first batch (and again when the trainer resets it)."""
    model = trainer.model
    if getattr(model, "criterion", None) is None:
        model.criterion = model.init_criterion()
    assign_per_image(model.criterion)
