"""The dataset writer: Ultralytics layout, seeded split, reproducible files, held-out back-panel families."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from smartstore.launcher.cli import main
from smartstore.models.synth.dataset import MANIFEST_NAME, SynthSettings, write_dataset
from smartstore.models.synth.scene import HELDOUT_FAMILIES, TRAIN_FAMILIES


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.name != "data.yaml"  # data.yaml names its own absolute path
    }


def test_writes_an_ultralytics_dataset(tmp_path: Path) -> None:
    summary = write_dataset(SynthSettings(out=tmp_path, count=14, seed=5, imgsz=256, val_fraction=0.25))
    data = yaml.safe_load((tmp_path / "data.yaml").read_text())
    assert data["names"] == {0: "product", 1: "gap"}
    assert Path(data["path"]) == tmp_path.resolve()
    counts = {}
    for split in ("train", "val"):
        images = sorted(p.stem for p in (tmp_path / data[split]).glob("*.jpg"))
        labels = sorted(p.stem for p in (tmp_path / "labels" / split).glob("*.txt"))
        assert images == labels
        counts[split] = len(images)
    assert counts == {"train": summary.train_images, "val": summary.val_images}
    assert (counts["train"], counts["val"]) == (10, 4)
    assert summary.product_boxes > 0
    assert summary.gap_boxes >= 0


def test_same_seed_same_files_whatever_the_worker_count(tmp_path: Path) -> None:
    write_dataset(SynthSettings(out=tmp_path / "a", count=6, seed=9, imgsz=192))
    write_dataset(SynthSettings(out=tmp_path / "b", count=6, seed=9, imgsz=192, workers=2))
    write_dataset(SynthSettings(out=tmp_path / "c", count=6, seed=10, imgsz=192))
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    assert _files(tmp_path / "a") != _files(tmp_path / "c")


def test_supersampled_set_records_its_scale_and_differs(tmp_path: Path) -> None:
    write_dataset(SynthSettings(out=tmp_path / "plain", count=3, seed=9, imgsz=160))
    write_dataset(SynthSettings(out=tmp_path / "large", count=3, seed=9, imgsz=160, supersample=2.5))
    meta = json.loads((tmp_path / "large" / MANIFEST_NAME).read_text())
    assert meta["supersample"] == 2.5
    assert json.loads((tmp_path / "plain" / MANIFEST_NAME).read_text())["supersample"] == 1.0
    assert _files(tmp_path / "plain") != _files(tmp_path / "large")
    with pytest.raises(ValidationError):
        SynthSettings(out=tmp_path, count=1, supersample=0.5)


def test_oblique_set_records_its_share_and_only_oblique_frames_differ(tmp_path: Path) -> None:
    write_dataset(SynthSettings(out=tmp_path / "frontal", count=8, seed=9, imgsz=160))
    write_dataset(SynthSettings(out=tmp_path / "mixed", count=8, seed=9, imgsz=160, oblique=0.5))
    assert json.loads((tmp_path / "mixed" / MANIFEST_NAME).read_text())["oblique"] == 0.5
    frontal, mixed = _files(tmp_path / "frontal"), _files(tmp_path / "mixed")
    images = [name for name in frontal if name.endswith(".jpg")]
    changed = sum(frontal[name] != mixed[name] for name in images)
    assert 0 < changed < len(images)
    with pytest.raises(ValidationError):
        SynthSettings(out=tmp_path, count=1, oblique=1.5)


def test_held_out_set_shares_no_back_panel_style(tmp_path: Path) -> None:
    write_dataset(SynthSettings(out=tmp_path / "train", count=30, seed=0, imgsz=128))
    write_dataset(
        SynthSettings(out=tmp_path / "held", count=30, seed=1, imgsz=128, families=HELDOUT_FAMILIES)
    )
    seen = {
        name: {
            entry["panel_family"]
            for entry in json.loads((tmp_path / name / MANIFEST_NAME).read_text())["images"]
        }
        for name in ("train", "held")
    }
    assert seen["train"] <= set(TRAIN_FAMILIES)
    assert len(seen["train"]) >= 3
    assert seen["held"] <= set(HELDOUT_FAMILIES)
    assert len(seen["held"]) >= 2
    assert not seen["train"] & seen["held"]


def test_settings_reject_unknown_families_and_bad_sizes(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="unknown background families"):
        SynthSettings(out=tmp_path, count=1, families=("plain", "marble"))
    with pytest.raises(ValidationError):
        SynthSettings(out=tmp_path, count=0)


def test_cli_synth_writes_a_dataset_and_rejects_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ds"
    assert (
        main(["model", "synth", "--out", str(out), "--count", "3", "--imgsz", "128", "--preview", "1"]) == 0
    )
    assert (out / "data.yaml").is_file()
    assert (out / "preview" / "preview_000.jpg").is_file()
    assert str(out / "data.yaml") in capsys.readouterr().out
    bad = ["model", "synth", "--out", str(tmp_path / "bad"), "--count", "3", "--backgrounds", "marble"]
    assert main(bad) == 2
    assert not (tmp_path / "bad").exists()
