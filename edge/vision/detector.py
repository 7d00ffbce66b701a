"""ONNX shelf detector on onnxruntime: letterbox, infer, decode, class-wise NMS, boxes in original pixels."""

from __future__ import annotations

import ast
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from smartstore.edge.vision.detections import Detection
from smartstore.edge.vision.nms import class_nms
from smartstore.edge.vision.settings import DetectorSettings, TileMode
from smartstore.edge.vision.tiling import detect_tiled, wants_tiles

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float32]
BgrImage = npt.NDArray[np.uint8]
# Ultralytics pads with this grey; the model was trained on it, so any other value shifts its scores.
LETTERBOX_PAD = 114
# Ultralytics' coarsest detection grid: a free input's sides are multiples of it.
STRIDE = 32
# Boxes of different classes are kept apart in one NMS by class * this (model input pixels: far below it).
CLASS_OFFSET = 8192.0


@dataclass(frozen=True, slots=True)
class Letterbox:
    """How a frame was fitted into the square model input, so boxes can be mapped back."""

    scale: float
    pad_x: int
    pad_y: int
    width: int
    height: int

    def undo(self, boxes: FloatArray) -> FloatArray:
        """(N, 4) x0 y0 x1 y1 in input pixels -> original frame pixels, clipped to the frame."""
        out = boxes.astype(np.float32, copy=True)
        out[:, [0, 2]] = (out[:, [0, 2]] - self.pad_x) / self.scale
        out[:, [1, 3]] = (out[:, [1, 3]] - self.pad_y) / self.scale
        np.clip(out[:, [0, 2]], 0, self.width, out=out[:, [0, 2]])
        np.clip(out[:, [1, 3]], 0, self.height, out=out[:, [1, 3]])
        return out


def letterbox_scale(frame_size: tuple[int, int], input_size: tuple[int, int]) -> float:
    """How much a (width, height) frame is scaled to fit a (width, height) model input, aspect kept."""
    return min(input_size[0] / frame_size[0], input_size[1] / frame_size[1])


class ResizeScratch:
    """Reused uint8 arrays for the resized picture and its three planes, one set per picture size: a
    detector letterboxing frames of a few sizes allocates them once instead of 1 MB per frame."""

    def __init__(self) -> None:
        self._arrays: dict[tuple[int, int], tuple[BgrImage, list[npt.NDArray[np.uint8]]]] = {}

    def arrays(self, width: int, height: int) -> tuple[BgrImage, list[npt.NDArray[np.uint8]]]:
        arrays = self._arrays.get((width, height))
        if arrays is None:
            planes = [np.empty((height, width), dtype=np.uint8) for _ in range(3)]
            arrays = self._arrays[(width, height)] = (np.empty((height, width, 3), dtype=np.uint8), planes)
        return arrays


