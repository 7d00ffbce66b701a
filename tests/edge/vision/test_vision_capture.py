"""VideoCapture threads: a file plays at its pace and loops, a source that fails is reopened."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
from edge_helpers import wait_for

from smartstore.edge.vision.capture import FrameCapture, is_live


def write_video(path: Path, frames: int, fps: float = 20.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (160, 120))
    assert writer.isOpened()
    for index in range(frames):
        writer.write(np.full((120, 160, 3), index * 10 % 250, dtype=np.uint8))
    writer.release()
    return path


def test_sources_that_deliver_at_their_own_pace() -> None:
    assert is_live("rtsp://10.0.0.5/stream1")
    assert is_live("/dev/video0")
    assert is_live("0")
    assert not is_live("/srv/shelf.mp4")


def test_a_file_is_played_in_real_time_taken_once_per_frame_and_looped(tmp_path: Path) -> None:
    video = write_video(tmp_path / "short.avi", frames=6)  # 0.3 s at 20 fps
    capture = FrameCapture("cam", str(video), interval_s=0.0, reconnect_s=0.05)
    capture.start()
    try:
        taken: list[int] = []
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and capture.opens < 3:
            frame = capture.take()
            if frame is not None:
                taken.append(int(frame.mean()))
            time.sleep(0.01)
    finally:
        capture.stop()

    assert capture.opens >= 3  # reached the end twice and reopened
    assert capture.failures == 0
    assert len(taken) >= 6
    capture.take()
    assert capture.take() is None  # a frame is handed out once
    assert taken[:3] == sorted(taken[:3])  # frames in file order


def test_a_source_that_cannot_be_opened_is_retried(tmp_path: Path) -> None:
    capture = FrameCapture("cam", str(tmp_path / "missing.avi"), interval_s=1.0, reconnect_s=0.05)
    capture.start()
    try:
        assert wait_for(lambda: capture.failures >= 3, timeout=5)
    finally:
        capture.stop()
    assert capture.take() is None
