"""Seeded layout of one shelf scene as pure data: panel, levels, facings, gaps, occluders; no pixels."""

from __future__ import annotations

import colorsys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

Bgr = tuple[int, int, int]
Rect = tuple[int, int, int, int]  # x0, y0, x1, y1 in planar pixels, end exclusive
Shape = Literal["box", "bottle", "can", "bag", "jar"]
ItemKind = Literal["product", "empty_gap", "frontal_gap"]
OccluderKind = Literal["person", "trolley"]

# Back-panel families; a held-out set uses families the training set never saw.
BACKGROUND_FAMILIES: tuple[str, ...] = (
    "plain",
    "pegboard",
    "slats",
    "wood",
    "brushed",
    "mesh",
    "wire",
    "tiles",
    "gradient",
    "stripes",
)
TRAIN_FAMILIES: tuple[str, ...] = ("plain", "pegboard", "slats", "wood", "brushed", "mesh", "wire")
HELDOUT_FAMILIES: tuple[str, ...] = ("tiles", "gradient", "stripes")

_SHAPES: tuple[Shape, ...] = ("box", "bottle", "can", "bag", "jar")
_SHAPE_WEIGHTS = np.array([0.42, 0.2, 0.14, 0.1, 0.14])
_FACINGS = np.arange(1, 9)
_FACING_WEIGHTS = np.array([0.2, 0.16, 0.13, 0.11, 0.11, 0.1, 0.1, 0.09])
# Dark glass, cola, coffee and chocolate packs: without them the detector takes every dark facing for the dark
# recess of a frontal gap (model card). Drawn from each look's own seed, so scene layouts stay the same.
DARK_LOOK_SHARE = 0.12
DARK_BODY_VALUE = (0.05, 0.22)  # HSV value of a dark pack's body; every other body is brighter than 0.25
_DARK_STREAM = 0xDA4C
# Hard negatives: plain kraft, grey, white and black packs with little print. Real detectors call them gaps
# (issue #26); half of the plain packs are dark (black) or kraft, the rest grey or white.
PLAIN_LOOK_SHARE = 0.08
_PLAIN_STREAM = 0x91A1
# width / height ranges per shape, as seen from the front
_ASPECT: dict[Shape, tuple[float, float]] = {
    "box": (0.2, 1.1),
    "bottle": (0.22, 0.42),
    "can": (0.45, 0.75),
    "bag": (0.55, 1.0),
    "jar": (0.6, 1.0),
}


@dataclass(frozen=True, slots=True)
class BackPanel:
    family: str
    colour: Bgr
    accent: Bgr
    pitch: int  # texture period in pixels
    seed: int


@dataclass(frozen=True, slots=True)
class ProductLook:
    shape: Shape
    body: Bgr
    band: Bgr
    ink: Bgr
    logo: Bgr
    layout: int  # which printed-label arrangement
    seed: int
    picture: bool = False  # a product photo on the pack (a smooth, many-coloured patch)
    plain: bool = False  # a plain pack (kraft, grey, white, black) with a small label and little print

    @property
    def dark(self) -> bool:
        """A dark pack (dark glass, cola, coffee), the kind a detector may take for a dark recess."""
        return max(self.body) <= DARK_BODY_VALUE[1] * 255


@dataclass(frozen=True, slots=True)
class Item:
    kind: ItemKind
    rect: Rect
    look: ProductLook | None  # the product, or for a frontal gap the one pushed far back (maybe none)


@dataclass(frozen=True, slots=True)
class Level:
    top: int  # underside of the shelf above (or top of the unit)
    surface: int  # where products stand
    lip: Rect  # front edge of the shelf board below the products
    lip_colour: Bgr
    tags: tuple[Rect, ...]  # price labels on the lip
    tag_colour: Bgr
    board_depth: int = 0  # rows of shelf-board top seen above the lip, where nothing stands in front of it
    board_colour: Bgr = (200, 200, 200)


@dataclass(frozen=True, slots=True)
class SlotTruth:
    """One SKU run as a planogram slot: where its facings stand and how many of them are missing."""

    rect: Rect
    facings: int
    missing: int

    @property
    def empty(self) -> bool:
        return self.missing == self.facings


@dataclass(frozen=True, slots=True)
class Occluder:
    kind: OccluderKind
    rect: Rect
    colour: Bgr
    seed: int


@dataclass(frozen=True, slots=True)
class Finish:
    """What a real store photo adds over the layout (`models/synth/realism.py` draws it); no pixels here."""

    deep: float = 0.0  # 0: shallow shelves; up to 1: the back of every shelf in near-black shadow
    shadow_gaps: tuple[int, ...] = ()  # items (gaps) whose back is a dark cavity under the shelf above
    wire_fronts: tuple[int, ...] = ()  # levels with a wire basket front / fence over the facings
    wire_colour: Bgr = (225, 225, 225)
    tag_rail: bool = False  # every lip a pale rail densely hung with tags
    glare: int = 0  # specular highlight blobs and bands on packs and shelf lips
    seed: int = 0


