"""Hand-built ONNX detector models for the vision tests: real onnxruntime input, constant output."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# (cx, cy, w, h, class, score) in model input pixels
Candidate = tuple[float, float, float, float, int, float]
ModelFactory = Callable[[Sequence[Candidate]], Path]


def constant_detector_model(
    path: Path, candidates: Sequence[Candidate], names: dict[int, str], imgsz: int
) -> Path:
    """An Ultralytics-shaped detector: input [1, 3, S, S], output [1, 4 + nc, N] that ignores the input.

    The output is `constant + 0 * ReduceSum(images)`, so onnxruntime really reads the input tensor.
    """
    nc = len(names)
    output = np.zeros((1, 4 + nc, len(candidates)), dtype=np.float32)
    for index, (cx, cy, w, h, cls, score) in enumerate(candidates):
        output[0, :4, index] = (cx, cy, w, h)
        output[0, 4 + cls, index] = score
    nodes = [
        helper.make_node("ReduceSum", ["images"], ["total"], keepdims=0),
        helper.make_node("Mul", ["total", "zero"], ["nothing"]),
        helper.make_node("Add", ["boxes", "nothing"], ["output0"]),
    ]
    graph = helper.make_graph(
        nodes,
        "constant_detector",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, imgsz, imgsz])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(output.shape))],
        initializer=[
            numpy_helper.from_array(output, "boxes"),
            numpy_helper.from_array(np.zeros((), dtype=np.float32), "zero"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    helper.set_model_props(model, {"names": repr(names), "imgsz": repr([imgsz, imgsz])})
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path
