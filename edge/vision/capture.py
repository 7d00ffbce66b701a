"""Frames from an OpenCV VideoCapture source (file, RTSP, USB) in a thread that keeps only the latest."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

logger = logging.getLogger(__name__)

BgrImage = npt.NDArray[np.uint8]
MQTT_SOURCE = "mqtt"
_DEVICE = re.compile(r"^(?:/dev/video)?(\d+)$")
_STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://")
# A file without a usable frame rate is played at this pace, so it is not read through in a blink.
DEFAULT_FILE_FPS = 10.0


def open_source(source: str) -> Any:
    """`/dev/video0` or `0` -> a device index; anything else (file path, rtsp:// URL) as OpenCV takes it."""
    device = _DEVICE.match(source)
    return cv2.VideoCapture(int(device.group(1)) if device else source)


def is_live(source: str) -> bool:
    """Live sources deliver at their own pace; a file must be paced by us."""
    return bool(_DEVICE.match(source)) or source.lower().startswith(_STREAM_SCHEMES)


@dataclass(frozen=True, slots=True)
class CapturedFrame:
    image: BgrImage
    seq: int


class FrameCapture:
    """One camera's capture thread: reads continuously (so a stream never lags behind), keeps the newest
    frame at most every `interval_s`, and reopens the source `reconnect_s` after any failure or the end
    of a file (a file therefore loops)."""

    def __init__(
        self,
        camera: str,
        source: str,
        interval_s: float,
        reconnect_s: float,
        opener: Callable[[str], Any] = open_source,
    ) -> None:
        self.camera = camera
        self.source = source
        self.interval_s = interval_s
        self.reconnect_s = reconnect_s
        self.opens = 0
        self.failures = 0
        self._opener = opener
        self._live = is_live(source)
        self._lock = threading.Lock()
        self._latest: CapturedFrame | None = None
        self._taken = 0
        self._seq = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"capture-{self.camera}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def take(self) -> BgrImage | None:
        """The newest frame if it was not taken before; called by the processor's owner thread."""
        with self._lock:
            latest = self._latest
            if latest is None or latest.seq == self._taken:
                return None
            self._taken = latest.seq
            return latest.image

    def _run(self) -> None:
        while not self._stop.is_set():
            capture = self._opener(self.source)
            self.opens += 1
            try:
                if not capture.isOpened():
                    self.failures += 1
                    logger.warning("camera %s: cannot open %s", self.camera, self.source)
                else:
                    self._read(capture)
            except Exception:
                self.failures += 1
                logger.exception("camera %s: capture from %s failed", self.camera, self.source)
            finally:
                capture.release()
            if self._stop.wait(self.reconnect_s):
                return

    def _read(self, capture: Any) -> None:
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        frame_gap = 0.0 if self._live else 1.0 / (fps if 0.5 < fps < 240 else DEFAULT_FILE_FPS)
        next_keep = 0.0
        next_read = time.monotonic()
        while not self._stop.is_set():
            if frame_gap:
                # A file plays in real time: sleep until its next frame is due.
                if self._stop.wait(max(0.0, next_read - time.monotonic())):
                    return
                next_read += frame_gap
            if not capture.grab():
                if self._live:
                    self.failures += 1
                    logger.warning("camera %s: %s stopped delivering frames", self.camera, self.source)
                else:
                    logger.info("camera %s: end of %s, reopening", self.camera, self.source)
                return
            now = time.monotonic()
            if now < next_keep:
                continue  # grabbed (not decoded) only to keep a live stream's buffer from lagging
            ok, image = capture.retrieve()
            if not ok or image is None:
                continue
            next_keep = now + self.interval_s
            with self._lock:
                self._seq += 1
                self._latest = CapturedFrame(np.asarray(image, dtype=np.uint8), self._seq)
