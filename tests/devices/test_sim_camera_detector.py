"""Simulated cameras and the shipped shelf detector agree: empty slots read empty, stocked ones stocked."""

from __future__ import annotations

import os
import random
from pathlib import Path

import cv2
import numpy as np
import pytest

from smartstore.devices.sim.camera import ShelfCamera
from smartstore.edge.vision.detector import OnnxDetector
from smartstore.edge.vision.raster import SlotRaster
from smartstore.edge.vision.settings import DetectorSettings
from smartstore.edge.vision.slots import SlotFillSettings
from smartstore.kernel.storeconfig import StoreConfig

SHIPPED_MODEL = Path(__file__).resolve().parents[2] / "models" / "shelf-detector.onnx"
# Points the check at an exported checkpoint before a model ships (e.g. /tmp/shelf.onnx).
MODEL = Path(os.environ.get("SMARTSTORE_SHELF_MODEL", SHIPPED_MODEL))
MIN_AGREEMENT = 0.95
SEEDS = (0, 1)  # two simulated stores' looks: 16 frames, 384 slots


def random_stock(camera: ShelfCamera, rnd: random.Random) -> dict[str, int]:
    """A third of the slots empty, a third full, a third partly stocked."""
    units = {}
    for area in camera.areas:
        slot, draw = area.slot, rnd.random()
        units[slot.id] = (
            0 if draw < 1 / 3 else slot.capacity if draw < 2 / 3 else rnd.randint(1, slot.capacity - 1)
        )
    return units


@pytest.mark.skipif(not MODEL.is_file(), reason=f"no shelf detector at {MODEL} (none shipped yet)")
def test_detector_reads_simulated_slots_as_stocked_or_empty(example_store: StoreConfig) -> None:
    detector = OnnxDetector(MODEL, DetectorSettings())
    product_cls, gap_cls = detector.class_id("product"), detector.class_id("gap")
    assert product_cls is not None, detector.names
    assert gap_cls is not None, detector.names
    settings = SlotFillSettings()
    agree = total = unreadable = false_empty = missed_empty = 0
    for seed, config in ((seed, config) for seed in SEEDS for config in example_store.devices.cameras):
        shelves = example_store.shelves_for_camera(config.id)
        camera = ShelfCamera(config, shelves, seed=seed)
        units = random_stock(camera, random.Random(f"{seed}:{config.id}"))
        jpeg = camera.render(units).jpeg
        image = np.asarray(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR), np.uint8)
        slots = [slot for shelf in shelves for slot in shelf.slots]
        raster = SlotRaster(slots, (config.width, config.height), settings)
        detections = detector.detect(image, settings.evidence_floors)
        readings = raster.measure(detections, (config.width, config.height), product_cls, gap_cls)
        for slot in slots:
            reading, truly_empty = readings[slot.id], units[slot.id] == 0
            total += 1
            if reading.occluded(settings.min_coverage):
                unreadable += 1  # the edge would keep such a slot stale: never right here
                continue
            read_empty = settings.reads_empty(reading, slot.facings)
            agree += read_empty == truly_empty
            false_empty += read_empty and not truly_empty
            missed_empty += truly_empty and not read_empty
    agreement = agree / total
    print(
        f"\nsimulated camera vs detector {MODEL.name}: {agree}/{total} slots agree ({agreement:.1%}); "
        f"unreadable {unreadable}, read empty but stocked {false_empty}, empty read stocked {missed_empty}"
    )
    assert agreement >= MIN_AGREEMENT
