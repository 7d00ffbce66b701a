"""Real photos into a training set: labels mapped, polygons boxed, rotated variants left out, products
pseudo-labelled by the shipped model off the labelled gaps, earlier copies replaced."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from smartstore.models.real_data import GAP, PREFIX, PRODUCT, RealPhotos, add_real_photos, read_labels
from smartstore.models.synth.pipeline import synthesize
from smartstore.models.train import SHIPPED_MODEL

# The held-out CC BY photos kept in the repository stand in for the set's layout (valid__ and test__ only).
CCBY = Path(__file__).resolve().parents[2] / "bench" / "data" / "real-shelves-ccby"


def test_box_and_polygon_rows_become_boxes_of_our_classes(tmp_path: Path) -> None:
    labels = tmp_path / "a.txt"
    labels.write_text("0 0.5 0.5 0.2 0.4\n0 0.1 0.2 0.3 0.2 0.3 0.6 0.1 0.6\n3 0.5 0.5 0.1 0.1\nbroken\n")
    rows = read_labels(labels, {0: GAP})
    assert rows[0] == pytest.approx((GAP, 0.5, 0.5, 0.2, 0.4))
    cls, cx, cy, w, h = rows[1]
    assert cls == GAP
    assert (cx, cy, w, h) == pytest.approx((0.2, 0.4, 0.2, 0.4))
    assert len(rows) == 2  # the unmapped class and the broken line are dropped


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """A set in the CC BY layout: two `train__` shelves labelled with empty spaces only (class 0), one
    `valid__` and one `train__` flagged rotated (both real CC BY photos). The train shelves are our own
    synthetic ones, so that the shipped model, the teacher, surely finds products on them."""
    folder = tmp_path / "real"
    for part in ("images", "labels", "meta"):
        (folder / part).mkdir(parents=True)
    for name, seed in (("train__a", 3), ("train__b", 4)):
        shelf = synthesize(seed, 416)
        (folder / "images" / f"{name}.jpg").write_bytes(shelf.jpeg)
        gaps = [label.yolo_line(shelf.width, shelf.height) for label in shelf.labels if label.cls == GAP]
        (folder / "labels" / f"{name}.txt").write_text("".join(f"0{line[1:]}\n" for line in gaps))
    sources = sorted((CCBY / "images").glob("valid__*.jpg"))[:2]
    for source, name in zip(sources, ["valid__c.jpg", "train__rotated.jpg"], strict=True):
        shutil.copy(source, folder / "images" / name)
        shutil.copy(CCBY / "labels" / f"{source.stem}.txt", folder / "labels" / f"{Path(name).stem}.txt")
    flags = [{"file": "train__rotated.jpg", "rotated_black_corners": True}]
    (folder / "meta" / "augmentation_flags.json").write_text(json.dumps(flags))
    return folder


def test_train_photos_are_added_with_pseudo_products_off_the_gaps(photos: Path, tmp_path: Path) -> None:
    dataset = tmp_path / "dataset"
    (dataset / "labels").mkdir(parents=True)
    (dataset / "labels" / "train.cache").write_text("stale")
    counts = add_real_photos(dataset, RealPhotos(photos, repeat=2, teacher=SHIPPED_MODEL))
    assert (counts["photos"], counts["images"], counts["skipped_rotated"]) == (2, 4, 1)
    assert not (dataset / "labels" / "train.cache").exists()
    written = sorted((dataset / "labels" / "train").glob(f"{PREFIX}*.txt"))
    assert len(written) == 4
    rows = [line.split() for path in written for line in path.read_text().splitlines()]
    gaps = [row for row in rows if int(row[0]) == GAP]
    products = [row for row in rows if int(row[0]) == PRODUCT]
    assert len(gaps) == 2 * counts["gaps"] > 0
    assert len(products) == 2 * counts["products"] > 0  # the shipped model finds real products
    # Again with no teacher: the earlier copies are replaced, not added to.
    counts = add_real_photos(dataset, RealPhotos(photos, repeat=1, teacher=None))
    assert counts["products"] == 0
    assert len(list((dataset / "images" / "train").glob(f"{PREFIX}*.jpg"))) == 2
