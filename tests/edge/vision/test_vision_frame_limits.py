"""A JPEG whose header claims a huge frame is refused before decoding, at no memory cost (issue #25)."""

from __future__ import annotations

import resource
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest
from edge_helpers import FakeClock, flat_panel, jpeg
from test_vision_processor import camera_slots, message, run, settings
from vision_models import shelf_model, slot_box

from smartstore.edge.processors.base import Rejection
from smartstore.edge.vision.jpeg_header import jpeg_size
from smartstore.edge.vision.processor import DECODE_ERROR, FRAME_TOO_LARGE, ShelfVisionProcessor
from smartstore.kernel.storeconfig import StoreConfig


def claiming(data: bytes, width: int, height: int) -> bytes:
    """The same JPEG with its SOF0 header rewritten to claim width x height (the data stays small)."""
    at = data.index(b"\xff\xc0")
    return data[: at + 5] + struct.pack(">HH", height, width) + data[at + 9 :]


@pytest.fixture
def model(example_store: StoreConfig, tmp_path: Path) -> Path:
    """A detector that sees cam-1l's first slot stocked and its second empty."""
    one, two = camera_slots(example_store)[:2]
    return shelf_model(tmp_path / "stocked.onnx", [slot_box(one)], [slot_box(two)])


def small_frame() -> bytes:
    return jpeg(cv2.cvtColor(flat_panel(), cv2.COLOR_GRAY2BGR))


@pytest.mark.parametrize(("width", "height"), [(1280, 720), (640, 360), (17, 3)])
def test_the_header_gives_the_size_opencv_decodes(width: int, height: int) -> None:
    image = np.zeros((height, width, 3), np.uint8)
    data = jpeg(image)
    assert jpeg_size(data) == (width, height)
    # Progressive JPEGs (SOF2) and restart markers are read the same way.
    ok, progressive = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    assert ok
    assert jpeg_size(progressive.tobytes()) == (width, height)


def test_headers_without_a_frame_size_are_none() -> None:
    assert jpeg_size(b"") is None
    assert jpeg_size(b"\x89PNG\r\n\x1a\n") is None
    assert jpeg_size(b"\xff\xd8\xff\xda\x00\x08" + b"\x00" * 8) is None  # scan data before any SOF
    assert jpeg_size(b"\xff\xd8\xff\xe0\x00\x01") is None  # a length below 2
    assert jpeg_size(small_frame()[:40]) is None  # cut off before the SOF


def test_a_frame_claiming_32000_px_is_refused_before_decoding(
    example_store: StoreConfig, model: Path, clock: FakeClock
) -> None:
    processor = ShelfVisionProcessor(example_store, settings(model), clock.now)
    bomb = claiming(small_frame(), 32000, 32000)
    assert jpeg_size(bomb) == (32000, 32000)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(3):
        with pytest.raises(Rejection) as refused:
            processor.handle(message(bomb), clock.now)
        assert refused.value.reason == FRAME_TOO_LARGE
        assert "32000x32000" in refused.value.detail
        assert "1280x720" in refused.value.detail
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 50_000  # a decode would take 3 GB
    assert processor.counters["colour_decodes"] == 0

    # Twice the configured width and height (a main stream) is the default bound: a pixel more is refused.
    with pytest.raises(Rejection) as wider:
        processor.handle(message(claiming(small_frame(), 2561, 1440)), clock.now)
    assert wider.value.reason == FRAME_TOO_LARGE
    strict = ShelfVisionProcessor(example_store, settings(model, max_frame_scale=1.0), clock.now)
    with pytest.raises(Rejection) as beyond:
        strict.handle(message(claiming(small_frame(), 1281, 720)), clock.now)
    assert beyond.value.reason == FRAME_TOO_LARGE
    with pytest.raises(Rejection) as no_header:
        processor.handle(message(b"\xff\xd8" + b"\x00" * 64), clock.now)
    assert no_header.value.reason == DECODE_ERROR
    sub_stream = jpeg(cv2.resize(cv2.cvtColor(flat_panel(), cv2.COLOR_GRAY2BGR), (640, 360)))
    assert processor.counters["frames"] == 0
    run(processor, clock, [sub_stream, small_frame()])
    assert processor.counters["frames"] == 2
    assert processor.counters["colour_decodes"] >= 1
