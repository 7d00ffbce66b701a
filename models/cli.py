"""`smartstore model`: synthetic shelf data; training, evaluation and ONNX export of the shelf detector."""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path
from typing import Any, TypeVar

import cv2
from pydantic import BaseModel, ValidationError

from smartstore.models.evaluate import EvalSettings, evaluate, score_heldout_slots
from smartstore.models.export import export_onnx
from smartstore.models.slot_eval import SlotRecord
from smartstore.models.synth.dataset import SynthSettings, image_seed, write_dataset
from smartstore.models.synth.pipeline import annotated, synthesize
from smartstore.models.synth.scene import BACKGROUND_FAMILIES, HELDOUT_FAMILIES, TRAIN_FAMILIES
from smartstore.models.train import SHIPPED_MODEL, TrainSettings, train

OBLIQUE_HELP = "share of images looking along the aisle at a receding shelf (0 to 1)"

logger = logging.getLogger(__name__)

SettingsT = TypeVar("SettingsT", bound=BaseModel)


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="model_command", metavar="ACTION", required=True)
    synth = sub.add_parser("synth", help="write a synthetic shelf dataset in YOLO format")
    synth.add_argument("--out", type=Path, required=True, help="dataset folder to create")
    synth.add_argument("--count", type=int, required=True, help="number of images (train + val)")
    synth.add_argument("--seed", type=int, default=0, help="same seed, same bytes")
    synth.add_argument("--imgsz", type=int, default=640, help="long side of each image in pixels")
    synth.add_argument(
        "--backgrounds",
        default=",".join(TRAIN_FAMILIES),
        help=f"comma-separated back-panel families, from {','.join(BACKGROUND_FAMILIES)}",
    )
    synth.add_argument(
        "--supersample", type=float, default=1.0, help="draw each image at a random 1..this x imgsz"
    )
    synth.add_argument("--oblique", type=float, default=0.0, help=OBLIQUE_HELP)
    synth.add_argument("--val-fraction", type=float, default=0.15, help="share of images in the val split")
    synth.add_argument("--workers", type=int, default=1, help="processes; the output does not depend on it")
    synth.add_argument(
        "--preview", type=int, default=0, help="also write this many annotated copies to OUT/preview"
    )

    _configure_train(sub)
    _configure_eval(sub)
    export = sub.add_parser("export", help="export trained weights (.pt) to the ONNX file the edge loads")
    export.add_argument("--weights", type=Path, required=True, help="Ultralytics best.pt")
    export.add_argument("--imgsz", type=int, required=True, help="the size it was trained at")
    export.add_argument("--out", type=Path, required=True, help="ONNX file to write")
    _add_input_shape(export)


