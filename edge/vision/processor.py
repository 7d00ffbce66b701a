"""ShelfVisionProcessor: camera frames -> motion gate -> ONNX detector -> slot states -> ShelfSignals."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from smartstore.edge.drafts import draft
from smartstore.edge.processors.base import Message, Processor, Rejection
from smartstore.edge.vision.annotate import annotated_jpeg
from smartstore.edge.vision.capture import MQTT_SOURCE, BgrImage, FrameCapture
from smartstore.edge.vision.detections import Detection
from smartstore.edge.vision.detector import OnnxDetector
from smartstore.edge.vision.jpeg_header import jpeg_size
from smartstore.edge.vision.motion import GateDecision, MotionGate
from smartstore.edge.vision.raster import SlotRaster
from smartstore.edge.vision.settings import TileMode, VisionSettings
from smartstore.edge.vision.slots import SlotTracker
from smartstore.kernel.atomic_file import atomic_write
from smartstore.kernel.contract.payloads import ShelfSignal, Signal, SlotObservation
from smartstore.kernel.contract.topics import Channel, Kind, Topic
from smartstore.kernel.contract.validation import Image, RejectReason
from smartstore.kernel.storeconfig import Camera, Slot, StoreConfig

logger = logging.getLogger(__name__)

DECODE_ERROR = "decode_error"
FRAME_TOO_LARGE = "frame_too_large"
# libjpeg scales while it decodes (DCT scaling): 1/2 of a 1280 px frame costs a third of a full decode.
_REDUCED = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4}
_REDUCED_GREY = {
    1: cv2.IMREAD_GRAYSCALE,
    2: cv2.IMREAD_REDUCED_GRAYSCALE_2,
    4: cv2.IMREAD_REDUCED_GRAYSCALE_4,
    8: cv2.IMREAD_REDUCED_GRAYSCALE_8,
}


def load_detector(settings: VisionSettings) -> OnnxDetector | None:
    """The shared detector, or None (logged) when the model is missing or unusable: vision stays off."""
    path = settings.model_path
    if not path.is_file():
        logger.error("shelf vision off: no detector model at %s (set vision.model_path)", path)
        return None
    try:
        return OnnxDetector(path, settings.detector)
    except Exception:
        logger.exception("shelf vision off: detector model %s could not be loaded", path)
        return None


def decode_reduction(frame_size: tuple[int, int], input_size: tuple[int, int]) -> int:
    """Largest JPEG decode reduction whose (width, height) frame still covers the detector's input."""
    (width, height), (input_w, input_h) = frame_size, input_size
    return max(
        factor
        for factor in _REDUCED
        if factor == 1 or width / factor >= input_w or height / factor >= input_h
    )


def motion_reduction(frame_size: tuple[int, int], motion_width: int) -> int:
    """Largest JPEG decode reduction whose frame is still as wide as the motion gate's picture."""
    return max(factor for factor in _REDUCED_GREY if factor == 1 or frame_size[0] / factor >= motion_width)


def decode_jpeg(jpeg: bytes, reduction: int = 1, grey: bool = False) -> BgrImage:
    """BGR (or `grey`) picture of a JPEG, decoded at 1/`reduction` of its size."""
    flags = _REDUCED_GREY[reduction] if grey else _REDUCED[reduction]
    image = cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), flags)
    if image is None or image.size == 0:
        raise Rejection(DECODE_ERROR, "OpenCV could not decode the JPEG")
    return np.asarray(image, dtype=np.uint8)


def check_frame_header(camera: Camera, jpeg: bytes, max_scale: float) -> None:
    """Refuse a JPEG whose header claims more than `max_scale` times the camera's configured pixels,
    before decoding: the decoder allocates what the header says (32000x32000 from 629 bytes: 3 GB)."""
    size = jpeg_size(jpeg)
    if size is None:
        raise Rejection(DECODE_ERROR, "no JPEG frame header (SOF) before the image data")
    width, height = size
    if width == 0 or height == 0 or width * height > max_scale * camera.width * camera.height:
        raise Rejection(
            FRAME_TOO_LARGE,
            f"frame header says {width}x{height}; camera {camera.id} is configured for "
            f"{camera.width}x{camera.height} (at most {max_scale:g} times its pixels)",
        )


