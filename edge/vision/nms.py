"""Non-maximum suppression of detector boxes (OpenCV's, in C++), for the detector and for tiled inference."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.floating]


def nms(boxes: FloatArray, scores: FloatArray, iou_threshold: float) -> list[int]:
    """Greedy non-maximum suppression (OpenCV's, in C++: a shelf has hundreds of boxes); indices kept,
    best score first. A box is dropped when its IoU with a better kept one exceeds `iou_threshold`."""
    if len(boxes) == 0:
        return []
    xywh = np.concatenate([boxes[:, :2], boxes[:, 2:4] - boxes[:, :2]], axis=1)
    # As lists: OpenCV converts them to its Rect2d and float vectors faster than arrays.
    kept = cv2.dnn.NMSBoxes(xywh.tolist(), scores.tolist(), 0.0, iou_threshold)
    return list(np.asarray(kept, dtype=np.int64).reshape(-1).tolist())


def class_nms(
    boxes: FloatArray,
    classes: npt.NDArray[np.integer],
    scores: FloatArray,
    iou_threshold: float,
    offset: float,
) -> list[int]:
    """`nms` within each class: boxes moved by class * `offset` (larger than any coordinate) never overlap
    boxes of another class, so one pass suppresses only within classes."""
    shifted = boxes + (classes.astype(boxes.dtype) * boxes.dtype.type(offset))[:, np.newaxis]
    return nms(shifted, scores, iou_threshold)