def _data_source(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", type=Path, help="existing YOLO dataset folder (with data.yaml)")
    source.add_argument("--synth-count", type=int, help="generate this many synthetic images instead")


def _configure_train(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "train", help="train the shelf detector from models/shelf-detector.yaml, export ONNX"
    )
    _data_source(parser)
    parser.add_argument(
        "--out", type=Path, required=True, help="run folder (dataset, weights, ONNX, summary)"
    )
    parser.add_argument(
        "--synth-supersample",
        type=float,
        default=1.0,
        help="draw each generated image at a random 1..this x imgsz; the loader scales it down",
    )
    parser.add_argument("--synth-oblique", type=float, default=0.0, help=OBLIQUE_HELP)
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--imgsz", type=int, default=416, help="training and export size, a multiple of 32")
    parser.add_argument("--batch", type=int, default=TrainSettings.model_fields["batch"].default)
    parser.add_argument("--workers", type=int, default=2, help="data-loader and generator processes")
    parser.add_argument("--seed", type=int, default=0, help="seeds the synthetic data and the training")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch CPU threads")
    parser.add_argument("--device", default="auto", help="auto (cuda:0 if present, else cpu), cpu, 0, ...")
    parser.add_argument("--patience", type=int, default=100, help="early-stop after this many flat epochs")
    parser.add_argument(
        "--class-weight-power",
        type=float,
        default=0.0,
        help="weight each class's loss by 1 / its box count to this power (0 off, 1 full inverse frequency)",
    )
    parser.add_argument(
        "--cls-gain",
        type=float,
        default=TrainSettings.model_fields["classification_gain"].default,
        help="weight of the class loss against the box loss's 7.5 (Ultralytics' cls)",
    )
    parser.add_argument(
        "--ema-steps",
        type=int,
        default=TrainSettings.model_fields["ema_steps"].default,
        help="optimizer steps the exported weights' moving average spans (0: Ultralytics' ramp of 2,000)",
    )
    parser.add_argument(
        "--final-val-only",
        action="store_true",
        help="score the val split after the last epoch only, not after each (a tenth of a CPU epoch each)",
    )
    _add_input_shape(parser)
    parser.add_argument(
        "--real",
        type=Path,
        default=None,
        help="also train on this folder of YOLO-labelled real photos (images/, labels/, train__ prefixes; "
        "their class 0 is our gap); only photos whose licence allows training a shipped model",
    )
    parser.add_argument(
        "--real-splits", default="train", help="file-name prefixes of --real taken, comma-separated"
    )
    parser.add_argument(
        "--real-repeat", type=int, default=2, help="copies of each real photo in the train split"
    )
    parser.add_argument(
        "--real-product-score",
        type=float,
        default=TrainSettings.model_fields["real_product_score"].default,
        help="lowest score of the teacher's product boxes kept as labels on the real photos",
    )
    parser.add_argument(
        "--init-weights",
        type=Path,
        default=None,
        help="fine-tune from this .pt of an earlier run (same yaml) instead of training from scratch",
    )
    parser.add_argument(
        "--real-teacher",
        default=str(SHIPPED_MODEL),
        help="ONNX model that pseudo-labels products on the real photos ('none': gaps only)",
    )
    parser.add_argument(
        "--lr0",
        type=float,
        default=None,
        help="AdamW's initial learning rate (default: Ultralytics' choice, 0.0017 for two classes)",
    )
    parser.add_argument(
        "--ship",
        nargs="?",
        const=SHIPPED_MODEL,
        type=Path,
        help=f"also copy the ONNX file to PATH (default {SHIPPED_MODEL.name} in models/)",
    )


def _add_input_shape(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--input",
        choices=("free", "fixed"),
        default="free",
        help="ONNX input shape: free (the edge fits it to each camera's aspect on about imgsz x imgsz "
        "pixels) or fixed imgsz x imgsz",
    )


def _configure_eval(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("eval", help="AP50 per class of an ONNX model, run through the edge's detector")
    parser.add_argument("--model", type=Path, required=True, help="ONNX model")
    _data_source(parser)
    parser.add_argument("--seed", type=int, default=1, help="held-out seed; differ from the training seed")
    parser.add_argument("--families", default=",".join(HELDOUT_FAMILIES), help="held-out back panels")
    parser.add_argument("--imgsz", type=int, default=640, help="size of the generated held-out images")
    parser.add_argument(
        "--supersample", type=float, default=1.0, help="draw each held-out image at a random 1..this x imgsz"
    )
    parser.add_argument("--oblique", type=float, default=0.0, help=OBLIQUE_HELP)
    parser.add_argument("--work", type=Path, default=Path("var/eval"), help="where generated sets are kept")
    parser.add_argument(
        "--class-threshold",
        action="append",
        default=[],
        metavar="CLASS=SCORE",
        help="the edge's reporting threshold for one class (e.g. gap=0.1), for precision/recall",
    )
    parser.add_argument(
        "--slot-score",
        action="append",
        default=[],
        metavar="CLASS=SCORE",
        help="lowest score of a product or gap box that counts in slot fill (default product=0.15, gap=0.1)",
    )
    parser.add_argument(
        "--slot-records",
        type=Path,
        metavar="FILE",
        help="write every scored slot of a generated set as a JSON line (truth, fill, look, width, 'wrong')",
    )
    parser.add_argument("--json", action="store_true", help="print only the JSON line")


def _validated(settings_class: type[SettingsT], **values: Any) -> SettingsT | None:
    """The settings, or None after logging each problem (the command then exits 2)."""
    try:
        return settings_class(**values)
    except ValidationError as error:
        for problem in error.errors():
            location = ".".join(str(part) for part in problem["loc"]) or "arguments"
            logger.error("invalid %s: %s", location, problem["msg"])
        return None


def _pairs(items: list[str]) -> list[tuple[str, str]]:
    """CLASS=SCORE arguments; a malformed one is left to the settings' validation to refuse."""
    return [(item.partition("=")[0].strip(), item.partition("=")[2].strip()) for item in items]


def _names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


def _train(args: argparse.Namespace) -> int:
    settings = _validated(
        TrainSettings,
        out=args.out,
        data=args.data,
        synth_count=args.synth_count,
        synth_supersample=args.synth_supersample,
        synth_oblique=args.synth_oblique,
        epochs=args.epochs,
        imgsz=args.imgsz,
        batch=args.batch,
        workers=args.workers,
        seed=args.seed,
        device=args.device,
        threads=args.threads,
        patience=args.patience,
        class_weight_power=args.class_weight_power,
        classification_gain=args.cls_gain,
        ema_steps=args.ema_steps,
        validate_each_epoch=not args.final_val_only,
        learning_rate=args.lr0,
        free_input=args.input == "free",
        ship=args.ship,
        real=args.real,
        real_splits=_names(args.real_splits),
        real_repeat=args.real_repeat,
        real_teacher=None if args.real_teacher == "none" else Path(args.real_teacher),
        init_weights=args.init_weights,
        real_product_score=args.real_product_score,
    )
    if settings is None:
        return 2
    result = train(settings)
    summary = result.summary()
    print(
        f"trained {result.epochs_run} epochs on {result.train_images} images "
        f"in {result.seconds / 60:.1f} min, "
        f"mAP50 {result.metrics.get('metrics/mAP50(B)', 0.0):.3f} (synthetic val) -> {result.onnx.path}"
        + (f", shipped to {result.shipped}" if result.shipped else "")
    )
    print(json.dumps(summary))
    return 0


def _eval(args: argparse.Namespace) -> int:
    settings = _validated(
        EvalSettings,
        model=args.model,
        data=args.data,
        synth_count=args.synth_count,
        seed=args.seed,
        families=_names(args.families),
        imgsz=args.imgsz,
        supersample=args.supersample,
        oblique=args.oblique,
        work=args.work,
        edge={"class_score_thresholds": dict(_pairs(args.class_threshold))},
        slots={f"{name}_score": score for name, score in _pairs(args.slot_score)},
    )
    if settings is None:
        return 2
    if args.slot_records and settings.synth_count is None:
        logger.error("--slot-records needs a generated set (--synth-count): only those know their slots")
        return 2
    report = evaluate(settings)
    result = report.as_json()
    if not args.json:
        print(report.table())
    if settings.synth_count is not None:
        # Generated held-out sets also know their planogram slots: score out-of-stock as the edge sees it.
        records: list[SlotRecord] | None = [] if args.slot_records else None
        slots = score_heldout_slots(settings, records)
        if records is not None:
            args.slot_records.parent.mkdir(parents=True, exist_ok=True)
            args.slot_records.write_text("".join(json.dumps(record.as_json()) + "\n" for record in records))
        result["slots"] = slots.as_json()
        if not args.json:
            print(slots.line())
    print(json.dumps(result))
    return 0


def _export(args: argparse.Namespace) -> int:
    if not args.weights.is_file():
        logger.error("weights %s do not exist", args.weights)
        return 2
    exported = export_onnx(args.weights, args.imgsz, args.out, free_input=args.input == "free")
    free = " (free shape)" if exported.free_input else ""
    print(
        f"{exported.path}: input {exported.imgsz}{free}, output {list(exported.output_shape)}, "
        f"names {exported.names}"
    )
    return 0


def _synth(args: argparse.Namespace) -> int:
    settings = _validated(
        SynthSettings,
        out=args.out,
        count=args.count,
        seed=args.seed,
        imgsz=args.imgsz,
        supersample=args.supersample,
        oblique=args.oblique,
        families=_names(args.backgrounds),
        val_fraction=args.val_fraction,
        workers=args.workers,
    )
    if settings is None:
        return 2
    summary = write_dataset(settings)
    if args.preview > 0:
        preview_dir = settings.out / "preview"
        preview_dir.mkdir(parents=True, exist_ok=True)
        for index in range(min(args.preview, settings.count)):
            image = synthesize(
                image_seed(settings.seed, index),
                settings.imgsz,
                settings.families,
                settings.supersample,
                settings.oblique,
            )
            cv2.imwrite(str(preview_dir / f"preview_{index:03d}.jpg"), annotated(image))
    print(
        f"{summary.train_images} train + {summary.val_images} val images, {summary.product_boxes} products, "
        f"{summary.gap_boxes} gaps, {summary.images_per_second:.1f} images/s -> {summary.root / 'data.yaml'}"
    )
    return 0


def run(args: argparse.Namespace) -> int:
    commands = {"synth": _synth, "train": _train, "eval": _eval, "export": _export}
    command = commands.get(args.model_command)
    return command(args) if command else 2
