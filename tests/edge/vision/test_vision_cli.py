"""`smartstore vision detect` and `calibrate` through the real console entry point."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from vision_models import shelf_model

from smartstore.edge.vision.detector import model_input_size
from smartstore.edge.vision.settings import VisionSettings
from smartstore.kernel.storeconfig import EXAMPLE_STORE, StoreConfig
from smartstore.launcher.cli import main
from smartstore.models.synth.pipeline import synthesize

SHIPPED = VisionSettings().model_path


def read(path: str) -> np.ndarray:
    image = cv2.imread(path)
    assert image is not None, path
    return np.asarray(image)


@pytest.fixture
def shelf_image(tmp_path: Path) -> Path:
    path = tmp_path / "shelf.jpg"
    cv2.imwrite(str(path), synthesize(3, 640).image)
    return path


def test_detect_prints_json_boxes_in_original_pixels_and_writes_annotated_copies(
    tmp_path: Path, shelf_image: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    height, width = read(str(shelf_image)).shape[:2]
    product, gap = (10.0, 20.0, 210.0, 220.0), (300.0, 40.0, 420.0, 200.0)
    model = shelf_model(tmp_path / "m.onnx", [product], [gap], size=(width, height), imgsz=320)
    missing = tmp_path / "missing.jpg"

    code = main(["vision", "detect", str(shelf_image), str(missing), "--model", str(model), "--json",
                 "--out", str(tmp_path / "out")])  # fmt: skip

    captured = capsys.readouterr()
    assert code == 1  # one image could not be read; the other was still done
    assert "missing.jpg: not a readable image" in captured.err
    report = json.loads(captured.out)
    [result] = report["images"]
    assert (result["width"], result["height"]) == (width, height)
    assert result["model_input"] == [320, 320]
    assert result["counts"] == {"product": 1, "gap": 1}
    boxes = {d["class"]: d["box"] for d in result["detections"]}
    assert boxes["product"] == pytest.approx(product, abs=0.2)
    assert boxes["gap"] == pytest.approx(gap, abs=0.2)
    assert {d["class"]: d["confidence"] for d in result["detections"]} == {"product": 0.9, "gap": 0.8}
    annotated = read(str(tmp_path / "out" / "shelf.jpg"))
    original = read(str(shelf_image))
    assert annotated.shape == original.shape
    assert np.abs(annotated.astype(int) - original.astype(int)).max() > 100


def test_detect_text_output_and_a_higher_threshold(
    tmp_path: Path, shelf_image: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    height, width = read(str(shelf_image)).shape[:2]
    model = shelf_model(
        tmp_path / "m.onnx", [(10, 20, 210, 220)], [(300, 40, 420, 200)], size=(width, height)
    )

    assert main(["vision", "detect", str(shelf_image), "--model", str(model), "--conf", "0.85"]) == 0

    out = capsys.readouterr().out
    assert f"({width}x{height}): 1 product, 0 gap" in out
    assert "product  0.900  [10, 20, 210, 220]" in out


def test_detect_without_a_model_says_so(
    tmp_path: Path, shelf_image: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["vision", "detect", str(shelf_image), "--model", str(tmp_path / "none.onnx")]) == 2
    assert "no detector model" in capsys.readouterr().err


@pytest.mark.skipif(not SHIPPED.is_file(), reason=f"no shipped model at {SHIPPED}: quality not checked")
def test_shipped_model_finds_products_on_a_synthetic_shelf(
    shelf_image: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["vision", "detect", str(shelf_image), "--json"]) == 0
    [result] = json.loads(capsys.readouterr().out)["images"]
    assert result["counts"]["product"] >= 5


def test_calibrate_draws_the_camera_slots_over_a_snapshot(
    tmp_path: Path, example_store: StoreConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    snapshot = tmp_path / "snap.jpg"
    cv2.imwrite(str(snapshot), np.full((360, 640, 3), 128, dtype=np.uint8))
    out = tmp_path / "calib.png"

    code = main(["vision", "calibrate", "--store", str(EXAMPLE_STORE), "--camera", "cam-1l",
                 "--image", str(snapshot), "--out", str(out)])  # fmt: skip

    assert code == 0
    assert "24 slots of cam-1l" in capsys.readouterr().out
    drawn = read(str(out))
    assert drawn.shape == (360, 640, 3)  # slots scaled from the camera's 1280x720 onto the snapshot
    changed = np.abs(drawn.astype(int) - 128).sum(axis=2) > 30
    assert changed.mean() > 0.02
    # The first slot (40..236 x 12..156 at 1280x720) is outlined at half scale.
    assert changed[6:80, 20].any()


def test_calibrate_without_a_snapshot_uses_a_blank_frame_and_refuses_unknown_cameras(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "blank.png"
    args = ["vision", "calibrate", "--store", str(EXAMPLE_STORE), "--state-dir", str(tmp_path)]

    assert main([*args, "--camera", "cam-2r", "--out", str(out)]) == 0
    assert main([*args, "--camera", "cam-9z", "--out", str(out)]) == 2

    assert read(str(out)).shape == (720, 1280, 3)
    assert "no camera 'cam-9z'" in capsys.readouterr().err


def test_calibrate_warns_of_slots_too_narrow_for_the_model_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same planogram filmed by a 6x wider frame: every slot shrinks to a sixth at the model input."""

    def calibrate(store: Path, out: str) -> int:
        return main(["vision", "calibrate", "--store", str(store), "--camera", "cam-1l",
                     "--state-dir", str(tmp_path), "--out", str(tmp_path / out)])  # fmt: skip

    assert calibrate(EXAMPLE_STORE, "as-shipped.png") == 0
    assert "warning" not in capsys.readouterr().err

    store = yaml.safe_load(EXAMPLE_STORE.read_text())
    camera = next(c for c in store["devices"]["cameras"] if c["id"] == "cam-1l")
    camera["width"], camera["height"] = 6 * camera["width"], 6 * camera["height"]
    wide = tmp_path / "wide-store.yaml"
    wide.write_text(yaml.safe_dump(store))
    assert calibrate(wide, "wide.png") == 0

    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning: slot 1l-")]
    assert len(warnings) == 24
    input_w, input_h = model_input_size(VisionSettings().model_path, (camera["width"], camera["height"]))
    assert f"px of the {input_w}x{input_h} model input, under 16" in warnings[0]
