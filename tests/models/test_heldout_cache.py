"""Held-out sets kept on disk are reused only while the generator that drew them is unchanged."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import pytest

from smartstore.models import evaluate
from smartstore.models.evaluate import EvalSettings, prepare_heldout
from smartstore.models.synth import dataset
from smartstore.models.synth.dataset import generator_fingerprint


def test_fingerprint_follows_the_generator_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "synth"
    shutil.copytree(dataset.GENERATOR_DIR, copy, ignore=shutil.ignore_patterns("__pycache__", "samples"))
    original = generator_fingerprint()
    monkeypatch.setattr(dataset, "GENERATOR_DIR", copy)
    assert generator_fingerprint() == original
    with (copy / "scene.py").open("a") as source:
        source.write("\n# a changed layout rule\n")
    assert generator_fingerprint() != original


def test_a_changed_generator_draws_a_fresh_heldout_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tmp_path / "model.onnx"
    model.write_bytes(b"only checked to exist")
    settings = EvalSettings(model=model, synth_count=2, imgsz=96, work=tmp_path / "eval")
    first = prepare_heldout(settings)
    assert prepare_heldout(settings) == first
    monkeypatch.setattr(evaluate, "generator_fingerprint", lambda: "0123456789ab")
    second = prepare_heldout(settings)
    assert second != first
    assert second.name.endswith("-g0123456789ab")
    assert len(list((second / "images").glob("*/*.jpg"))) == 2


def test_a_supersampled_heldout_set_is_kept_apart_and_drawn_larger(tmp_path: Path) -> None:
    model = tmp_path / "model.onnx"
    model.write_bytes(b"only checked to exist")
    plain = prepare_heldout(EvalSettings(model=model, synth_count=3, imgsz=96, work=tmp_path))
    larger = prepare_heldout(EvalSettings(model=model, synth_count=3, imgsz=96, supersample=3, work=tmp_path))
    assert larger != plain
    assert "-96x3-" in larger.name
    sizes = [cv2.imread(str(path)).shape[:2] for path in sorted((larger / "images").glob("*/*.jpg"))]
    assert all(96 <= max(size) <= 288 for size in sizes)
    assert any(max(size) > 96 for size in sizes)
