"""Shelf detector on real YOLO-labelled photos: gap precision / recall / F1 at IoU 0.3 and 0.5, AP50.

    python bench/vision_real.py [--split valid,test] [--tiles off|on|auto] [--upscale K] [--conf 0.4]
    python bench/vision_real.py --images DIR --labels DIR --label-map 0:product,1:gap [--model PATH]

Default input: the CC BY 4.0 photos of bench/data/real-shelves-ccby (`<split>__*` files in images/ and
labels/; their class 0, empty_shelf, is our gap: `--label-map 0:gap`). Every photo goes through the edge's
own `OnnxDetector` (scores down to 0.001 kept for AP; P / R / F1 from the boxes at `--conf`), matched to its
labels by `models.evaluate.score_class` (greedy, best score first; VOC all-point AP). `--upscale K` scales
each photo (and its labels) by K first, to stand for the 3,000-4,000 px phone photo it was shrunk from.
Baseline, in the same run: the same model on the same photos with tiles off; `ratio` is the gap F1 at IoU
0.3 of `--tiles` over it (1.0 when `--tiles off`). The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from smartstore.edge.vision.annotate import draw_detections
from smartstore.edge.vision.detections import Detection
from smartstore.edge.vision.detector import OnnxDetector
from smartstore.edge.vision.settings import DetectorSettings, TileMode, TilingSettings, VisionSettings
from smartstore.models.evaluate import AP_SCORE_THRESHOLD, ImageResult, read_yolo_labels, score_class

# The CC BY photos held out from training, in the repository (their README says where they come from).
CCBY_ROOT = Path(__file__).resolve().parent / "data" / "real-shelves-ccby"
IOUS = (0.3, 0.5)
LABEL_BGR = (255, 255, 0)  # labelled boxes cyan, predictions in the edge's colours


@dataclass(slots=True)
class Scored:
    """One mode's boxes of one class over a set of photos, and its detect times."""

    results: list[ImageResult] = field(default_factory=list)
    detect_ms: list[float] = field(default_factory=list)

    def figures(self, conf: float) -> dict[str, Any]:
        """Counts and P / R / F1 at `conf` for each IoU, AP50 over all scores; the rates from the counts."""
        truths = sum(len(result.truths) for result in self.results)
        kept = [
            ImageResult(r.truths, r.boxes[r.scores >= conf], r.scores[r.scores >= conf]) for r in self.results
        ]
        out: dict[str, Any] = {"truths": truths, "predictions": int(sum(len(r.scores) for r in kept))}
        for threshold in IOUS:
            hits = score_class(kept, iou_threshold=threshold).true_positives
            precision = hits / out["predictions"] if out["predictions"] else 0.0
            recall = hits / truths if truths else math.nan
            f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
            out |= {
                f"tp@{threshold}": hits,
                f"precision@{threshold}": round(precision, 4),
                f"recall@{threshold}": round(recall, 4),
                f"f1@{threshold}": round(f1, 4),
            }
        ap = score_class(self.results, iou_threshold=0.5).ap50
        out["ap50"] = None if math.isnan(ap) else round(ap, 4)
        out["detect_ms_p50"] = round(float(np.median(self.detect_ms)), 1) if self.detect_ms else None
        return out


def parse_label_map(text: str) -> dict[int, str]:
    """ "0:gap" or "0:product,1:gap" -> {label class id: our class name}."""
    pairs = (item.split(":", 1) for item in text.split(",") if item.strip())
    return {int(key): name.strip() for key, name in pairs}