@dataclass(frozen=True, slots=True)
class Scene:
    width: int
    height: int
    panel: BackPanel
    frame_colour: Bgr
    uprights: tuple[Rect, ...]
    header: Rect | None
    header_colour: Bgr
    floor_top: int
    floor_colour: Bgr
    levels: tuple[Level, ...]
    items: tuple[Item, ...]
    occluders: tuple[Occluder, ...]
    slots: tuple[SlotTruth, ...] = ()
    finish: Finish = Finish()


def hsv_colour(rng: np.random.Generator, sat: tuple[float, float], val: tuple[float, float]) -> Bgr:
    red, green, blue = colorsys.hsv_to_rgb(
        float(rng.uniform(0, 1)), float(rng.uniform(*sat)), float(rng.uniform(*val))
    )
    return int(blue * 255), int(green * 255), int(red * 255)


def grey_colour(rng: np.random.Generator, low: int, high: int, tint: int = 8) -> Bgr:
    """A grey of brightness `low`..`high`, each channel tinted by up to `tint` either way."""
    level = int(rng.integers(low, high + 1))
    tints = rng.integers(-tint, tint + 1, size=3)
    return tuple(int(np.clip(level + t, 0, 255)) for t in tints)  # type: ignore[return-value]


def _panel(rng: np.random.Generator, families: Sequence[str]) -> BackPanel:
    family = str(families[int(rng.integers(len(families)))])
    colour = grey_colour(rng, 150, 245) if rng.uniform() < 0.55 else hsv_colour(rng, (0.1, 0.7), (0.3, 0.95))
    accent = tuple(int(np.clip(c * rng.uniform(0.55, 0.85), 0, 255)) for c in colour)
    return BackPanel(family, colour, accent, int(rng.integers(6, 22)), int(rng.integers(2**31)))  # type: ignore[arg-type]


def product_look(rng: np.random.Generator) -> ProductLook:
    shape = _SHAPES[int(rng.choice(len(_SHAPES), p=_SHAPE_WEIGHTS))]
    # Real aisles are mostly white and pale packs with colourful print, not solid colour blocks.
    body = grey_colour(rng, 200, 250) if rng.uniform() < 0.4 else hsv_colour(rng, (0.3, 1.0), (0.25, 1.0))
    look = ProductLook(
        shape=shape,
        body=body,
        band=hsv_colour(rng, (0.0, 1.0), (0.3, 1.0)),
        ink=grey_colour(rng, 10, 60) if rng.uniform() < 0.6 else hsv_colour(rng, (0.5, 1.0), (0.2, 0.6)),
        logo=hsv_colour(rng, (0.6, 1.0), (0.5, 1.0)),
        layout=int(rng.integers(4)),
        seed=int(rng.integers(2**31)),
        picture=bool(rng.uniform() < 0.45),
    )
    dark_rng = np.random.default_rng([look.seed, _DARK_STREAM])
    if dark_rng.uniform() < DARK_LOOK_SHARE:
        return replace(look, body=hsv_colour(dark_rng, (0.2, 0.9), DARK_BODY_VALUE))
    plain_rng = np.random.default_rng([look.seed, _PLAIN_STREAM])
    if plain_rng.uniform() < PLAIN_LOOK_SHARE:
        return replace(look, body=plain_body(plain_rng), plain=True, picture=False)
    return look


def plain_body(rng: np.random.Generator) -> Bgr:
    """Kraft, black, grey or white: the colours of plain packaging."""
    kind = int(rng.integers(4))
    if kind == 0:  # kraft cardboard: a dull orange-brown
        level = float(rng.uniform(115, 205))
        return int(level * 0.58), int(level * 0.78), int(level)
    low, high = ((12, 45), (110, 200), (220, 250))[kind - 1]
    return grey_colour(rng, low, high, 4)


