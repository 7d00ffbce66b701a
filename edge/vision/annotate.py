"""Drawing for people: detections and planogram slots (coloured by state) over a frame, as JPEG."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import cv2
import numpy as np
import numpy.typing as npt

from smartstore.edge.vision.detections import Detection
from smartstore.kernel.contract.payloads import ShelfState, SlotObservation
from smartstore.kernel.storeconfig import Slot

BgrImage = npt.NDArray[np.uint8]
Bgr = tuple[int, int, int]

PRODUCT_BGR: Bgr = (60, 200, 60)
GAP_BGR: Bgr = (40, 40, 230)
OTHER_BGR: Bgr = (220, 160, 40)
STATE_BGR: dict[ShelfState, Bgr] = {
    ShelfState.OK: (60, 200, 60),
    ShelfState.LOW: (0, 190, 255),
    ShelfState.EMPTY: (40, 40, 230),
    ShelfState.UNKNOWN: (150, 150, 150),
}
FONT = cv2.FONT_HERSHEY_SIMPLEX
HATCH_STEP = 14


def _scale(frame: BgrImage, reference: tuple[int, int]) -> tuple[float, float]:
    return frame.shape[1] / reference[0], frame.shape[0] / reference[1]


def _text_size(image: BgrImage) -> float:
    return max(float(image.shape[1]) / 1800, 0.3)


def _label(image: BgrImage, text: str, origin: tuple[int, int], colour: Bgr, size: float) -> None:
    """Text on a filled box so it stays readable on busy packaging."""
    (width, height), base = cv2.getTextSize(text, FONT, size, 1)
    x = min(max(origin[0], 0), max(image.shape[1] - width - 2, 0))
    y = min(max(origin[1], height + 2), image.shape[0] - base)
    cv2.rectangle(image, (x, y - height - 2), (x + width + 2, y + base), colour, -1)
    ink = (0, 0, 0) if sum(colour) > 380 else (255, 255, 255)
    cv2.putText(image, text, (x + 1, y - 1), FONT, size, ink, 1, cv2.LINE_AA)


def _fitting(texts: Sequence[str], room: int, size: float) -> str | None:
    """The first (longest) text that fits `room` pixels; None when not even the shortest does."""
    return next((text for text in texts if cv2.getTextSize(text, FONT, size, 1)[0][0] + 4 <= room), None)


def draw_detections(image: BgrImage, detections: Iterable[Detection], product: str = "product") -> None:
    """Boxes (products green and thin, gaps red and thick) with their score; the colour says the class."""
    size = _text_size(image) * 0.85
    thickness = max(1, image.shape[1] // 900)  # still visible on a 4000 px photo
    for detection in detections:
        is_product = detection.name == product
        colour = PRODUCT_BGR if is_product else GAP_BGR if detection.name == "gap" else OTHER_BGR
        x0, y0, x1, y1 = (round(value) for value in detection.box)
        cv2.rectangle(image, (x0, y0), (x1, y1), colour, thickness * (1 if is_product else 2))
        text = _fitting([f"{detection.name} {detection.score:.2f}", f"{detection.score:.2f}"], x1 - x0, size)
        if text is not None:
            _label(image, text, (x0, y1 - 1), colour, size)


def _hatch(image: BgrImage, points: npt.NDArray[np.int32], colour: Bgr) -> None:
    """Diagonal lines clipped to the polygon: a stale slot is drawn crossed out, its state kept."""
    mask = np.zeros(image.shape[:2], dtype=np.uint8)
    cv2.fillPoly(mask, [points], 255)
    x0, y0 = points.min(axis=0)
    x1, y1 = points.max(axis=0)
    lines = np.zeros_like(mask)
    step = max(HATCH_STEP * image.shape[1] // 1280, 6)
    for offset in range(int(x0 - (y1 - y0)), int(x1) + 1, step):
        cv2.line(lines, (offset, int(y1)), (offset + int(y1 - y0), int(y0)), 255, 1)
    image[(lines > 0) & (mask > 0)] = colour


def _slot_points(slot: Slot, scale: tuple[float, float]) -> npt.NDArray[np.int32]:
    return np.round(np.array([[x * scale[0], y * scale[1]] for x, y in slot.polygon])).astype(np.int32)


def draw_slots(
    image: BgrImage,
    slots: Sequence[Slot],
    reference: tuple[int, int],
    observations: Mapping[str, SlotObservation] | None = None,
    *,
    show_gtin: bool = False,
    labels: bool = True,
) -> None:
    """Slot polygons (drawn in `reference` = the camera's configured size) scaled onto `image`.

    With `observations` each slot is coloured by its state (stale ones hatched); without, all are drawn
    alike with their id (and GTIN, facings) for calibration.
    """
    scale = _scale(image, reference)
    for slot in slots:
        observation = (observations or {}).get(slot.id)
        colour = OTHER_BGR if observations is None else STATE_BGR[_state(observation)]
        points = _slot_points(slot, scale)
        if observation is not None and observation.stale:
            _hatch(image, points, colour)
        cv2.polylines(image, [points], isClosed=True, color=colour, thickness=2)
    if labels:
        draw_slot_labels(image, slots, reference, observations, show_gtin=show_gtin)


def _state(observation: SlotObservation | None) -> ShelfState:
    return observation.state if observation is not None else ShelfState.UNKNOWN


def draw_slot_labels(
    image: BgrImage,
    slots: Sequence[Slot],
    reference: tuple[int, int],
    observations: Mapping[str, SlotObservation] | None = None,
    *,
    show_gtin: bool = False,
) -> None:
    scale = _scale(image, reference)
    size = _text_size(image)
    for slot in slots:
        points = _slot_points(slot, scale)
        left, top = int(points[:, 0].min()), int(points[:, 1].min())
        room = int(points[:, 0].max()) - left
        observation = (observations or {}).get(slot.id)
        if observations is None:
            texts = [slot.id]
            colour = OTHER_BGR
        else:
            state = _state(observation)
            fill = f" {observation.fill:.2f}" if observation is not None else ""
            stale = " stale" if observation is not None and observation.stale else ""
            texts = [f"{slot.id} {state.value}{fill}{stale}", f"{state.value}{fill}{stale}", state.value]
            colour = STATE_BGR[state]
        text = _fitting(texts, room, size)
        line = cv2.getTextSize("Ag", FONT, size, 1)[0][1] + 6
        if text is not None:
            _label(image, text, (left + 2, top + line), colour, size)
        if show_gtin:
            detail = _fitting([f"{slot.gtin} x{slot.facings}", slot.gtin], room, size)
            if detail is not None:
                _label(image, detail, (left + 2, top + 2 * line), colour, size)


def annotated_jpeg(
    frame: BgrImage,
    detections: Sequence[Detection],
    slots: Sequence[Slot],
    reference: tuple[int, int],
    observations: Mapping[str, SlotObservation],
    quality: int = 80,
) -> bytes:
    """Slots by state, then the detections, then the slot labels on top; encoded as JPEG."""
    image = frame.copy()
    draw_slots(image, slots, reference, observations, labels=False)
    draw_detections(image, detections)
    draw_slot_labels(image, slots, reference, observations)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding of the annotated snapshot failed")
    return bytes(encoded.tobytes())