def photo_pairs(args: argparse.Namespace) -> dict[str, list[tuple[Path, Path]]]:
    """Split name -> (image, label) files; one split, "all", when --images / --labels are given."""
    if args.images is not None:
        labels = args.labels or args.images.parent / "labels"
        files = sorted(p for p in args.images.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
        return {"all": [(p, labels / f"{p.stem}.txt") for p in files]}
    splits = [name.strip() for name in args.split.split(",") if name.strip()]
    return {
        split: [
            (p, args.root / "labels" / f"{p.stem}.txt")
            for p in sorted((args.root / "images").glob(f"{split}__*"))
        ][: args.limit or None]
        for split in splits
    }


def run_mode(
    detector: OnnxDetector,
    mode: TileMode,
    pairs: list[tuple[Path, Path]],
    args: argparse.Namespace,
    label_map: dict[int, str],
) -> dict[str, Scored]:
    """Every photo through the detector in one tiling mode: class name -> Scored."""
    scored = {name: Scored() for name in set(label_map.values())}
    for image_file, label_file in pairs:
        image = cv2.imread(str(image_file), cv2.IMREAD_COLOR)
        if image is None:
            print(f"{image_file}: not a readable image", file=sys.stderr)
            continue
        if args.upscale != 1:
            image = cv2.resize(image, None, fx=args.upscale, fy=args.upscale, interpolation=cv2.INTER_CUBIC)
        frame = np.asarray(image, dtype=np.uint8)
        started = time.perf_counter()
        detections = detector.detect(frame, tiles=mode)
        elapsed = (time.perf_counter() - started) * 1000
        classes, boxes = read_yolo_labels(label_file, frame.shape[1], frame.shape[0])
        for label_cls, name in label_map.items():
            mine = [d for d in detections if d.name == name]
            scored[name].results.append(
                ImageResult(
                    truths=boxes[classes == label_cls],
                    boxes=np.array([d.box for d in mine], dtype=np.float64).reshape(-1, 4),
                    scores=np.array([d.score for d in mine], dtype=np.float64),
                )
            )
            scored[name].detect_ms.append(elapsed)
        if args.out is not None:
            annotate(frame, detections, boxes, args, image_file, mode)
    return scored


def annotate(
    frame: np.ndarray,
    detections: list[Detection],
    truths: np.ndarray,
    args: argparse.Namespace,
    image_file: Path,
    mode: TileMode,
) -> None:
    """Labelled boxes (cyan) under the predictions at --conf, written to --out/<mode>/."""
    canvas = frame.copy()
    for x0, y0, x1, y1 in truths.round().astype(int).tolist():
        cv2.rectangle(canvas, (x0, y0), (x1, y1), LABEL_BGR, max(2, canvas.shape[1] // 300))
    draw_detections(canvas, [d for d in detections if d.score >= args.conf])
    target = args.out / mode / f"{image_file.stem}.jpg"
    target.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(target), canvas, [cv2.IMWRITE_JPEG_QUALITY, 85])


def line(label: str, figures: dict[str, Any]) -> str:
    ap = "n/a" if figures["ap50"] is None else f"{figures['ap50']:.3f}"
    rates = "  ".join(
        f"@{t}: TP {figures[f'tp@{t}']} P {figures[f'precision@{t}']:.3f} R {figures[f'recall@{t}']:.3f} "
        f"F1 {figures[f'f1@{t}']:.3f}"
        for t in IOUS
    )
    return (
        f"{label:28s} truths {figures['truths']:4d} predictions {figures['predictions']:4d}  {rates}  "
        f"AP50 {ap}  detect p50 {figures['detect_ms_p50']} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=VisionSettings().model_path, help="ONNX detector")
    parser.add_argument("--root", type=Path, default=CCBY_ROOT, help="folder with images/ and labels/")
    parser.add_argument(
        "--split", default="valid,test", help="file-name prefixes (<split>__*), comma-separated"
    )
    parser.add_argument("--images", type=Path, help="a folder of photos instead of --root/--split")
    parser.add_argument("--labels", type=Path, help="their YOLO labels (default: ../labels)")
    parser.add_argument("--label-map", default="0:gap", help="label class -> our class (default 0:gap)")
    parser.add_argument("--conf", type=float, default=0.4, help="score threshold for P / R / F1")
    parser.add_argument("--tiles", choices=("off", "on", "auto"), default="auto", help="tiling mode scored")
    parser.add_argument("--upscale", type=float, default=1.0, help="scale photos (and labels) by this first")
    parser.add_argument("--limit", type=int, default=0, help="at most this many photos per split (0: all)")
    parser.add_argument("--out", type=Path, help="folder for annotated copies (labels cyan)")
    args = parser.parse_args()
    if not args.model.is_file():
        parser.error(f"no model at {args.model}")
    label_map = parse_label_map(args.label_map)
    detector = OnnxDetector(
        args.model,
        DetectorSettings(
            score_threshold=AP_SCORE_THRESHOLD, class_score_thresholds={}, tiling=TilingSettings()
        ),
    )
    unknown = set(label_map.values()) - set(detector.names.values())
    if unknown or "gap" not in label_map.values() or not 0 < args.conf < 1:
        parser.error(f"--label-map must map to gap and to {detector.names} only, --conf be in (0, 1)")
    started = time.perf_counter()
    modes: list[TileMode] = ["off"] if args.tiles == "off" else ["off", args.tiles]
    splits = photo_pairs(args)
    totals = {mode: {name: Scored() for name in set(label_map.values())} for mode in modes}
    per_split: dict[str, Any] = {}
    for split, pairs in splits.items():
        per_split[split] = {}
        for mode in modes:
            scored = run_mode(detector, mode, pairs, args, label_map)
            for name, one in scored.items():
                totals[mode][name].results += one.results
                totals[mode][name].detect_ms += one.detect_ms
                figures = one.figures(args.conf)
                per_split[split][f"{name}_{mode}"] = figures
                print(line(f"{split} {name} tiles {mode}", figures), flush=True)
    chosen: TileMode = modes[-1]
    baseline: TileMode = "off"
    summary = {mode: {name: s.figures(args.conf) for name, s in totals[mode].items()} for mode in modes}
    for mode in modes:
        for name, figures in summary[mode].items():
            print(line(f"all {name} tiles {mode}", figures))
    gap, base = summary[chosen]["gap"], summary[baseline]["gap"]
    ratio = gap["f1@0.3"] / base["f1@0.3"] if base["f1@0.3"] else None
    print(
        f"gap F1@0.3 tiles {chosen} {gap['f1@0.3']:.3f} against tiles off {base['f1@0.3']:.3f}: ratio {ratio}"
    )
    result: dict[str, Any] = {
        "bench": "vision_real",
        "model": str(args.model),
        "images": len(totals[chosen]["gap"].results),
        "splits": list(splits),
        "tiles": chosen,
        "upscale": args.upscale,
        "conf": args.conf,
        "gap_truths": gap["truths"],
        "gap_predictions": gap["predictions"],
    }
    for threshold in IOUS:
        for key in ("tp", "precision", "recall", "f1"):
            result[f"gap_{key}@{threshold}"] = gap[f"{key}@{threshold}"]
    result |= {"gap_ap50": gap["ap50"], "detect_ms_p50": gap["detect_ms_p50"]}
    if "product" in summary[chosen]:
        result["product_ap50"] = summary[chosen]["product"]["ap50"]
    result |= {
        "baseline": "same model, tiles off",
        "baseline_gap_f1@0.3": base["f1@0.3"],
        "baseline_gap_recall@0.3": base["recall@0.3"],
        "baseline_gap_ap50": base["ap50"],
        "baseline_detect_ms_p50": base["detect_ms_p50"],
        "ratio": None if ratio is None else round(ratio, 4),
        "per_split": per_split,
        "wall_s": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
