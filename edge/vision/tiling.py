"""Tiled inference of large photos: overlapping detector-sized tiles, boxes mapped back and merged."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from smartstore.edge.vision.detections import Detection
from smartstore.edge.vision.nms import class_nms
from smartstore.edge.vision.settings import TileMode, TilingSettings

Box = tuple[float, float, float, float]
BgrImage = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float64]
# A box side within this many original pixels of a tile's inner edge was cut by it (the letterbox's undo clips
# boxes to the tile, so a cut box ends on the edge itself, give or take rounding of the scale).
EDGE_TOLERANCE_PX = 2.0
# Two boxes of neighbouring tiles are one object cut by a border when, inside the strip both tiles see, their
# parts overlap at least this much (IoU of the parts): the neighbour of a cut product only touches its part.
STRIP_MATCH_IOU = 0.5
# Boxes of different classes are kept apart in one NMS by class * this (photo pixels: far below it).
CLASS_OFFSET = 1 << 20


@dataclass(frozen=True, slots=True)
class Tile:
    """A window of the original image, (x0, y0) inclusive to (x1, y1) exclusive, in its pixels."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    def to_image(self, box: Box) -> Box:
        """A box in this tile's pixels -> the original image's pixels."""
        return (box[0] + self.x0, box[1] + self.y0, box[2] + self.x0, box[3] + self.y0)

    def to_tile(self, box: Box) -> Box:
        """A box in the original image's pixels -> this tile's pixels (not clipped)."""
        return (box[0] - self.x0, box[1] - self.y0, box[2] - self.x0, box[3] - self.y0)

    def crop(self, image: BgrImage) -> BgrImage:
        return image[self.y0 : self.y1, self.x0 : self.x1]


def axis_starts(length: int, tile: int, overlap: float) -> list[int]:
    """Tile starts along one axis of `length` px: tiles of `tile` px, the first at 0, the last ending at
    `length`, evenly spread so that neighbours share at least `overlap` of a tile."""
    if length <= tile:
        return [0]
    step = tile * (1.0 - overlap)
    count = math.ceil((length - tile) / step) + 1
    return [round(index * (length - tile) / (count - 1)) for index in range(count)]


def tile_side(image_size: tuple[int, int], imgsz: int, settings: TilingSettings) -> int:
    """Side in original pixels of the square tiles for a (width, height) image: `tile_scale` x the
    detector's input, larger where the long side would need more than `max_tiles_per_side` tiles."""
    long_side = max(image_size)
    n = settings.max_tiles_per_side
    fewest = math.ceil(long_side / (n - (n - 1) * settings.overlap))
    return max(round(imgsz * settings.tile_scale), fewest)


def tile_grid(image_size: tuple[int, int], side: int, overlap: float) -> list[Tile]:
    """Overlapping tiles covering a (width, height) image, row by row; a side shorter than a tile is one
    tile of that side."""
    width, height = image_size
    tile_w, tile_h = min(side, width), min(side, height)
    return [
        Tile(x, y, x + tile_w, y + tile_h)
        for y in axis_starts(height, tile_h, overlap)
        for x in axis_starts(width, tile_w, overlap)
    ]


def wants_tiles(mode: TileMode, image_size: tuple[int, int], imgsz: int, settings: TilingSettings) -> bool:
    """Whether an image of this (width, height) is tiled: `on` always (if it spans more than one tile),
    `auto` from a long side of `auto_min_scale` x the detector's input."""
    if mode == "off":
        return False
    if len(tile_grid(image_size, tile_side(image_size, imgsz, settings), settings.overlap)) < 2:
        return False
    return mode == "on" or max(image_size) >= settings.auto_min_scale * imgsz


def _inner_edges(tile: Tile, image_size: tuple[int, int]) -> tuple[bool, bool, bool, bool]:
    """Which of the left, top, right, bottom edges of the tile lie inside the image (border another tile)."""
    return tile.x0 > 0, tile.y0 > 0, tile.x1 < image_size[0], tile.y1 < image_size[1]


def touches_inner_edge(box: Box, tile: Tile, image_size: tuple[int, int]) -> bool:
    """Whether a box (image pixels) ends on an edge of its tile that borders another tile."""
    left, top, right, bottom = _inner_edges(tile, image_size)
    return (
        (left and box[0] <= tile.x0 + EDGE_TOLERANCE_PX)
        or (top and box[1] <= tile.y0 + EDGE_TOLERANCE_PX)
        or (right and box[2] >= tile.x1 - EDGE_TOLERANCE_PX)
        or (bottom and box[3] >= tile.y1 - EDGE_TOLERANCE_PX)
    )