def _fill_row(
    rng: np.random.Generator, x_start: int, x_end: int, level: Level, gap_rate: float
) -> tuple[list[Item], list[int], list[SlotTruth]]:
    """Facings of SKUs side by side on one bay of one level; returns items, SKU starts and their slots."""
    clear = level.surface - level.top
    items: list[Item] = []
    starts: list[int] = []
    slots: list[SlotTruth] = []
    # Most real rows are packed: products nearly as tall as the clearance, facings touching.
    packed = rng.uniform() < 0.6
    size_low, size_high = sorted(rng.uniform(0.6 if packed else 0.35, 0.95, size=2).tolist())
    size_high = max(size_high, size_low + 0.12)
    x = x_start + int(rng.integers(0, 4))
    while True:
        look = product_look(rng)
        height = max(8, int(clear * rng.uniform(size_low, min(size_high, 0.97))))
        width = max(6, int(height * rng.uniform(*_ASPECT[look.shape])))
        spacing = int(rng.integers(0, 2 if packed else 4))
        # Single and double facings are where a missing product leaves the narrowest hole.
        facings = int(rng.choice(_FACINGS, p=_FACING_WEIGHTS))
        fit = (x_end - x) // (width + spacing)
        if fit < 1:
            # Fill the end of the row with a narrower product: an unlabelled hole would look like a gap.
            width = x_end - x - spacing
            if width < 6:
                break
            fit = 1
        facings = min(facings, fit)
        stacked = look.shape in ("box", "can") and height * 2 + 2 < clear and rng.uniform() < 0.6
        missing = 0
        if rng.uniform() < gap_rate:
            missing = int(rng.integers(1, facings + 1))
        first_missing = 0 if rng.uniform() < 0.5 else facings - missing
        starts.append(x)
        gap_x0 = gap_x1 = -1
        for index in range(facings):
            x0 = x + index * (width + spacing)
            if first_missing <= index < first_missing + missing:
                gap_x0 = x0 if gap_x0 < 0 else gap_x0
                gap_x1 = x0 + width + spacing
                continue
            items.append(Item("product", (x0, level.surface - height, x0 + width, level.surface), look))
            if stacked:
                items.append(
                    Item(
                        "product",
                        (x0, level.surface - 2 * height - 1, x0 + width, level.surface - height - 1),
                        look,
                    )
                )
        if missing:
            gap_height = int(min(clear - 2, max(height * (2 if stacked else 1), 0.6 * clear)))
            gap_rect = (gap_x0, level.surface - gap_height, min(gap_x1, x_end), level.surface)
            gap_indices = [i for i, item in enumerate(items) if item.kind != "product"]
            previous = items[gap_indices[-1]] if gap_indices else None
            if previous is not None and 0 <= gap_x0 - previous.rect[2] <= 6:
                # One empty stretch is one gap, however many SKUs it used to hold: nothing in the
                # picture marks where one missing SKU ended and the next began.
                merged = (
                    previous.rect[0],
                    min(previous.rect[1], gap_rect[1]),
                    gap_rect[2],
                    level.surface,
                )
                items[gap_indices[-1]] = Item(previous.kind, merged, previous.look)
            else:
                kind: ItemKind = "empty_gap" if rng.uniform() < 0.5 else "frontal_gap"
                far_back = product_look(rng) if kind == "frontal_gap" and rng.uniform() < 0.5 else None
                items.append(Item(kind, gap_rect, far_back))
        run_height = max(height * 2 + 1 if stacked else height, gap_height if missing else 0)
        run_x1 = min(x + facings * (width + spacing), x_end)
        slots.append(SlotTruth((x, level.surface - run_height, run_x1, level.surface), facings, missing))
        x += facings * (width + spacing) + int(rng.integers(0, 4))
    return items, starts, slots


