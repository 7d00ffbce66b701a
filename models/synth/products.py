"""Product drawing: boxes, bottles, cans, bags and jars with printed-label-like faces, in OpenCV."""

from __future__ import annotations

import random

import cv2
import numpy as np

from smartstore.models.synth.scene import Bgr, ProductLook, Rect


def _scale(colour: Bgr, factor: float) -> Bgr:
    return (
        int(min(255, colour[0] * factor)),
        int(min(255, colour[1] * factor)),
        int(min(255, colour[2] * factor)),
    )


def _text_lines(canvas: np.ndarray, rect: Rect, ink: Bgr, rnd: random.Random, rows: int) -> None:
    """Rows of short dark dashes that read as small print from a distance."""
    x0, y0, x1, y1 = rect
    width, height = x1 - x0, y1 - y0
    if width < 6 or height < 4:
        return
    row_h = max(1, height // (rows * 2))
    for row in range(rows):
        y = y0 + int((row + 0.5) * height / rows) - row_h // 2
        x = x0 + 1
        while x < x1 - 2:
            word = rnd.randint(2, max(3, width // 4))
            cv2.rectangle(canvas, (x, y), (min(x1 - 2, x + word), y + row_h - 1), ink, -1)
            x += word + rnd.randint(1, 3)


def _picture(canvas: np.ndarray, rect: Rect, rnd: random.Random) -> None:
    """A product photo on the pack: a smooth patch of several colours, like food or a cleaning scene."""
    x0, y0, x1, y1 = rect
    width, height = x1 - x0, y1 - y0
    pw, ph = int(width * rnd.uniform(0.5, 0.85)), int(height * rnd.uniform(0.3, 0.6))
    if pw < 4 or ph < 4:
        return
    px0 = x0 + rnd.randint(0, width - pw)
    py0 = y0 + int((height - ph) * rnd.uniform(0.3, 0.9))
    grid = (rnd.randint(2, 4), rnd.randint(2, 4), 3)
    cells = np.random.default_rng(rnd.getrandbits(32)).integers(0, 256, grid).astype(np.uint8)
    patch = cv2.resize(cells, (pw, ph), interpolation=cv2.INTER_CUBIC)
    canvas[py0 : py0 + ph, px0 : px0 + pw] = patch


def _printed_face(canvas: np.ndarray, rect: Rect, look: ProductLook, rnd: random.Random) -> None:
    """A label layout on a face: colour band, logo, big title stripe and small print."""
    x0, y0, x1, y1 = rect
    width, height = x1 - x0, y1 - y0
    if width < 4 or height < 4:
        return
    if look.picture:
        _picture(canvas, rect, rnd)
    if look.layout == 0:  # horizontal band with a logo
        band_y0 = y0 + int(height * rnd.uniform(0.15, 0.45))
        band_y1 = band_y0 + int(height * rnd.uniform(0.15, 0.35))
        cv2.rectangle(canvas, (x0, band_y0), (x1 - 1, band_y1), look.band, -1)
        radius = max(2, min(width, band_y1 - band_y0) // 3)
        cv2.circle(canvas, ((x0 + x1) // 2, (band_y0 + band_y1) // 2), radius, look.logo, -1, cv2.LINE_AA)
        _text_lines(canvas, (x0 + 1, band_y1 + 2, x1 - 1, y1 - 2), look.ink, rnd, rnd.randint(1, 3))
    elif look.layout == 1:  # diagonal split, title stripe
        split = int(height * rnd.uniform(0.4, 0.75))
        pts = np.array([[x0, y0 + split], [x1 - 1, y0 + split - height // 4], [x1 - 1, y1 - 1], [x0, y1 - 1]])
        cv2.fillConvexPoly(canvas, pts.astype(np.int32), look.band)
        title_y = y0 + int(height * rnd.uniform(0.1, 0.3))
        cv2.rectangle(
            canvas,
            (x0 + width // 8, title_y),
            (x1 - width // 8, title_y + max(1, height // 12)),
            look.ink,
            -1,
        )
    elif look.layout == 2:  # framed window with a picture blob
        mx, my = max(1, width // 6), max(1, height // 5)
        cv2.rectangle(canvas, (x0 + mx, y0 + my), (x1 - mx, y1 - my), look.band, -1)
        axes = (max(1, width // 4), max(1, height // 6))
        cv2.ellipse(canvas, ((x0 + x1) // 2, (y0 + y1) // 2), axes, 0, 0, 360, look.logo, -1, cv2.LINE_AA)
        _text_lines(canvas, (x0 + mx, y0 + 1, x1 - mx, y0 + my), look.ink, rnd, 1)
    else:  # vertical colour blocks and print
        stripes = rnd.randint(2, 4)
        for index in range(stripes):
            sx0 = x0 + index * width // stripes
            colour = look.band if index % 2 == 0 else look.logo
            cv2.rectangle(canvas, (sx0, y0 + height // 3), (sx0 + width // (stripes * 2), y1 - 1), colour, -1)
        _text_lines(canvas, (x0 + 1, y0 + 2, x1 - 1, y0 + height // 3), look.ink, rnd, 2)


def _shade_edges(canvas: np.ndarray, rect: Rect, colour: Bgr, rnd: random.Random) -> None:
    """A darker side face and a lit top so flat rectangles read as solid boxes."""
    x0, y0, x1, y1 = rect
    side = max(1, (x1 - x0) // rnd.randint(6, 12))
    cv2.rectangle(canvas, (x1 - side, y0), (x1 - 1, y1 - 1), _scale(colour, 0.6), -1)
    cv2.line(canvas, (x0, y0), (x1 - 1, y0), _scale(colour, 1.3), 1)


_LETTERS = "ABCDEFGHIKLMNOPRSTUVWXYZ"


def _brand_name(canvas: np.ndarray, rect: Rect, ink: Bgr, rnd: random.Random) -> None:
    """A short printed word fitted to the face width: real packs carry big brand lettering."""
    x0, y0, x1, y1 = rect
    width = x1 - x0
    if width < 24 or y1 - y0 < 20:
        return
    word = "".join(rnd.choice(_LETTERS) for _ in range(rnd.randint(3, 7)))
    font = cv2.FONT_HERSHEY_SIMPLEX if rnd.random() < 0.6 else cv2.FONT_HERSHEY_DUPLEX
    (text_w, text_h), _ = cv2.getTextSize(word, font, 1.0, 2)
    scale = min(0.9 * width / text_w, 0.25 * (y1 - y0) / text_h)
    thickness = max(1, int(scale * 2))
    y = y0 + int((y1 - y0) * rnd.uniform(0.2, 0.35)) + int(text_h * scale)
    cv2.putText(canvas, word, (x0 + int(width * 0.05), y), font, scale, ink, thickness, cv2.LINE_AA)


def _box(canvas: np.ndarray, rect: Rect, look: ProductLook, rnd: random.Random) -> None:
    x0, y0, x1, y1 = rect
    cv2.rectangle(canvas, (x0, y0), (x1 - 1, y1 - 1), look.body, -1)
    top = max(1, (y1 - y0) // rnd.randint(10, 25))
    _printed_face(canvas, (x0, y0 + top, x1, y1), look, rnd)
    if rnd.random() < 0.6:
        _brand_name(canvas, (x0, y0 + top, x1, y1), look.ink, rnd)
    cv2.rectangle(canvas, (x0, y0), (x1 - 1, y0 + top - 1), _scale(look.body, 1.25), -1)
    _shade_edges(canvas, rect, look.body, rnd)


def _bottle(canvas: np.ndarray, rect: Rect, look: ProductLook, rnd: random.Random) -> None:
    x0, y0, x1, y1 = rect
    width, height = x1 - x0, y1 - y0
    neck_w = max(2, int(width * rnd.uniform(0.3, 0.5)))
    cap_h = max(2, int(height * rnd.uniform(0.05, 0.1)))
    shoulder = y0 + int(height * rnd.uniform(0.25, 0.4))
    cx = (x0 + x1) // 2
    cv2.rectangle(canvas, (cx - neck_w // 2, y0), (cx + neck_w // 2, y0 + cap_h), look.logo, -1)
    cv2.rectangle(canvas, (cx - neck_w // 2, y0 + cap_h), (cx + neck_w // 2, shoulder), look.body, -1)
    cv2.ellipse(
        canvas, (cx, shoulder), (width // 2, max(1, height // 10)), 0, 180, 360, look.body, -1, cv2.LINE_AA
    )
    cv2.rectangle(canvas, (x0, shoulder), (x1 - 1, y1 - 1), look.body, -1)
    _printed_face(canvas, (x0, shoulder + (y1 - shoulder) // 5, x1, y1 - (y1 - shoulder) // 6), look, rnd)
    highlight = x0 + max(1, width // 5)
    cv2.line(
        canvas, (highlight, shoulder + 2), (highlight, y1 - 3), _scale(look.body, 1.6), max(1, width // 10)
    )


def _can(canvas: np.ndarray, rect: Rect, look: ProductLook, rnd: random.Random) -> None:
    x0, y0, x1, y1 = rect
    width, height = x1 - x0, y1 - y0
    rim = max(1, height // 14)
    metal = (190, 192, 196)
    cv2.rectangle(canvas, (x0, y0), (x1 - 1, y1 - 1), look.body, -1)
    cv2.rectangle(canvas, (x0, y0), (x1 - 1, y0 + rim), metal, -1)
    cv2.rectangle(canvas, (x0, y1 - rim - 1), (x1 - 1, y1 - 1), metal, -1)
    _printed_face(canvas, (x0, y0 + rim + 1, x1, y1 - rim - 1), look, rnd)
    for frac, factor in ((0.2, 1.5), (0.85, 0.55)):
        x = x0 + int(width * frac)
        cv2.line(canvas, (x, y0 + rim), (x, y1 - rim), _scale(look.body, factor), max(1, width // 9))


def _bag(canvas: np.ndarray, rect: Rect, look: ProductLook, rnd: random.Random) -> None:
    x0, y0, x1, y1 = rect
    width, height = x1 - x0, y1 - y0
    crimp = max(2, height // 12)
    pts = np.array(
        [
            [x0 + width // 10, y0],
            [x1 - 1 - width // 10, y0],
            [x1 - 1, y0 + height // 3],
            [x1 - 1 - width // 14, y1 - 1],
            [x0 + width // 14, y1 - 1],
            [x0, y0 + height // 3],
        ],
        dtype=np.int32,
    )
    cv2.fillPoly(canvas, [pts], look.body, cv2.LINE_AA)
    teeth = max(2, width // 5)
    for index in range(teeth):
        tx = x0 + width // 10 + index * (width * 8 // 10) // teeth
        cv2.line(canvas, (tx, y0), (tx, y0 + crimp), _scale(look.body, 0.6), 1)
    _printed_face(canvas, (x0 + width // 8, y0 + crimp + 2, x1 - width // 8, y1 - height // 8), look, rnd)
    cv2.line(canvas, (x0 + width // 5, y0 + crimp), (x0 + width // 8, y1 - 3), _scale(look.body, 1.4), 1)


def _jar(canvas: np.ndarray, rect: Rect, look: ProductLook, rnd: random.Random) -> None:
    x0, y0, x1, y1 = rect
    width, height = x1 - x0, y1 - y0
    lid = max(2, int(height * rnd.uniform(0.12, 0.22)))
    inset = max(1, width // 12)
    cv2.rectangle(canvas, (x0 + inset, y0), (x1 - 1 - inset, y0 + lid), look.logo, -1)
    cv2.rectangle(canvas, (x0, y0 + lid), (x1 - 1, y1 - 1), look.body, -1)
    cv2.rectangle(
        canvas, (x0, y0 + lid + (height - lid) // 4), (x1 - 1, y1 - 1 - (height - lid) // 6), look.band, -1
    )
    _text_lines(
        canvas, (x0 + 2, y0 + lid + (height - lid) // 3, x1 - 2, y1 - (height - lid) // 4), look.ink, rnd, 2
    )
    cv2.line(canvas, (x0 + width // 6, y0 + lid + 2), (x0 + width // 6, y1 - 3), _scale(look.body, 1.5), 1)


def _plain(canvas: np.ndarray, rect: Rect, look: ProductLook, rnd: random.Random) -> None:
    """A plain pack (kraft, grey, white, black) with at most a small label, a tape strip or a print line."""
    x0, y0, x1, y1 = rect
    width, height = x1 - x0, y1 - y0
    cv2.rectangle(canvas, (x0, y0), (x1 - 1, y1 - 1), look.body, -1)
    top = max(1, height // rnd.randint(10, 25))
    cv2.rectangle(canvas, (x0, y0), (x1 - 1, y0 + top - 1), _scale(look.body, 1.2), -1)
    mark = rnd.randint(0, 3)
    if mark == 1 and width > 8:  # a small white sticker with a few lines of print
        lw, lh = max(3, width // 3), max(3, height // 6)
        lx, ly = x0 + rnd.randint(1, max(1, width - lw - 1)), y0 + int(height * rnd.uniform(0.3, 0.7))
        cv2.rectangle(canvas, (lx, ly), (lx + lw, ly + lh), (238, 238, 236), -1)
        _text_lines(canvas, (lx, ly, lx + lw, ly + lh), (40, 40, 40), rnd, 2)
    elif mark == 2:  # packing tape across the top
        tape = max(1, height // 12)
        cv2.rectangle(canvas, (x0, y0 + top), (x1 - 1, y0 + top + tape), _scale(look.body, 1.12), -1)
    elif mark == 3 and width > 10:  # one line of brand print in a low-contrast ink
        ink = _scale(look.body, 0.55) if max(look.body) > 90 else (90, 90, 90)
        _text_lines(canvas, (x0 + 2, y0 + height // 3, x1 - 2, y0 + height // 2), ink, rnd, 1)
    _shade_edges(canvas, rect, look.body, rnd)


_DRAW = {"box": _box, "bottle": _bottle, "can": _can, "bag": _bag, "jar": _jar}
_ROUND = frozenset({"bottle", "can", "jar"})


def _shade_round(sprite: np.ndarray, background: np.ndarray) -> None:
    """Light falling off towards both sides of a cylinder, on the product's pixels only."""
    width = sprite.shape[1]
    across = np.sin(np.linspace(0.15, np.pi - 0.15, width, dtype=np.float32)) ** 0.7
    profile = (0.55 + 0.5 * across)[None, :, None]
    drawn = (sprite != background).any(axis=2)
    shaded = np.clip(sprite * profile, 0, 255).astype(np.uint8)
    sprite[drawn] = shaded[drawn]


def draw_product(canvas: np.ndarray, rect: Rect, look: ProductLook) -> None:
    """Draw `look` filling `rect`; the same look always draws the same way, so facings of a SKU match."""
    x0, y0, x1, y1 = rect
    width, height = x1 - x0, y1 - y0
    if width < 2 or height < 2:
        return
    # Draw in the product's own frame so anti-aliased edges never spill onto a neighbour or a gap.
    sprite = np.empty((height, width, 3), np.uint8)
    cx0, cy0 = max(0, x0), max(0, y0)
    cx1, cy1 = min(canvas.shape[1], x1), min(canvas.shape[0], y1)
    if cx1 <= cx0 or cy1 <= cy0:
        return
    sprite[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0] = canvas[cy0:cy1, cx0:cx1]
    background = sprite.copy() if look.shape in _ROUND else None
    (_plain if look.plain else _DRAW[look.shape])(
        sprite, (0, 0, width, height), look, random.Random(look.seed)
    )
    if background is not None:
        _shade_round(sprite, background)
    canvas[cy0:cy1, cx0:cx1] = sprite[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]


def draw_far_back(canvas: np.ndarray, rect: Rect, look: ProductLook) -> None:
    """A product pushed to the back of a deep shelf: smaller, centred low, in shadow."""
    x0, y0, x1, y1 = rect
    width, height = x1 - x0, y1 - y0
    inner_w, inner_h = int(width * 0.55), int(height * 0.6)
    if inner_w < 4 or inner_h < 4:
        return
    ix0 = x0 + (width - inner_w) // 2
    iy1 = y1 - max(1, height // 10)
    inner = (ix0, iy1 - inner_h, ix0 + inner_w, iy1)
    patch = canvas[inner[1] : inner[3], inner[0] : inner[2]]
    sprite = np.zeros_like(patch)
    draw_product(sprite, (0, 0, inner_w, inner_h), look)
    drawn = sprite.any(axis=2)
    patch[drawn] = (sprite[drawn] * 0.35).astype(np.uint8)