def letterbox(
    image: BgrImage,
    size: int | tuple[int, int],
    out: FloatArray | None = None,
    scratch: ResizeScratch | None = None,
) -> tuple[FloatArray, Letterbox]:
    """BGR (grey, BGRA) frame -> [1, 3, H, W] float32 RGB 0..1, aspect kept, padded like Ultralytics.

    `size` is S for a square S x S input or (W, H) for a rectangular one (a 16:9 camera wastes less
    of a 416 x 256 input on padding than of a 416 x 416 one). `out`, a [1, 3, H, W] float32 array, is
    filled instead of a new one, and `scratch` holds the intermediate pictures (the detector reuses both).
    """
    if image.ndim == 2:
        image = np.asarray(cv2.cvtColor(image, cv2.COLOR_GRAY2BGR), dtype=np.uint8)
    elif image.shape[2] == 4:
        image = np.asarray(cv2.cvtColor(image, cv2.COLOR_BGRA2BGR), dtype=np.uint8)
    target_w, target_h = (size, size) if isinstance(size, int) else size
    height, width = image.shape[:2]
    scale = letterbox_scale((width, height), (target_w, target_h))
    new_w, new_h = min(round(width * scale), target_w), min(round(height * scale), target_h)
    pad_x, pad_y = (target_w - new_w) // 2, (target_h - new_h) // 2
    resized_buffer, planes = (scratch or ResizeScratch()).arrays(new_w, new_h)
    if (new_w, new_h) == (width, height):
        resized = image
    else:
        resized = np.asarray(cv2.resize(image, (new_w, new_h), dst=resized_buffer), dtype=np.uint8)
    if out is None:
        out = np.empty((1, 3, target_h, target_w), dtype=np.float32)
    elif out.shape != (1, 3, target_h, target_w) or out.dtype != np.float32:
        raise ValueError(
            f"letterbox into {out.dtype} {out.shape}, not float32 (1, 3, {target_h}, {target_w})"
        )
    pad = np.float32(LETTERBOX_PAD / 255.0)
    rows, cols = slice(pad_y, pad_y + new_h), slice(pad_x, pad_x + new_w)
    out[:, :, :pad_y] = pad
    out[:, :, rows.stop :] = pad
    out[:, :, rows, :pad_x] = pad
    out[:, :, rows, cols.stop :] = pad
    # BGR -> RGB, HWC -> CHW, float and /255 written only where the picture goes: the padding (40 % of
    # a square input for a 16:9 camera) is never converted. Split into planes first: a float pass over
    # a contiguous plane is faster than one through the interleaved pixels (0.22 against 0.28 ms).
    for channel, plane in enumerate(reversed(cv2.split(resized, planes))):
        np.multiply(plane, np.float32(1.0 / 255.0), out=out[0, channel, rows, cols])
    return out, Letterbox(scale, pad_x, pad_y, width, height)


def parse_names(text: str | None) -> dict[int, str]:
    """Ultralytics stores `names` as a Python dict literal ({0: 'product', 1: 'gap'}); a list works too."""
    if not text:
        return {}
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        logger.warning("model metadata 'names' is not a literal: %.80s", text)
        return {}
    if isinstance(value, dict):
        return {int(key): str(name) for key, name in value.items()}
    if isinstance(value, list | tuple):
        return {index: str(name) for index, name in enumerate(value)}
    return {}


def best_class(class_scores: FloatArray) -> tuple[npt.NDArray[np.intp], FloatArray]:
    """(class, score) of each candidate's best class, from [nc, N] scores.

    Row by row rather than argmax / max over axis 0: with a class or two, the reduction across rows is
    strided and costs 20 x the element-wise pass (a few hundredths of a millisecond per frame).
    """
    scores = class_scores[0].copy()
    classes = np.zeros(class_scores.shape[1], dtype=np.intp)
    for cls in range(1, class_scores.shape[0]):
        better = class_scores[cls] > scores
        scores[better] = class_scores[cls][better]
        classes[better] = cls
    return classes, scores


def decode(
    output: FloatArray,
    fitted: Letterbox,
    names: dict[int, str],
    settings: DetectorSettings,
    floors: Mapping[str, float] | None = None,
) -> list[Detection]:
    """Ultralytics detect output [1, 4 + nc, N] (cx, cy, w, h in input pixels, class scores) -> detections.

    Boxes are kept from each class's threshold, or from its floor in `floors` (class name -> score) where
    that is lower. A floor per class rather than one for all: boxes weaker than any use of them would
    only lengthen NMS, and a greedy NMS keeps the same stronger boxes without them.
    """
    rows = output[0]  # (4 + nc, N): one column per candidate, each class's scores a contiguous row
    class_scores = rows[4:]
    if class_scores.shape[0] == 0 or rows.shape[1] == 0:
        return []
    classes, scores = best_class(class_scores)
    thresholds = np.full(class_scores.shape[0], settings.score_threshold, dtype=np.float32)
    for cls, name in names.items():
        if 0 <= cls < len(thresholds):
            thresholds[cls] = min(settings.threshold(name), (floors or {}).get(name, 1.0))
    wanted = np.flatnonzero(scores >= thresholds[classes])
    if len(wanted) == 0:
        return []
    centres, classes, scores = rows[:4, wanted].T, classes[wanted], scores[wanted]
    half = centres[:, 2:4] / 2
    boxes = np.concatenate([centres[:, :2] - half, centres[:, :2] + half], axis=1).astype(np.float32)
    keep = class_nms(boxes, classes, scores, settings.iou_threshold, CLASS_OFFSET)[: settings.max_detections]
    original = fitted.undo(boxes[keep]).tolist()
    # Python numbers first (tolist), then the objects: half the time of converting element by element.
    return [
        Detection(cls=cls, name=names.get(cls, str(cls)), score=score, box=(x0, y0, x1, y1))
        for cls, score, (x0, y0, x1, y1) in zip(
            classes[keep].tolist(), scores[keep].tolist(), original, strict=True
        )
    ]


