"""Hand-built ONNX detector models for the vision tests: real onnxruntime input, constant output."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from smartstore.kernel.storeconfig import Slot

# (cx, cy, w, h, class, score) in model input pixels
Candidate = tuple[float, float, float, float, int, float]
ModelFactory = Callable[[Sequence[Candidate]], Path]
Box = tuple[float, float, float, float]  # x0, y0, x1, y1


def constant_detector_model(
    path: Path,
    candidates: Sequence[Candidate],
    names: dict[int, str],
    imgsz: int,
    height: int | None = None,
    *,
    free: bool = False,
) -> Path:
    """An Ultralytics-shaped detector: input [1, 3, S, S], output [1, 4 + nc, N] that ignores the input.

    The output is `constant + 0 * ReduceSum(images)`, so onnxruntime really reads the input tensor.
    `free` leaves the input's height and width free, as an export with `dynamic=True` does.
    """
    nc = len(names)
    output = np.zeros((1, 4 + nc, len(candidates)), dtype=np.float32)
    for index, (cx, cy, w, h, cls, score) in enumerate(candidates):
        output[0, :4, index] = (cx, cy, w, h)
        output[0, 4 + cls, index] = score
    input_shape: list[int | str] = ["batch", 3, "height", "width"] if free else [1, 3, height or imgsz, imgsz]
    nodes = [
        helper.make_node("ReduceSum", ["images"], ["total"], keepdims=0),
        helper.make_node("Mul", ["total", "zero"], ["nothing"]),
        helper.make_node("Add", ["boxes", "nothing"], ["output0"]),
    ]
    graph = helper.make_graph(
        nodes,
        "constant_detector",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, input_shape)],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(output.shape))],
        initializer=[
            numpy_helper.from_array(output, "boxes"),
            numpy_helper.from_array(np.zeros((), dtype=np.float32), "zero"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    helper.set_model_props(model, {"names": repr(names), "imgsz": repr([height or imgsz, imgsz])})
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def to_input(box: Box, size: tuple[int, int], imgsz: int) -> tuple[float, float, float, float]:
    """A box in camera pixels -> (cx, cy, w, h) in the letterboxed model input, as the model would say it."""
    width, height = size
    scale = min(imgsz / width, imgsz / height)
    pad_x = (imgsz - round(width * scale)) // 2
    pad_y = (imgsz - round(height * scale)) // 2
    x0, y0, x1, y1 = box
    return (
        (x0 + x1) / 2 * scale + pad_x,
        (y0 + y1) / 2 * scale + pad_y,
        (x1 - x0) * scale,
        (y1 - y0) * scale,
    )


def slot_box(slot: Slot, width_share: float = 1.0) -> Box:
    """The bounding box of a slot's polygon, its left `width_share` only."""
    xs = [x for x, _ in slot.polygon]
    ys = [y for _, y in slot.polygon]
    x0, x1 = min(xs), max(xs)
    return (x0, min(ys), x0 + (x1 - x0) * width_share, max(ys))


def shelf_model(
    path: Path,
    products: Iterable[Box] = (),
    gaps: Iterable[Box] = (),
    size: tuple[int, int] = (1280, 720),
    imgsz: int = 320,
    gap_score: float = 0.8,
) -> Path:
    """A two-class model that always 'sees' these product and gap boxes (camera pixels) in any frame."""
    candidates: list[Candidate] = [(*to_input(box, size, imgsz), 0, 0.9) for box in products]
    candidates += [(*to_input(box, size, imgsz), 1, gap_score) for box in gaps]
    return constant_detector_model(path, candidates, {0: "product", 1: "gap"}, imgsz)
