"""One synthetic shelf photo end to end: scene, planar render, camera warp, degradation, JPEG and labels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from smartstore.models.synth import PRODUCT_CLASS
from smartstore.models.synth.aisle import aisle_view
from smartstore.models.synth.camera import BoxF, CameraModel, random_camera, warp_boxes, warp_image
from smartstore.models.synth.degrade import Degradation, degrade, encode_jpeg, random_degradation
from smartstore.models.synth.framing import WIDE_FRAME_SHARE, WIDE_STREAM, wide_view
from smartstore.models.synth.realism import add_finish
from smartstore.models.synth.render import render_planar
from smartstore.models.synth.scene import TRAIN_FAMILIES, Scene, generate_scene

# width / height of the frames: phone portraits, landscape shelf cameras, square crops
ASPECTS: tuple[float, ...] = (0.75, 0.75, 1.0, 4 / 3, 4 / 3, 16 / 9)
# A stream of its own for the drawing scale, so sets drawn without supersampling keep their exact bytes.
SUPERSAMPLE_STREAM = 0x5CA1E
# And one for the choice of an oblique aisle view, for the same reason.
OBLIQUE_STREAM = 0xA151E


@dataclass(frozen=True, slots=True)
class Label:
    cls: int
    box: BoxF  # x0, y0, x1, y1 in output pixels

    def yolo_line(self, width: int, height: int) -> str:
        x0, y0, x1, y1 = self.box
        cx, cy = (x0 + x1) / 2 / width, (y0 + y1) / 2 / height
        return f"{self.cls} {cx:.6f} {cy:.6f} {(x1 - x0) / width:.6f} {(y1 - y0) / height:.6f}"


@dataclass(frozen=True, slots=True)
class SyntheticImage:
    image: np.ndarray  # the degraded frame before JPEG encoding
    jpeg: bytes
    labels: tuple[Label, ...]
    panel_family: str

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    def yolo_text(self) -> str:
        return "".join(label.yolo_line(self.width, self.height) + "\n" for label in self.labels)


def frame_size(rng: np.random.Generator, imgsz: int) -> tuple[int, int]:
    aspect = float(ASPECTS[int(rng.integers(len(ASPECTS)))])
    if aspect >= 1:
        return imgsz, max(32, round(imgsz / aspect))
    return max(32, round(imgsz * aspect)), imgsz


def drawing_size(seed: int, imgsz: int, supersample: float) -> int:
    """The long side `seed`'s frame is drawn at: `imgsz`, or up to `supersample` times it.

    Real frames reach the model scaled down from 1080p or more, and a model trained only on frames drawn at
    its input size loses on scaled ones (model card); the loader scales a larger frame down as the edge does.
    """
    if supersample <= 1.0:
        return imgsz
    scale = float(np.random.default_rng([seed, SUPERSAMPLE_STREAM]).uniform(1.0, supersample))
    return round(imgsz * scale)


def render_view(
    scene: Scene, camera: CameraModel, degradation: Degradation, backdrop: np.ndarray | None = None
) -> SyntheticImage:
    """Render a given scene through a given camera and degradation (tests build these by hand).

    `backdrop` is what the frame shows around the shelf, where the camera sees past it (aisle views).
    """
    planar = render_planar(scene)
    image = degrade(warp_image(planar.image, camera, backdrop), degradation)
    boxes = warp_boxes([label.box for label in planar.labels], camera)
    labels = tuple(
        Label(planar_label.cls, box)
        for planar_label, box in zip(planar.labels, boxes, strict=True)
        if box is not None
    )
    return SyntheticImage(image, encode_jpeg(image, degradation.jpeg_quality), labels, scene.panel.family)


def synthesize_scene(
    seed: int,
    imgsz: int = 640,
    families: Sequence[str] = TRAIN_FAMILIES,
    supersample: float = 1.0,
    oblique: float = 0.0,
) -> tuple[SyntheticImage, Scene, CameraModel]:
    """The image for `seed` with the scene and camera behind it (slot-level evaluation needs both).

    `oblique` is the chance that the frame looks along the aisle (`models/synth/aisle.py`) instead of
    across it; frames that stay frontal are the same bytes whatever its value.
    """
    rng = np.random.default_rng(seed)
    out_w, out_h = frame_size(rng, drawing_size(seed, imgsz, supersample))
    oblique_rng = np.random.default_rng([seed, OBLIQUE_STREAM])
    if oblique > 0 and oblique_rng.uniform() < oblique:
        view = aisle_view(oblique_rng, out_w, out_h)
        camera = view.camera
        scene = generate_scene(rng, camera.planar_width, camera.planar_height, families, bays=view.bays)
        scene = add_finish(scene)
        return render_view(scene, camera, random_degradation(rng), view.backdrop), scene, camera
    wide_rng = np.random.default_rng([seed, WIDE_STREAM])
    backdrop = None
    if wide_rng.uniform() < WIDE_FRAME_SHARE:
        camera, backdrop = wide_view(wide_rng, out_w, out_h)
    else:
        camera = random_camera(rng, out_w, out_h, strength=float(rng.uniform(0.4, 1.8)))
    scene = add_finish(generate_scene(rng, camera.planar_width, camera.planar_height, families))
    return render_view(scene, camera, random_degradation(rng), backdrop), scene, camera


def synthesize(
    seed: int,
    imgsz: int = 640,
    families: Sequence[str] = TRAIN_FAMILIES,
    supersample: float = 1.0,
    oblique: float = 0.0,
) -> SyntheticImage:
    """The image for `seed`: the same arguments always give byte-identical JPEG and labels."""
    return synthesize_scene(seed, imgsz, families, supersample, oblique)[0]


def annotated(image: SyntheticImage) -> np.ndarray:
    """A copy of the frame with its labels drawn: products green, gaps red (for previews and model cards)."""
    canvas = image.image.copy()
    for label in image.labels:
        x0, y0, x1, y1 = (round(v) for v in label.box)
        colour = (60, 220, 60) if label.cls == PRODUCT_CLASS else (40, 40, 240)
        cv2.rectangle(canvas, (x0, y0), (x1 - 1, y1 - 1), colour, 1)
    return canvas
