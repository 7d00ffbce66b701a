"""Fixtures of the vision tests: a real ONNX model whose output is a hand-placed constant tensor."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from vision_models import Candidate, ModelFactory, constant_detector_model


@pytest.fixture
def make_model(tmp_path: Path) -> ModelFactory:
    """Factory: candidates -> path of a 320-px two-class model ({0: 'product', 1: 'gap'})."""
    counter = iter(range(1000))

    def build(candidates: Sequence[Candidate]) -> Path:
        path = tmp_path / f"detector-{next(counter)}.onnx"
        return constant_detector_model(path, candidates, {0: "product", 1: "gap"}, 320)

    return build
