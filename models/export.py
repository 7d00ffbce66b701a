"""Export trained shelf-detector weights to the ONNX file the edge loads; check it as the edge will."""

from __future__ import annotations

import importlib.util
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from smartstore.edge.vision.detector import ModelShape, parse_names
from smartstore.models.offline import import_ultralytics, refuse_network

logger = logging.getLogger(__name__)

# Fixed so a re-export gives the same graph; 17 runs on every onnxruntime the edge may have (>= 1.14).
ONNX_OPSET = 17


@dataclass(frozen=True, slots=True)
class ExportedModel:
    path: Path
    imgsz: int
    free_input: bool  # exported dynamic: the edge fits the input to each camera's aspect
    names: dict[int, str]
    output_shape: tuple[int, ...]
    size_bytes: int


def export_onnx(
    weights: Path, imgsz: int, out: Path | None = None, *, free_input: bool = True
) -> ExportedModel:
    """Ultralytics .pt -> ONNX [1, 3, S, S] -> [1, 4 + nc, N], `names` in its metadata; copied to `out`.

    `free_input` (Ultralytics' `dynamic`) leaves the input's height and width free: the edge fits the
    input to each camera's aspect on about S x S pixels (`edge.vision.detector.fitted_input_size`),
    where a square input spends 44 % of a 16:9 frame's compute on padding.
    """
    ultralytics = import_ultralytics()

    # onnxslim only when already installed: Ultralytics would otherwise try to pip-install it.
    simplify = importlib.util.find_spec("onnxslim") is not None
    with refuse_network() as attempts:
        exported = Path(
            ultralytics.YOLO(str(weights)).export(
                format="onnx",
                imgsz=imgsz,
                opset=ONNX_OPSET,
                simplify=simplify,
                dynamic=free_input,
                nms=False,
                device="cpu",
            )
        )
    if attempts:
        logger.warning("export tried the network %s times: %s", len(attempts), attempts)
    if out is not None and out.resolve() != exported.resolve():
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(exported, out)
        exported = out
    checked = inspect_onnx(exported)
    logger.info(
        "exported %s: input %s%s, output %s, classes %s, %.1f MB",
        exported,
        checked.imgsz,
        " (free shape)" if checked.free_input else "",
        checked.output_shape,
        checked.names,
        checked.size_bytes / 1e6,
    )
    return checked


def inspect_onnx(path: Path) -> ExportedModel:
    """Read back what the edge relies on: its input shape, the detect layout and the class names."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    shape = ModelShape.of(session)
    # One inference on a square frame's input: a free-shape export declares no output size.
    width, height = shape.input_size_for((shape.imgsz, shape.imgsz))
    blank = np.zeros((1, 3, height, width), dtype=np.float32)
    output_shape = tuple(session.run(None, {session.get_inputs()[0].name: blank})[0].shape)
    names = parse_names(session.get_modelmeta().custom_metadata_map.get("names"))
    if not names:
        raise ValueError(f"{path} has no class names in its ONNX metadata")
    if len(output_shape) != 3 or output_shape[1] != 4 + len(names):
        raise ValueError(f"{path} output {output_shape} is not [1, 4 + {len(names)}, N]")
    return ExportedModel(path, shape.imgsz, shape.fixed is None, names, output_shape, path.stat().st_size)