def fitted_input_size(frame_size: tuple[int, int], imgsz: int, stride: int = STRIDE) -> tuple[int, int]:
    """(width, height) a model with a free input shape gets for a (width, height) frame: the frame's
    aspect on about imgsz x imgsz pixels, sides multiples of the stride.

    The same compute as the square input, none of it spent on padding: a 16:9 frame fills 544 x 320
    instead of 416 x 234 of a 416 x 416 input, 1.3 x the pixels across every slot.
    """
    aspect = frame_size[0] / frame_size[1]
    width = max(stride, round(imgsz * math.sqrt(aspect) / stride) * stride)
    height = max(stride, round(imgsz / math.sqrt(aspect) / stride) * stride)
    return width, height


def model_input_size(model_path: Path, frame_size: tuple[int, int]) -> tuple[int, int]:
    """(width, height) of the input a model gives frames of `frame_size`, without loading it to infer."""
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    shape = ModelShape.of(session)
    return shape.input_size_for(frame_size)


@dataclass(frozen=True, slots=True)
class ModelShape:
    """A model's input: a fixed (width, height), or free (exported dynamic) around a square `imgsz`."""

    fixed: tuple[int, int] | None
    imgsz: int
    stride: int

    @classmethod
    def of(cls, session: ort.InferenceSession) -> ModelShape:
        shape = session.get_inputs()[0].shape
        metadata = session.get_modelmeta().custom_metadata_map
        stride = _metadata_int(metadata.get("stride"), STRIDE)
        if len(shape) != 4:
            raise ValueError(f"model input must be [1, 3, H, W], not {shape}")
        height, width = shape[2], shape[3]
        if isinstance(height, int) and isinstance(width, int):
            return cls((width, height), max(width, height), stride)
        if isinstance(height, int) or isinstance(width, int):
            raise ValueError(f"model input must be fixed or free in both sides, not {shape}")
        trained = _metadata_int(metadata.get("imgsz"), 0)
        if trained <= 0:
            raise ValueError(f"model input {shape} is free but its metadata names no imgsz")
        return cls(None, trained, stride)

    def input_size_for(self, frame_size: tuple[int, int]) -> tuple[int, int]:
        return self.fixed or fitted_input_size(frame_size, self.imgsz, self.stride)


def _metadata_int(text: str | None, default: int) -> int:
    """Ultralytics writes `imgsz` as "[416, 416]" and `stride` as "32": the largest number in it."""
    if not text:
        return default
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return default
    numbers = value if isinstance(value, list | tuple) else [value]
    ints = [int(number) for number in numbers if isinstance(number, int | float)]
    return max(ints) if ints else default


