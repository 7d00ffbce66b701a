"""`smartstore model`: synthetic shelf data now; training and evaluation of the shelf detector come later."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import cv2
from pydantic import ValidationError

from models.synth.dataset import SynthSettings, image_seed, write_dataset
from models.synth.pipeline import annotated, synthesize
from models.synth.scene import BACKGROUND_FAMILIES, TRAIN_FAMILIES

logger = logging.getLogger(__name__)


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
    synth.add_argument("--val-fraction", type=float, default=0.15, help="share of images in the val split")
    synth.add_argument("--workers", type=int, default=1, help="processes; the output does not depend on it")
    synth.add_argument(
        "--preview", type=int, default=0, help="also write this many annotated copies to OUT/preview"
    )


def _synth(args: argparse.Namespace) -> int:
    try:
        settings = SynthSettings(
            out=args.out,
            count=args.count,
            seed=args.seed,
            imgsz=args.imgsz,
            families=tuple(name.strip() for name in args.backgrounds.split(",") if name.strip()),
            val_fraction=args.val_fraction,
            workers=args.workers,
        )
    except ValidationError as error:
        for problem in error.errors():
            logger.error("invalid %s: %s", ".".join(str(part) for part in problem["loc"]), problem["msg"])
        return 2
    summary = write_dataset(settings)
    if args.preview > 0:
        preview_dir = settings.out / "preview"
        preview_dir.mkdir(parents=True, exist_ok=True)
        for index in range(min(args.preview, settings.count)):
            image = synthesize(image_seed(settings.seed, index), settings.imgsz, settings.families)
            cv2.imwrite(str(preview_dir / f"preview_{index:03d}.jpg"), annotated(image))
    print(
        f"{summary.train_images} train + {summary.val_images} val images, {summary.product_boxes} products, "
        f"{summary.gap_boxes} gaps, {summary.images_per_second:.1f} images/s -> {summary.root / 'data.yaml'}"
    )
    return 0


def run(args: argparse.Namespace) -> int:
    if args.model_command == "synth":
        return _synth(args)
    return 2
