"""bench/vision_real.py on three CC BY photos: its JSON line, and rates that agree with its counts."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CCBY = ROOT / "bench" / "data" / "real-shelves-ccby"
PHOTOS = ["valid__1-2_jpg", "valid__1-113_jpg", "test__1-108_jpg"]  # CC BY 4.0: see CCBY / "SOURCE.txt"


@pytest.mark.skipif(not (CCBY / "images").is_dir(), reason="CC BY shelf photos not present")
def test_bench_scores_three_real_photos_consistently(tmp_path: Path) -> None:
    for folder in ("images", "labels"):
        (tmp_path / folder).mkdir()
    for prefix in PHOTOS:
        image = next((CCBY / "images").glob(f"{prefix}.rf.*"))
        shutil.copy(image, tmp_path / "images")
        shutil.copy(CCBY / "labels" / f"{image.stem}.txt", tmp_path / "labels")

    done = subprocess.run(
        [
            sys.executable,
            "bench/vision_real.py",
            "--images",
            str(tmp_path / "images"),
            "--tiles",
            "off",
            "--out",
            str(tmp_path / "out"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )

    lines = done.stdout.strip().splitlines()
    result = json.loads(lines[-1])
    assert result["bench"] == "vision_real"
    assert result["images"] == 3
    assert result["gap_truths"] == 4  # two polygons in valid__1-2, one box in each of the others
    for iou in (0.3, 0.5):
        tp, predictions = result[f"gap_tp@{iou}"], result["gap_predictions"]
        assert 0 <= tp <= min(predictions, result["gap_truths"])
        precision = tp / predictions if predictions else 0.0
        recall = tp / result["gap_truths"]
        assert result[f"gap_precision@{iou}"] == pytest.approx(precision, abs=1e-4)
        assert result[f"gap_recall@{iou}"] == pytest.approx(recall, abs=1e-4)
        f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
        assert result[f"gap_f1@{iou}"] == pytest.approx(f1, abs=1e-4)
        # The printed summary line carries the same counts.
        assert f"@{iou}: TP {tp} " in next(line for line in lines if line.startswith("all gap tiles off"))
    assert result["gap_tp@0.5"] <= result["gap_tp@0.3"]
    assert 0 <= result["gap_ap50"] <= 1
    assert result["ratio"] == 1.0  # tiles off against itself, the baseline
    assert len(list((tmp_path / "out" / "off").glob("*.jpg"))) == 3
