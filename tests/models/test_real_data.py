"""Real photos into a training set: labels mapped, polygons boxed, rotated variants left out, products
pseudo-labelled by the shipped model off the labelled gaps, earlier copies replaced."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from smartstore.models.real_data import GAP, PREFIX, PRODUCT, RealPhotos, add_real_photos, read_labels
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
    """Four CC BY photos in the set's layout: two `train__`, one `valid__`, one `train__` flagged rotated."""
    folder = tmp_path / "real"
    (folder / "images").mkdir(parents=True)
    (folder / "labels").mkdir()
    (folder / "meta").mkdir()
    sources = sorted((CCBY / "images").glob("valid__*.jpg"))[:4]
    names = ["train__a.jpg", "train__b.jpg", "valid__c.jpg", "train__rotated.jpg"]
    for source, name in zip(sources, names, strict=True):
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