@dataclass(slots=True)
class CameraView:
    """One camera's pipeline state; touched only by the owner (dispatcher) thread."""

    camera: Camera
    slots: list[Slot]
    gate: MotionGate
    raster: SlotRaster
    tracker: SlotTracker
    # The detector's input for this camera's configured size: what the decode reduction must cover.
    input_size: tuple[int, int]
    reduction: int
    # JPEG frames: the reduction at which a grey decode is the motion gate's picture (1280 px at 1/8: 160).
    motion_reduction: int
    capture: FrameCapture | None = None
    last_frame: float | None = None
    last_inference: float | None = None
    next_snapshot: float = 0.0
    frames: int = 0
    inferences: int = 0
    tiles: TileMode = "off"
    detections: list[Detection] = field(default_factory=list)

    @property
    def size(self) -> tuple[int, int]:
        return self.camera.width, self.camera.height


class ShelfVisionProcessor(Processor):
    """All cameras of a store share one detector (one onnxruntime session), run by the dispatcher thread.

    The detector runs only when the motion gate says so (start-up, scene still again after motion, a
    re-check timer, a slot change awaiting its confirmations); every other frame costs a decode and a
    frame difference. A shopper in front of a slot never empties it: moving or hidden slots keep their
    state, marked stale (`SlotTracker`).
    """

    name = "shelf_vision"

    def __init__(
        self,
        store: StoreConfig,
        settings: VisionSettings,
        now: float,
        *,
        snapshot_dir: Path | None = None,
        detector: OnnxDetector | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.store = store
        self.snapshot_dir = snapshot_dir
        if detector is None and not settings.enabled:
            logger.info("shelf vision disabled (vision.enabled is false)")
        elif detector is None:
            detector = load_detector(settings)
        self.detector = detector
        self.class_ids = self._class_ids()
        self.cameras: dict[str, CameraView] = {}
        self._snapshots: dict[str, bytes] = {}
        # Decodes the gate's grey picture and steps the gate beside the dispatcher thread's colour decode.
        self._gate_helper: ThreadPoolExecutor | None = None
        if not self.active:
            return
        assert self.detector is not None
        for camera in store.devices.cameras:
            slots = [slot for shelf in store.shelves_for_camera(camera.id) for slot in shelf.slots]
            if not slots:
                continue
            size = (camera.width, camera.height)
            input_size = self.detector.input_size_for(size)
            tiles = settings.tiles(camera.id)
            if tiles != "off":  # tiles see the frame's own pixels: decode it whole
                input_size = size
            self.cameras[camera.id] = CameraView(
                camera,
                slots,
                MotionGate(settings.motion, {slot.id: slot.polygon for slot in slots}, size),
                SlotRaster(slots, size, settings.slots),
                SlotTracker(slots, store.store.shelf_low_fill, settings.slots),
                input_size,
                decode_reduction(size, input_size),
                motion_reduction(size, settings.motion.frame_width),
                next_snapshot=now + settings.snapshot_interval_s,
                tiles=tiles,
            )
            if camera.source != MQTT_SOURCE:
                self.cameras[camera.id].capture = FrameCapture(
                    camera.id, camera.source, camera.interval_s, settings.capture_reconnect_s
                )

    def _class_ids(self) -> tuple[int, int] | None:
        if self.detector is None:
            return None
        names = (self.settings.slots.product_class, self.settings.slots.gap_class)
        product, gap = (self.detector.class_id(name) for name in names)
        if product is None or gap is None:
            logger.error("shelf vision off: model classes %s lack %s", self.detector.names, names)
            return None
        return product, gap

    @property
    def active(self) -> bool:
        return self.detector is not None and self.class_ids is not None

    # --- lifecycle (agent start / stop) ---------------------------------------------------------

    def start(self) -> None:
        for view in self.cameras.values():
            if view.capture is not None:
                logger.info("camera %s: capturing from %s", view.camera.id, view.camera.source)
                view.capture.start()

    def stop(self) -> None:
        for view in self.cameras.values():
            if view.capture is not None:
                view.capture.stop()
        if self._gate_helper is not None:
            self._gate_helper.shutdown(wait=False)
            self._gate_helper = None

    # --- frames ---------------------------------------------------------------------------------

    def accepts(self, topic: Topic) -> bool:
        return self.active and topic.kind is Kind.CAMERA and topic.channel == (Channel.IMAGE,)

    def handle(self, message: Message, now: float) -> list[Signal]:
        if not isinstance(message, Image):
            raise Rejection(RejectReason.NOT_JPEG, "camera image topic without an image")
        view = self.cameras.get(message.topic.device)
        if view is None:
            raise Rejection(
                RejectReason.UNKNOWN_REFERENCE, f"camera {message.topic.device!r} has no planogram slots"
            )
        if view.capture is not None:
            raise Rejection(
                RejectReason.UNKNOWN_REFERENCE,
                f"camera {view.camera.id!r} takes its frames from {view.camera.source!r}, not MQTT",
            )
        return self._process_jpeg(view, message.jpeg, now)

    def _process_jpeg(self, view: CameraView, jpeg: bytes, now: float) -> list[Signal]:
        """One MQTT frame. The gate looks at a small grey decode (1/8 of a 1280 px frame); the detector's
        colour picture is decoded only when the gate may ask for an inference, and then by this thread while
        a helper decodes the grey picture and steps the gate: the entropy decoding both repeat is most of a
        JPEG's cost and runs on one core, so the gate adds nothing to an inferred frame's latency."""
        check_frame_header(view.camera, jpeg, self.settings.max_frame_scale)
        confirm = self._wants_confirmation(view, now)
        if not view.gate.may_infer(now, confirm):
            decision = self._look(view, jpeg, now, confirm)
            frame = self._decode(view, jpeg) if decision.infer else None
        else:
            if self._gate_helper is None:
                self._gate_helper = ThreadPoolExecutor(1, thread_name_prefix="vision-gate")
            look = self._gate_helper.submit(self._look, view, jpeg, now, confirm)
            try:
                frame = self._decode(view, jpeg)
            finally:
                wait([look])  # the gate is this thread's again, whatever happened here
            decision = look.result()
        self._count_frame(view, now)
        return self._infer(view, frame, decision, now) if frame is not None and decision.infer else []

    def _look(self, view: CameraView, jpeg: bytes, now: float, confirm: bool) -> GateDecision:
        """The gate's step on the frame's grey decode; on the helper thread for a frame that may be inferred
        (the dispatcher thread touches neither the gate nor `motion_reduction` meanwhile)."""
        grey = self._refit_motion(view, jpeg, decode_jpeg(jpeg, view.motion_reduction, grey=True))
        return view.gate.update(grey, now, confirm)

    def _refit_motion(self, view: CameraView, jpeg: bytes, grey: BgrImage) -> BgrImage:
        """The gate's picture at its configured width, re-chosen when the camera sends another size than
        configured (a 640 px sub-stream at 1/8 would be 80 px wide)."""
        sent = (grey.shape[1] * view.motion_reduction, grey.shape[0] * view.motion_reduction)
        fitting = motion_reduction(sent, self.settings.motion.frame_width)
        if fitting == view.motion_reduction:
            return grey
        smaller = fitting < view.motion_reduction
        view.motion_reduction = fitting
        return decode_jpeg(jpeg, fitting, grey=True) if smaller else grey

    def _decode(self, view: CameraView, jpeg: bytes) -> BgrImage:
        """The frame at the camera's decode reduction, re-chosen when the camera sends another size than
        configured: a 640x360 sub-stream of a 1280x720 camera, decoded at half size, would reach the
        detector at 320x180 and be scaled up into its input."""
        frame = decode_jpeg(jpeg, view.reduction)
        self.counters["colour_decodes"] += 1
        sent = (frame.shape[1] * view.reduction, frame.shape[0] * view.reduction)
        fitting = decode_reduction(sent, view.input_size)
        if fitting == view.reduction:
            return frame
        logger.warning(
            "camera %s sends %dx%d frames, configured %dx%d: decoding them at 1/%d instead of 1/%d",
            view.camera.id,
            *sent,
            *view.size,
            fitting,
            view.reduction,
        )
        self.counters["decode_reduction_changes"] += 1
        smaller = fitting < view.reduction
        view.reduction = fitting
        # A larger frame than expected is already decoded with room to spare; a smaller one again, whole.
        return decode_jpeg(jpeg, fitting) if smaller else frame

    def process_frame(self, view: CameraView, frame: BgrImage, now: float) -> list[Signal]:
        """One decoded frame of one camera (a capture thread's): the whole per-frame pipeline."""
        decision = view.gate.update(frame, now, self._wants_confirmation(view, now))
        self._count_frame(view, now)
        return self._infer(view, frame, decision, now) if decision.infer else []

    def _wants_confirmation(self, view: CameraView, now: float) -> bool:
        """A slot change awaits agreeing looks and the last one is `confirm_interval_s` old."""
        return (
            view.tracker.pending()
            and view.last_inference is not None
            and now - view.last_inference >= self.settings.confirm_interval_s
        )

    def _count_frame(self, view: CameraView, now: float) -> None:
        view.last_frame = now
        view.frames += 1
        self.counters["frames"] += 1

    def _infer(self, view: CameraView, frame: BgrImage, decision: GateDecision, now: float) -> list[Signal]:
        """The detector on a frame the gate let through and slot states from its boxes: the slots changed."""
        assert self.detector is not None
        assert self.class_ids is not None
        detections = self.detector.detect(frame, self.settings.slots.evidence_floors, view.tiles)
        height, width = frame.shape[:2]
        readings = view.raster.measure(detections, (width, height), *self.class_ids)
        changed = view.tracker.observe(readings, decision.stale_slots)
        view.last_inference = now
        view.inferences += 1
        view.detections = self.detector.reported(detections)
        self.counters["inferences"] += 1
        self.counters[f"inferences_{decision.reason}"] += 1
        if self.settings.annotated_snapshots:
            self._snapshot(view, frame, view.detections)
        if not changed:
            return []
        self.counters["slot_changes"] += len(changed)
        return [ShelfSignal(**draft(now), camera=view.camera.id, slots=changed)]

    def _snapshot(self, view: CameraView, frame: BgrImage, detections: list[Detection]) -> None:
        observations = {obs.slot: obs for obs in view.tracker.observations()}
        try:
            jpeg = annotated_jpeg(
                frame, detections, view.slots, view.size, observations, self.settings.snapshot_quality
            )
        except Exception:
            logger.warning("camera %s: annotated snapshot failed", view.camera.id, exc_info=True)
            return
        self._snapshots[view.camera.id] = jpeg
        if self.snapshot_dir is None:
            return
        try:
            self.snapshot_dir.mkdir(parents=True, exist_ok=True)
            # Readers never see half a file.
            atomic_write(self.snapshot_dir / f"{view.camera.id}.jpg", jpeg)
        except OSError as error:
            self.counters["snapshot_write_errors"] += 1
            logger.warning("camera %s: snapshot not saved: %s", view.camera.id, error)

    def take_snapshots(self) -> list[tuple[str, bytes]]:
        """Annotated JPEGs made since the last call, (camera, jpeg); the agent publishes them retained."""
        taken = list(self._snapshots.items())
        self._snapshots.clear()
        return taken

    # --- timers ---------------------------------------------------------------------------------

    def tick(self, now: float) -> list[Signal]:
        signals: list[Signal] = []
        for view in self.cameras.values():
            if view.capture is not None:
                frame = view.capture.take()
                if frame is not None:
                    signals.extend(self.process_frame(view, frame, now))
            if now >= view.next_snapshot:
                view.next_snapshot = now + self.settings.snapshot_interval_s
                snapshot = self._periodic_snapshot(view, now)
                if snapshot is not None:
                    signals.append(snapshot)
        return signals

    def _periodic_snapshot(self, view: CameraView, now: float) -> ShelfSignal | None:
        if view.last_inference is None:
            return None  # nothing judged yet: a snapshot of 'unknown' would only erase the gateway's view
        assert view.last_frame is not None
        silent = now - view.last_frame > self.settings.stale_after_intervals * view.camera.interval_s
        slots: list[SlotObservation] = view.tracker.observations()
        if silent:
            slots = [obs.model_copy(update={"stale": True}) for obs in slots]
        return ShelfSignal(**draft(now), camera=view.camera.id, slots=slots, snapshot=True)

    def states(self, camera: str) -> dict[str, str]:
        """Confirmed state per slot id of one camera, for tests and tools."""
        return {slot: state.value for slot, state in self.cameras[camera].tracker.states().items()}
