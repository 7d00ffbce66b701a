"""Tiled inference: tile geometry, boxes mapped back to the photo, boxes cut by tile borders merged."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from smartstore.edge.vision.detections import Detection
from smartstore.edge.vision.detector import Letterbox, OnnxDetector, fitted_input_size, letterbox_scale
from smartstore.edge.vision.settings import TileMode, TilingSettings, VisionSettings
from smartstore.edge.vision.tiling import (
    Tile,
    axis_starts,
    detect_tiled,
    merge_cut_boxes,
    tile_grid,
    tile_side,
    wants_tiles,
)
from smartstore.launcher.cli import main
from smartstore.models.evaluate import iou

IMGSZ = 416
Box = tuple[float, float, float, float]


@pytest.mark.parametrize(("width", "height"), [(4000, 3000), (1920, 1080), (2560, 2560), (900, 5000)])
@pytest.mark.parametrize("overlap", [0.2, 0.25])
def test_tiles_cover_the_image_and_overlap_as_set(width: int, height: int, overlap: float) -> None:
    settings = TilingSettings(overlap=overlap)
    side = tile_side((width, height), IMGSZ, settings)
    tiles = tile_grid((width, height), side, overlap)

    covered = np.zeros((height, width), dtype=bool)
    for tile in tiles:
        assert 0 <= tile.x0 < tile.x1 <= width
        assert 0 <= tile.y0 < tile.y1 <= height
        covered[tile.y0 : tile.y1, tile.x0 : tile.x1] = True
    assert covered.all()
    for length, tile_len in ((width, min(side, width)), (height, min(side, height))):
        starts = axis_starts(length, tile_len, overlap)
        assert starts[0] == 0
        assert starts[-1] + tile_len == length
        shared = [tile_len - (after - before) for before, after in itertools.pairwise(starts)]
        assert all(share >= overlap * tile_len - 1 for share in shared), shared
    # Tiles never get fewer pixels than the scale asks, and a side needs at most max_tiles_per_side.
    assert side >= IMGSZ * settings.tile_scale
    assert len({t.x0 for t in tiles}) <= settings.max_tiles_per_side
    assert len({t.y0 for t in tiles}) <= settings.max_tiles_per_side


def test_modes_choose_tiling_by_image_size() -> None:
    settings = TilingSettings()
    assert not wants_tiles("off", (4000, 3000), IMGSZ, settings)
    assert wants_tiles("on", (1280, 720), IMGSZ, settings)
    assert wants_tiles("auto", (4000, 3000), IMGSZ, settings)
    assert not wants_tiles("auto", (640, 640), IMGSZ, settings)
    assert not wants_tiles("on", (800, 600), IMGSZ, settings)  # one tile holds it: nothing to tile
    vision = VisionSettings(camera_tiles={"cam-photo": "auto"})
    assert (vision.tiles("cam-photo"), vision.tiles("cam-1")) == ("auto", "off")


@pytest.mark.parametrize("box", [(1210.0, 1333.0, 1480.5, 1391.0), (3000.0, 2100.0, 3123.0, 2999.0)])
def test_a_box_goes_into_tile_input_pixels_and_comes_back_within_a_pixel(box: Box) -> None:
    size = (4000, 3000)
    tiles = tile_grid(size, tile_side(size, IMGSZ, TilingSettings()), 0.2)
    tile = next(t for t in tiles if t.x0 <= box[0] and t.y0 <= box[1] and box[2] <= t.x1 and box[3] <= t.y1)
    input_w, input_h = fitted_input_size((tile.width, tile.height), IMGSZ)
    scale = letterbox_scale((tile.width, tile.height), (input_w, input_h))
    pad_x = (input_w - min(round(tile.width * scale), input_w)) // 2
    pad_y = (input_h - min(round(tile.height * scale), input_h)) // 2
    in_tile = tile.to_tile(box)
    # Where the model sees it: inside the letterboxed input of that tile.
    seen = [v * scale + pad for v, pad in zip(in_tile, (pad_x, pad_y, pad_x, pad_y), strict=True)]
    assert all(0 <= v <= limit for v, limit in zip(seen, (input_w, input_h) * 2, strict=True))
    back = Letterbox(scale, pad_x, pad_y, tile.width, tile.height).undo(np.array([seen], dtype=np.float32))

    assert tile.to_image(tuple(back[0].tolist())) == pytest.approx(box, abs=1.0)
    assert tile.to_image(in_tile) == box


def _gap(box: Box, score: float = 0.8, cls: int = 1) -> Detection:
    return Detection(cls=cls, name="gap" if cls == 1 else "product", score=score, box=box)


def test_a_gap_cut_by_a_tile_border_comes_back_as_one_box() -> None:
    size = (1498, 832)
    left, right = Tile(0, 0, 832, 832), Tile(666, 0, 1498, 832)
    gap = (500.0, 100.0, 1200.0, 160.0)
    # What each tile's detector reports: the part it sees, ending on its edge.
    parts = [_gap((500.0, 100.0, 832.0, 161.0), 0.6), _gap((666.0, 99.0, 1200.0, 160.0), 0.9)]

    merged = merge_cut_boxes(parts, [left, right], size)

    assert len(merged) == 1
    assert merged[0].box == pytest.approx((gap[0], 99.0, gap[2], 161.0))
    assert merged[0].score == 0.9


def test_neighbours_of_a_cut_product_stay_apart() -> None:
    size = (1498, 832)
    left, right = Tile(0, 0, 832, 832), Tile(666, 0, 1498, 832)
    # Products 80 px wide side by side; the border at x = 832 cuts the one from 800 to 880.
    cut_in_left = _gap((800.0, 300.0, 832.0, 400.0), cls=0)
    seen_in_right = [_gap((x, 300.0, x + 80.0, 400.0), cls=0) for x in (720.0, 800.0, 880.0)]
    seen_in_right[0] = _gap((720.0 + 2, 300.0, 802.0, 400.0), cls=0)  # a loose box reaching into the cut one

    merged = merge_cut_boxes([cut_in_left, *seen_in_right], [left, right, right, right], size)

    boxes = sorted(d.box for d in merged)
    assert boxes == [(722.0, 300.0, 802.0, 400.0), (800.0, 300.0, 880.0, 400.0), (880.0, 300.0, 960.0, 400.0)]


def test_detect_tiled_returns_each_object_once_in_photo_pixels() -> None:
    """A stand-in detector that reports the truth clipped to whatever crop it is given (each pixel holds its
    own x, y, so the crop says where it is): long gaps cut by several tiles, small ones inside one."""
    width, height = 3000, 1500
    ys, xs = np.mgrid[0:height, 0:width]
    image = np.stack([xs, ys], axis=2).astype(np.int32)
    truths = [(100.0, 200.0, 2900.0, 260.0), (1000.0, 900.0, 1040.0, 1000.0), (1700.0, 500.0, 2300.0, 1400.0)]

    def detect_once(part: np.ndarray) -> list[Detection]:
        x0, y0 = (float(v) for v in part[0, 0])
        h, w = part.shape[:2]
        found = []
        for box in truths:
            clipped = (max(box[0], x0), max(box[1], y0), min(box[2], x0 + w), min(box[3], y0 + h))
            if clipped[2] > clipped[0] and clipped[3] > clipped[1]:
                found.append(_gap((clipped[0] - x0, clipped[1] - y0, clipped[2] - x0, clipped[3] - y0)))
        return found

    assert len(tile_grid((width, height), tile_side((width, height), IMGSZ, TilingSettings()), 0.2)) > 4
    for whole in (False, True):
        settings = TilingSettings(mode="on", whole_image=whole)
        found = detect_tiled(image, detect_once, IMGSZ, settings, 0.5, 1000)  # type: ignore[arg-type]
        assert sorted(d.box for d in found) == sorted(truths)


CCBY = Path(__file__).resolve().parents[3] / "bench" / "data" / "real-shelves-ccby"
# A CC BY 4.0 photo (attribution: bench/data/real-shelves-ccby/README.md) with two labelled gaps.
PHOTO = "valid__1-2_jpg.rf.2644c25d23f6e0921569a0ea3486c350"


@pytest.mark.skipif(not (CCBY / "images" / f"{PHOTO}.jpg").is_file(), reason="CC BY shelf photos not present")
def test_auto_tiles_on_a_large_real_photo_find_at_least_the_gaps_off_finds() -> None:
    """The shipped model on a real photo upscaled 4x (2560 px, as a phone photo would be): tiled, it finds
    at least as many labelled gaps (IoU >= 0.3) as the photo squeezed whole into the input."""
    detector = OnnxDetector(VisionSettings().model_path)
    image = cv2.imread(str(CCBY / "images" / f"{PHOTO}.jpg"))
    assert image is not None
    large = np.asarray(cv2.resize(image, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC), dtype=np.uint8)
    side = large.shape[1]
    # Its labels are polygons (cls x1 y1 x2 y2 ..., normalised): each gap's box is the polygon's bounds.
    rows = np.loadtxt(CCBY / "labels" / f"{PHOTO}.txt", ndmin=2)
    xs, ys = rows[:, 1::2], rows[:, 2::2]
    truths = np.stack([xs.min(1), ys.min(1), xs.max(1), ys.max(1)], axis=1) * side

    def found(mode: TileMode) -> int:
        gaps = np.array([d.box for d in detector.detect(large, tiles=mode) if d.name == "gap"]).reshape(-1, 4)
        return sum(1 for truth in truths if len(gaps) and iou(truth, gaps).max() >= 0.3)

    off = found("off")
    assert wants_tiles("auto", (side, side), detector.imgsz, detector.settings.tiling)
    assert off >= 1
    assert found("auto") >= off


def test_vision_detect_says_which_images_it_tiled(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    small, large = tmp_path / "small.jpg", tmp_path / "large.jpg"
    cv2.imwrite(str(small), np.full((480, 640, 3), 90, dtype=np.uint8))
    cv2.imwrite(str(large), np.full((1500, 2000, 3), 90, dtype=np.uint8))

    assert main(["vision", "detect", str(small), str(large), "--json"]) == 0
    assert [image["tiled"] for image in json.loads(capsys.readouterr().out)["images"]] == [False, False]

    assert main(["vision", "detect", str(small), str(large), "--json", "--tiles", "auto"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["tiles"] == "auto"
    assert [image["tiled"] for image in document["images"]] == [False, True]
    assert all("detections" in image and "model_input" in image for image in document["images"])
