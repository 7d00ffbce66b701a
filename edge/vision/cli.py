"""`smartstore vision`: the shelf detector on any images (`detect`), a camera's slots drawn (`calibrate`)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from smartstore.edge.vision.annotate import draw_detections, draw_slots
from smartstore.edge.vision.detections import Detection
from smartstore.edge.vision.detector import OnnxDetector, letterbox_scale, model_input_size
from smartstore.edge.vision.settings import DetectorSettings, TilingSettings, VisionSettings
from smartstore.edge.vision.tiling import wants_tiles
from smartstore.kernel.storeconfig import Slot, StoreConfigError, load_store

logger = logging.getLogger(__name__)

BLANK_BGR = (92, 96, 100)
# Slots narrower than this at the model input: the shipped model misses ~1 in 4 of them when empty
# (held-out recall 0.76 vs 0.90 at 16-24 px: models/shelf-detector.md, "By slot width").
MIN_SLOT_INPUT_PX = 16.0


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="vision_command", metavar="ACTION", required=True)
    detect = sub.add_parser(
        "detect", help="run the shelf detector on images; print boxes, write annotated copies"
    )
    detect.add_argument("images", nargs="+", type=Path, metavar="IMAGE", help="JPEG/PNG files")
    detect.add_argument(
        "--model", type=Path, help="ONNX detector (default: the shipped models/shelf-detector.onnx)"
    )
    detect.add_argument(
        "--conf",
        type=float,
        help="one score threshold for every class (default: the edge's settings, 0.25)",
    )
    detect.add_argument("--iou", type=float, default=0.5, help="NMS IoU threshold (default 0.5)")
    detect.add_argument(
        "--tiles",
        choices=("off", "on", "auto"),
        # Off by default: on the only labelled real photos we have (CC BY, large gaps), tiles cut each gap
        # into pieces and cost precision (gap F1@0.3 0.82 off, 0.27 auto, 4x upscaled; docs/benchmarks.md).
        default="off",
        help="run large photos as overlapping tiles at the model's input size, boxes merged back "
        "(auto: photos whose long side is 2x the input or more; off, the default: one inference)",
    )
    detect.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    detect.add_argument("--out", type=Path, help="folder for annotated copies (products green, gaps red)")

    calibrate = sub.add_parser(
        "calibrate", help="draw a camera's planogram slots over a snapshot, to check them"
    )
    calibrate.add_argument("--store", type=Path, required=True, help="store YAML")
    calibrate.add_argument("--camera", required=True, help="camera id of the store file")
    calibrate.add_argument("--image", type=Path, help="snapshot to draw on (default: the agent's latest)")
    calibrate.add_argument(
        "--state-dir", type=Path, help="edge state dir holding snapshots/ (default var/edge-<store>)"
    )
    calibrate.add_argument("--out", type=Path, required=True, help="PNG (or JPEG) file to write")
    calibrate.add_argument(
        "--model",
        type=Path,
        help="ONNX detector whose input the slots are checked against (default: shipped)",
    )


def run(args: argparse.Namespace) -> int:
    if args.vision_command == "detect":
        return detect(args)
    return calibrate(args)


def _detection_json(detection: Detection) -> dict[str, Any]:
    return {
        "class": detection.name,
        "class_id": detection.cls,
        "confidence": round(detection.score, 4),
        "box": [round(value, 1) for value in detection.box],
    }


def detect(args: argparse.Namespace) -> int:
    model = args.model or VisionSettings().model_path
    if not model.is_file():
        print(f"no detector model at {model}", file=sys.stderr)
        return 2
    if (args.conf is not None and not 0 < args.conf < 1) or not 0 < args.iou <= 1:
        print("--conf must be in (0, 1) and --iou in (0, 1]", file=sys.stderr)
        return 2
    thresholds = {} if args.conf is None else {"score_threshold": args.conf, "class_score_thresholds": {}}
    tiling = TilingSettings(mode=args.tiles)
    detector = OnnxDetector(model, DetectorSettings(iou_threshold=args.iou, tiling=tiling, **thresholds))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
    results: list[dict[str, Any]] = []
    failed = 0
    for path in args.images:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            failed += 1
            print(f"{path}: not a readable image", file=sys.stderr)
            continue
        detections = detector.detect(np.asarray(image, dtype=np.uint8))
        height, width = image.shape[:2]
        counts = {name: sum(1 for d in detections if d.name == name) for name in detector.names.values()}
        results.append(
            {
                "image": str(path),
                "width": width,
                "height": height,
                "model_input": list(detector.input_size_for((width, height))),
                "tiled": wants_tiles(args.tiles, (width, height), detector.imgsz, tiling),
                "counts": counts,
                "detections": [_detection_json(d) for d in detections],
            }
        )
        if args.out is not None:
            annotated = np.asarray(image, dtype=np.uint8).copy()
            draw_detections(annotated, detections)
            target = args.out / f"{path.stem}.jpg"
            cv2.imwrite(str(target), annotated, [cv2.IMWRITE_JPEG_QUALITY, 90])
        if not args.json:
            summary = ", ".join(f"{count} {name}" for name, count in counts.items())
            tiled = " (tiled)" if results[-1]["tiled"] else ""
            print(f"{path} ({width}x{height}){tiled}: {summary}")
            for d in detections:
                x0, y0, x1, y1 = d.box
                print(f"  {d.name:8} {d.score:.3f}  [{x0:.0f}, {y0:.0f}, {x1:.0f}, {y1:.0f}]")
    if args.json:
        document = {"model": str(model), "imgsz": detector.imgsz, "tiles": args.tiles, "images": results}
        print(json.dumps(document))
    return 1 if failed else 0


def calibrate(args: argparse.Namespace) -> int:
    try:
        store = load_store(args.store)
    except StoreConfigError as error:
        print(error, file=sys.stderr)
        return 2
    camera = next((c for c in store.devices.cameras if c.id == args.camera), None)
    if camera is None:
        known = ", ".join(c.id for c in store.devices.cameras) or "none"
        print(f"no camera {args.camera!r} in {args.store} (cameras: {known})", file=sys.stderr)
        return 2
    slots = [slot for shelf in store.shelves_for_camera(camera.id) for slot in shelf.slots]
    source = args.image
    if source is None:
        state_dir = args.state_dir or Path("var") / f"edge-{store.store.id}"
        latest = state_dir / "snapshots" / f"{camera.id}.jpg"
        source = latest if latest.is_file() else None
    if source is not None:
        image = cv2.imread(str(source), cv2.IMREAD_COLOR)
        if image is None:
            print(f"{source}: not a readable image", file=sys.stderr)
            return 2
        logger.info("drawing %d slots of %s over %s", len(slots), camera.id, source)
    else:
        image = np.full((camera.height, camera.width, 3), BLANK_BGR, dtype=np.uint8)
        logger.info("no snapshot of %s yet: drawing its %d slots on a blank frame", camera.id, len(slots))
    canvas = np.asarray(image, dtype=np.uint8)
    draw_slots(canvas, slots, (camera.width, camera.height), show_gtin=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(args.out), canvas):
        print(f"could not write {args.out} (use a .png or .jpg name)", file=sys.stderr)
        return 2
    print(f"{args.out}: {len(slots)} slots of {camera.id} ({camera.width}x{camera.height})")
    model = args.model or VisionSettings().model_path
    input_w, input_h = model_input_size(model, (camera.width, camera.height))
    to_input = letterbox_scale((camera.width, camera.height), (input_w, input_h))
    for slot, width in narrow_slots(slots, to_input):
        print(
            f"warning: slot {slot.id} ({slot.gtin}) spans {width:.1f} px of the {input_w}x{input_h} model "
            f"input, under {MIN_SLOT_INPUT_PX:g}: empty slots this narrow are often missed; bring the "
            "camera closer or give it fewer slots",
            file=sys.stderr,
        )
    return 0


def narrow_slots(slots: list[Slot], to_input: float) -> list[tuple[Slot, float]]:
    """Slots whose width, scaled by `to_input` (camera pixels -> model input), is too narrow to judge."""
    widths = (
        (slot, (max(x for x, _ in slot.polygon) - min(x for x, _ in slot.polygon)) * to_input)
        for slot in slots
    )
    return [(slot, width) for slot, width in widths if width < MIN_SLOT_INPUT_PX]
