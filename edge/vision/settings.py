"""Settings of the shelf-vision pipeline (`EdgeSettings.vision`, env SMARTSTORE_EDGE_VISION__*)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from smartstore.edge.vision.slots import SlotFillSettings

SHIPPED_MODEL_NAME = "shelf-detector.onnx"

# off: the whole frame in one inference; on: overlapping tiles (+ the whole frame); auto: tiles when large.
TileMode = Literal["off", "on", "auto"]


class TilingSettings(BaseModel):
    """Tiled inference (edge/vision/tiling.py): a large photo seen as overlapping detector-sized tiles, so
    that small gaps are not squeezed away when 3,000-4,000 px go into a ~416 px input."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Off by default for live cameras: a 720p frame loses little in the 416 px input, and tiling costs
    # one inference per tile. `smartstore vision detect` defaults to auto (photos).
    mode: TileMode = Field("off", title="Tiles", description="off, on, or auto (tiles for large images).")
    tile_scale: float = Field(
        2.0,
        ge=1.0,
        le=8.0,
        title="Tile scale",
        description="Tile side in original pixels, as a multiple of the detector's input size.",
    )
    max_tiles_per_side: int = Field(
        4, ge=2, le=16, title="Max tiles per side", description="Tiles grow beyond the scale past this."
    )
    overlap: float = Field(
        0.2, ge=0.0, le=0.5, title="Overlap", description="Share of a tile its neighbour sees."
    )
    # 2x: below it one tile of tile_scale x the input already holds the image (nothing to tile), and above
    # it a tile costs a whole inference: 1920x1080 is 6 tiles + the whole image, 8x the latency of one pass
    # (measured 2026-12-07, 53 against 432 ms), where the model sees 1080p at 0.3x, enough for a shelf camera.
    auto_min_scale: float = Field(
        2.0,
        ge=1.0,
        title="Auto threshold",
        description="auto tiles images whose long side is at least this many times the detector's input.",
    )
    whole_image: bool = Field(
        True,
        title="Whole image too",
        description="Also run on the whole image scaled down: finds objects larger than a tile.",
    )


class DetectorSettings(BaseModel):
    """How the edge runs the shelf detector."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    score_threshold: float = Field(0.25, gt=0, lt=1, title="Score threshold", description="Drop below this.")
    # A detector trained on shelves sees few gaps and scores them lower than products: on synthetic shelves
    # {"gap": 0.1} finds more empty slots, but on real photos it also boxes ~20 stocked stretches per
    # photo, so by default gaps need the same score as products.
    class_score_thresholds: dict[str, Annotated[float, Field(gt=0, lt=1)]] = Field(
        default_factory=dict,
        title="Per-class score thresholds",
        description="Class name -> threshold, instead of the score threshold for that class.",
    )
    iou_threshold: float = Field(
        0.5, gt=0, le=1, title="NMS IoU", description="Same-class boxes overlapping more are duplicates."
    )
    max_detections: int = Field(1000, ge=1, title="Max detections", description="Kept per frame, best first.")
    intra_op_threads: int = Field(
        2, ge=1, le=64, title="Intra-op threads", description="onnxruntime threads for one inference."
    )
    tiling: TilingSettings = Field(
        default_factory=TilingSettings, title="Tiling", description="Tiled inference of large frames."
    )

    def threshold(self, class_name: str) -> float:
        """The score from which boxes of this class are kept."""
        return self.class_score_thresholds.get(class_name, self.score_threshold)


class MotionSettings(BaseModel):
    """When a camera's scene counts as moving, and how long it must be still before the detector runs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    frame_width: int = Field(
        160, ge=32, le=1280, title="Motion width", description="Frames are shrunk to this width first."
    )
    pixel_threshold: int = Field(
        25, ge=1, le=255, title="Pixel threshold", description="Grey change that counts as motion."
    )
    min_area: float = Field(
        0.002, gt=0, lt=1, title="Min area", description="Share of the frame moving to call it motion."
    )
    slot_min_area: float = Field(
        0.05, gt=0, le=1, title="Slot min area", description="Share of a slot moving to call it covered."
    )
    settle_s: float = Field(
        3.0, ge=0, title="Settle time", description="Stillness needed after motion before inferring."
    )
    recheck_s: float = Field(
        600.0, gt=0, title="Re-check", description="A still scene is inferred again after this long."
    )
    max_wait_s: float = Field(
        120.0,
        gt=0,
        title="Max wait",
        description="Motion that never settles still gets an inference after this; moving slots are stale.",
    )
    stale_window_s: float = Field(
        2.0, ge=0, title="Stale window", description="Slots moving this long before an inference are stale."
    )


def shipped_model_path() -> Path:
    """The detector packaged with smartstore (`models/shelf-detector.onnx`, package data of `models`)."""
    # Package data only: the edge never imports the models component's code (training, torch).
    return Path(str(files("smartstore.models") / SHIPPED_MODEL_NAME))


class VisionSettings(BaseModel):
    """Shelf cameras (edge/vision): the ONNX detector, gated on motion, judging planogram slots."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="Run the shelf vision processor at all.")
    model_path: Path = Field(
        default_factory=shipped_model_path,
        description="ONNX detector (classes product, gap); if missing, vision logs an error and stays off.",
    )
    detector: DetectorSettings = Field(
        default_factory=DetectorSettings, description="Score / NMS thresholds, onnxruntime intra-op threads."
    )
    motion: MotionSettings = Field(
        default_factory=MotionSettings, description="Motion gate: stable time, re-check interval, max wait."
    )
    slots: SlotFillSettings = Field(
        default_factory=SlotFillSettings, description="Slot fill: k confirmations, min coverage, classes."
    )
    camera_tiles: dict[str, TileMode] = Field(
        default_factory=dict,
        description="Camera id -> tiling mode, instead of detector.tiling.mode for that camera (a still "
        "high-resolution camera: on or auto).",
    )
    confirm_interval_s: float = Field(
        3.0, ge=0, description="A slot change seen once is looked at again this soon (still scene only)."
    )
    snapshot_interval_s: float = Field(60.0, gt=0, description="Full slot snapshot ShelfSignal per camera.")
    stale_after_intervals: float = Field(
        3.0, gt=0, description="A camera silent this many frame intervals has its slots stale in snapshots."
    )
    annotated_snapshots: bool = Field(
        True, description="Save and publish (retained) an annotated JPEG after each inference."
    )
    snapshot_quality: int = Field(80, ge=20, le=100, description="JPEG quality of annotated snapshots.")
    capture_reconnect_s: float = Field(
        5.0,
        gt=0,
        description="A VideoCapture source (file, RTSP, USB) is reopened this long after a failure.",
    )
    max_frame_scale: float = Field(
        4.0,
        ge=1.0,
        le=64.0,
        description="A JPEG whose header claims more than this many times the camera's configured pixels "
        "(4: twice its width and height) is refused before decoding (dead letter `frame_too_large`).",
    )

    def tiles(self, camera_id: str) -> TileMode:
        """The tiling mode of one camera."""
        return self.camera_tiles.get(camera_id, self.detector.tiling.mode)