class OnnxDetector:
    """One loaded model; `detect` is not thread-safe by design: one owner thread runs it."""

    def __init__(self, model_path: Path, settings: DetectorSettings | None = None) -> None:
        self.settings = settings or DetectorSettings()
        options = ort.SessionOptions()
        # A small edge CPU: one inference at a time, its threads bounded so MQTT and the outbox keep a core.
        options.intra_op_num_threads = self.settings.intra_op_threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Workers spin through an inference (waking them costs 3 ms of 15) but not after it: spinning on, they
        # took the core the decode and slot work runs on next, and the pipeline's p99 was twice its p50.
        options.add_session_config_entry("session.force_spinning_stop", "1")
        self._session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        self._input_name: str = self._session.get_inputs()[0].name
        self.shape = ModelShape.of(self._session)
        # The long side of a fixed input, the square size a free one was trained at.
        self.imgsz = self.shape.imgsz
        self._inputs: dict[tuple[int, int], FloatArray] = {}  # one per input size, refilled by every detect
        self._scratch = ResizeScratch()
        width, height = self.shape.fixed or (self.imgsz, self.imgsz)
        metadata = self._session.get_modelmeta().custom_metadata_map
        self.names = parse_names(metadata.get("names"))
        if not self.names:
            logger.warning("model %s has no class names in its metadata; classes are numbered", model_path)
        started = time.perf_counter()
        warm_up = self.infer(np.zeros((1, 3, height, width), dtype=np.float32))  # the first run allocates
        # The real output, not the declared one: a free-shape export declares no output size.
        self._check_output(warm_up.shape)
        logger.info(
            "detector %s loaded: input %s, classes %s, warm-up %.1f ms",
            model_path.name,
            f"{width}x{height}" if self.shape.fixed else f"fitted to each frame, about {width}x{height}",
            self.names,
            (time.perf_counter() - started) * 1000,
        )

    def input_size_for(self, frame_size: tuple[int, int]) -> tuple[int, int]:
        """(width, height) of the input frames of this (width, height) get."""
        return self.shape.input_size_for(frame_size)

    def input_tensor(self, size: tuple[int, int]) -> FloatArray:
        """The reused [1, 3, H, W] input buffer for a (width, height) input."""
        tensor = self._inputs.get(size)
        if tensor is None:
            tensor = self._inputs[size] = np.empty((1, 3, size[1], size[0]), dtype=np.float32)
        return tensor

    def _check_output(self, shape: tuple[int, ...]) -> None:
        """A model exported in another layout would decode to nonsense boxes: refuse it at load."""
        rows = shape[1] if len(shape) == 3 else 0
        if rows < 5 or (self.names and rows != 4 + len(self.names)):
            raise ValueError(f"model output {shape} is not [1, 4 + {len(self.names)} classes, N]")

    def class_id(self, name: str) -> int | None:
        return next((cls for cls, known in self.names.items() if known == name), None)

    def infer(self, tensor: FloatArray) -> FloatArray:
        """Bare inference on a prepared [1, 3, H, W] tensor (the benchmark's baseline)."""
        outputs = self._session.run(None, {self._input_name: tensor})
        return np.asarray(outputs[0], dtype=np.float32)

    def detect(
        self, image: BgrImage, floors: Mapping[str, float] | None = None, tiles: TileMode | None = None
    ) -> list[Detection]:
        """Boxes from the settings' thresholds; from a class's floor in `floors` too where lower (slot fill
        counts weak boxes). `tiles` (default: the settings' tiling mode) runs large images as tiles."""
        tiling = self.settings.tiling
        if wants_tiles(tiles or tiling.mode, (image.shape[1], image.shape[0]), self.imgsz, tiling):
            return detect_tiled(
                image,
                lambda part: self.detect_once(part, floors),
                self.imgsz,
                tiling,
                self.settings.iou_threshold,
                self.settings.max_detections,
            )
        return self.detect_once(image, floors)

    def detect_once(self, image: BgrImage, floors: Mapping[str, float] | None = None) -> list[Detection]:
        """One inference on the whole image, fitted into the model's input."""
        size = self.input_size_for((image.shape[1], image.shape[0]))
        tensor, fitted = letterbox(image, size, out=self.input_tensor(size), scratch=self._scratch)
        return decode(self.infer(tensor), fitted, self.names, self.settings, floors)

    def reported(self, detections: Sequence[Detection]) -> list[Detection]:
        """The detections at or above their class's threshold: the ones drawn and reported."""
        return [d for d in detections if d.score >= self.settings.threshold(d.name)]