def _clipped(box: Box, window: Box) -> Box | None:
    x0, y0 = max(box[0], window[0]), max(box[1], window[1])
    x1, y1 = min(box[2], window[2]), min(box[3], window[3])
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def _iou(a: Box, b: Box) -> float:
    inter = _clipped(a, b)
    if inter is None:
        return 0.0
    area = (inter[2] - inter[0]) * (inter[3] - inter[1])
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - area
    return area / union if union > 0 else 0.0


def same_object_across_border(a: Box, tile_a: Tile, b: Box, tile_b: Tile) -> bool:
    """Whether two boxes of two tiles are parts of one object: their parts inside the strip both tiles see
    overlap by STRIP_MATCH_IOU or more."""
    strip = _clipped(
        (tile_a.x0, tile_a.y0, tile_a.x1, tile_a.y1), (tile_b.x0, tile_b.y0, tile_b.x1, tile_b.y1)
    )
    if strip is None:
        return False
    part_a, part_b = _clipped(a, strip), _clipped(b, strip)
    return part_a is not None and part_b is not None and _iou(part_a, part_b) >= STRIP_MATCH_IOU


def merge_cut_boxes(
    detections: Sequence[Detection], tiles: Sequence[Tile], image_size: tuple[int, int]
) -> list[Detection]:
    """Unites boxes (image pixels, `tiles[i]` the tile of detections[i]) cut by a tile border: a box that
    ends on an inner edge of its tile and a same-class box of another tile that is the same object in the
    strip both tiles see become one box, their union, with the better score. Chains (a shelf-long gap cut
    by three tiles) become one box too. Boxes that are not cut are returned as they are."""
    parent = list(range(len(detections)))

    def root(index: int) -> int:
        while parent[index] != index:
            parent[index] = parent[parent[index]]
            index = parent[index]
        return index

    boxes = np.array([d.box for d in detections], dtype=np.float64).reshape(-1, 4)
    classes = np.array([d.cls for d in detections], dtype=np.int64)
    for i, (detection, tile) in enumerate(zip(detections, tiles, strict=True)):
        if not touches_inner_edge(detection.box, tile, image_size):
            continue
        box = boxes[i]
        # Only same-class boxes that overlap this one can be its other part: a vector test first.
        near = (
            (classes == detection.cls)
            & (boxes[:, 0] < box[2])
            & (boxes[:, 2] > box[0])
            & (boxes[:, 1] < box[3])
            & (boxes[:, 3] > box[1])
        )
        for j in np.flatnonzero(near).tolist():
            other = detections[j]
            if tiles[j] == tile or root(i) == root(j):
                continue
            if same_object_across_border(detection.box, tile, other.box, tiles[j]):
                parent[root(j)] = root(i)
    groups: dict[int, list[Detection]] = {}
    for index, detection in enumerate(detections):
        groups.setdefault(root(index), []).append(detection)
    merged = []
    for members in groups.values():
        best = max(members, key=lambda d: d.score)
        corners = np.array([d.box for d in members], dtype=np.float64)
        union = (*corners[:, :2].min(axis=0).tolist(), *corners[:, 2:].max(axis=0).tolist())
        merged.append(Detection(cls=best.cls, name=best.name, score=best.score, box=union))
    return merged


def classwise_nms(detections: Sequence[Detection], iou_threshold: float, limit: int) -> list[Detection]:
    """Greedy NMS per class (OpenCV's), best score first, at most `limit` boxes."""
    if not detections:
        return []
    boxes = np.array([d.box for d in detections], dtype=np.float64)
    classes = np.array([d.cls for d in detections], dtype=np.int64)
    scores = np.array([d.score for d in detections], dtype=np.float64)
    return [
        detections[index] for index in class_nms(boxes, classes, scores, iou_threshold, CLASS_OFFSET)[:limit]
    ]


def detect_tiled(
    image: BgrImage,
    detect_once: Callable[[BgrImage], list[Detection]],
    imgsz: int,
    settings: TilingSettings,
    iou_threshold: float,
    limit: int,
) -> list[Detection]:
    """`detect_once` on every tile (and on the whole image if `settings.whole_image`), boxes mapped back
    to the image's pixels, boxes cut by tile borders united, then class-wise NMS over all of them."""
    height, width = image.shape[:2]
    size = (width, height)
    tiles = tile_grid(size, tile_side(size, imgsz, settings), settings.overlap)
    found: list[Detection] = []
    owners: list[Tile] = []
    for tile in tiles:
        # A view, not a copy: the letterbox resizes it into its own buffer anyway.
        for d in detect_once(tile.crop(image)):
            found.append(Detection(cls=d.cls, name=d.name, score=d.score, box=tile.to_image(d.box)))
            owners.append(tile)
    merged = merge_cut_boxes(found, owners, size)
    if settings.whole_image:
        merged.extend(detect_once(image))
    return classwise_nms(merged, iou_threshold, limit)