def _occluders(rng: np.random.Generator, width: int, height: int, unit_width: int) -> tuple[Occluder, ...]:
    """People and trolleys, sized by `unit_width` (the shelf a square-ish frame would show)."""
    count = int(rng.choice([0, 0, 0, 1, 1, 2]))
    occluders: list[Occluder] = []
    for _ in range(count):
        if rng.uniform() < 0.6:
            occ_w = int(unit_width * rng.uniform(0.15, 0.35))
            top = int(height * rng.uniform(-0.1, 0.5))
            x0 = int(rng.integers(-occ_w // 2, width - occ_w // 2))
            rect = (x0, top, x0 + occ_w, height + 10)
            occluders.append(
                Occluder("person", rect, hsv_colour(rng, (0, 0.9), (0.1, 0.9)), int(rng.integers(2**31)))
            )
        else:
            occ_w = int(unit_width * rng.uniform(0.25, 0.45))
            occ_h = int(height * rng.uniform(0.22, 0.4))
            x0 = int(rng.integers(-occ_w // 3, width - occ_w // 2))
            rect = (x0, height - occ_h, x0 + occ_w, height + 5)
            occluders.append(Occluder("trolley", rect, grey_colour(rng, 120, 220), int(rng.integers(2**31))))
    return tuple(occluders)


def generate_scene(
    rng: np.random.Generator, width: int, height: int, families: Sequence[str], bays: int | None = None
) -> Scene:
    """A random, fully stocked-or-not shelf scene covering `width` x `height` planar pixels.

    `bays` fixes the number of shelf bays side by side (a long stretch of aisle seen obliquely has many);
    by default a frame shows one to three.
    """
    unknown = set(families) - set(BACKGROUND_FAMILIES)
    if not families or unknown:
        raise ValueError(f"background families must be some of {BACKGROUND_FAMILIES}, got {list(families)}")
    header = None
    unit_top = 0
    if rng.uniform() < 0.5:
        unit_top = int(height * rng.uniform(0.03, 0.1))
        header = (0, 0, width, unit_top)
    floor_top = height if rng.uniform() < 0.4 else int(height * rng.uniform(0.88, 0.97))
    base_h = int(height * rng.uniform(0.02, 0.06))
    # Phone photos of whole units show up to a dozen boards; fixed shelf cameras fewer, larger ones.
    n_levels = int(rng.choice([4, 5, 6, 7, 7, 8, 8, 9, 10, 11, 12]))
    lip_h = max(4, int((floor_top - base_h - unit_top) / n_levels * rng.uniform(0.06, 0.13)))
    bounds = np.sort(rng.dirichlet(np.full(n_levels, 12.0))).cumsum()
    span = floor_top - base_h - unit_top
    frame_colour = (
        grey_colour(rng, 40, 235) if rng.uniform() < 0.8 else hsv_colour(rng, (0.4, 0.9), (0.4, 0.9))
    )
    lip_colour = frame_colour if rng.uniform() < 0.6 else grey_colour(rng, 30, 245)
    tag_colour = (255, 255, 255) if rng.uniform() < 0.6 else hsv_colour(rng, (0.3, 1.0), (0.8, 1.0))
    # Many stores run a continuous label strip: evenly spaced tags whatever stands above them.
    tag_strip = rng.uniform() < 0.4
    n_bays = int(rng.integers(1, 4)) if bays is None else bays
    # Posts, price tags and people keep the size they have in a frame of about two bays.
    unit_width = width if bays is None else width * 2 // bays
    post_w = max(3, int(unit_width * rng.uniform(0.008, 0.025)))
    edges = [
        int(np.clip(width * (i / n_bays + rng.uniform(-0.03, 0.03)), 0, width)) for i in range(n_bays + 1)
    ]
    uprights = tuple((e - post_w // 2, unit_top, e + post_w - post_w // 2, floor_top) for e in edges)
    lighter = float(rng.uniform(1.0, 1.3))
    board_colour: Bgr = (
        int(min(255, lip_colour[0] * lighter + 10)),
        int(min(255, lip_colour[1] * lighter + 10)),
        int(min(255, lip_colour[2] * lighter + 10)),
    )
    camera_height = float(rng.uniform(0.0, 2.5))
    # Gaps are what the detector exists for, and it learns them last: most scenes have several.
    gap_rate = float(rng.choice([0.05, 0.15, 0.25, 0.4, 0.6]))
    levels: list[Level] = []
    items: list[Item] = []
    slots: list[SlotTruth] = []
    top = unit_top
    for index in range(n_levels):
        surface = unit_top + int(span * bounds[index]) - lip_h
        level = Level(top, surface, (0, surface, width, surface + lip_h), lip_colour, (), tag_colour)
        tags: list[Rect] = []
        for bay in range(n_bays):
            row, starts, row_slots = _fill_row(
                rng, edges[bay] + post_w, edges[bay + 1] - post_w, level, gap_rate
            )
            items.extend(row)
            slots.extend(row_slots)
            tag_w = max(6, int(unit_width * rng.uniform(0.02, 0.045)))
            tag_h = max(3, int(lip_h * rng.uniform(0.5, 0.85)))
            tag_y = surface + (lip_h - tag_h) // 2
            tag_xs: Sequence[int] = starts
            if tag_strip:
                pitch = max(tag_w + 2, int(tag_w * rng.uniform(1.2, 2.5)))
                tag_xs = range(edges[bay] + post_w + 1, edges[bay + 1] - post_w - tag_w, pitch)
            tags.extend((x, tag_y, x + tag_w, tag_y + tag_h) for x in tag_xs if rng.uniform() < 0.85)
        # A camera mounted high sees more of the lower boards' tops.
        depth = int((surface - top) * rng.uniform(0.02, 0.1) * (1 + index / n_levels * camera_height))
        levels.append(
            Level(top, surface, level.lip, lip_colour, tuple(tags), tag_colour, depth, board_colour)
        )
        top = surface + lip_h
    return Scene(
        width=width,
        height=height,
        panel=_panel(rng, families),
        frame_colour=frame_colour,
        uprights=uprights,
        header=header,
        header_colour=hsv_colour(rng, (0.2, 0.9), (0.3, 0.95)),
        floor_top=floor_top,
        floor_colour=grey_colour(rng, 90, 210),
        levels=tuple(levels),
        items=tuple(items),
        occluders=_occluders(rng, width, height, unit_width),
        slots=tuple(slots),
    )
