"""A store described once in YAML: catalog, zones, devices, planogram; validated with errors by location."""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum
from functools import cached_property
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from smartstore.kernel.contract.payloads import Gtin, Identifier

EXAMPLE_STORE = Path(str(files("smartstore.kernel") / "data" / "example-store.yaml"))


class StoreConfigError(ValueError):
    """The store file is unreadable or invalid; `errors` holds one 'location: message' per line."""

    def __init__(self, path: Path | str, errors: list[str]) -> None:
        self.path = str(path)
        self.errors = errors
        super().__init__(f"{path}: invalid store configuration\n  " + "\n  ".join(errors))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Area(StrEnum):
    BACKROOM = "backroom"
    SALESFLOOR = "salesfloor"
    EXIT = "exit"
    LOCKER = "locker"


class CompartmentSize(StrEnum):
    S = "S"
    M = "M"
    L = "L"


Point = Annotated[list[float], Field(min_length=2, max_length=2)]


def _yaml_clock(value: Any) -> Any:
    # YAML 1.1 reads an unquoted 21:00 as the base-60 integer 1260: take it back to the time it was.
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
        return f"{value // 60:02d}:{value % 60:02d}"
    return value


ClockTime = Annotated[
    str,
    BeforeValidator(_yaml_clock),
    Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="HH:MM, local time."),
]


class LocationKind(StrEnum):
    """A store has devices and customers; a distribution centre is stock without devices (movements only)."""

    STORE = "store"
    DISTRIBUTION_CENTRE = "distribution_centre"


class GeoPoint(_Model):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class Delivery(_Model):
    """Instant delivery from this store: whom it reaches and what it promises."""

    radius_km: float = Field(gt=0, le=100, description="Straight-line reach of the delivery area.")
    promise_minutes: int = Field(30, ge=5, le=24 * 60, description="From order to the customer's door.")
    at_risk_minutes: int = Field(
        10, ge=1, le=24 * 60, description="Alert when less than this is left and no courier has the order."
    )


class Fulfilment(_Model):
    """How this location fulfils orders: pickup slots, delivery, how much online channels may promise."""

    opens: ClockTime = "08:00"
    closes: ClockTime = "20:00"
    slot_minutes: int = Field(60, ge=15, le=24 * 60, description="Length of a pickup time slot.")
    counter_slot_capacity: int = Field(10, ge=0, description="Counter pickups per slot; 0: no counter.")
    locker_slot_capacity: int = Field(20, ge=0, description="Locker pickups per slot and bank.")
    slot_days_ahead: int = Field(7, ge=1, le=60, description="How far ahead slots may be booked.")
    pick_minutes: int = Field(30, ge=0, le=24 * 60, description="Picking time: no slot starts sooner.")
    no_show_grace_minutes: int = Field(
        120, ge=0, description="A counter pickup not collected this long after its slot ends expires."
    )
    reminder_minutes: int = Field(60, ge=0, description="Remind the customer this long before the slot.")
    delivery: Delivery | None = Field(None, description="Instant delivery; none when absent.")
    ships: bool = Field(False, description="Ships parcels (endless aisle); distribution centres always do.")
    online_holdback_percent: float = Field(
        0, ge=0, le=100, description="Share of on-hand units online channels may not promise (walk-ins)."
    )
    online_holdback_units: int = Field(0, ge=0, description="Units online channels may not promise.")


class StoreInfo(_Model):
    id: Identifier
    name: str
    timezone: str = "UTC"
    kind: LocationKind = LocationKind.STORE
    location: GeoPoint | None = Field(None, description="Where it is; needed to be chosen by distance.")
    fulfilment: Fulfilment = Field(default_factory=Fulfilment)
    shelf_low_fill: float = Field(0.5, gt=0, le=1, description="Fill below this is 'low'.")
    shelf_empty_fill: float = Field(
        0.15,
        ge=0,
        lt=1,
        description="Units / capacity below this is 'empty' where units are counted; cameras see facings "
        "and read a slot empty when less than half a facing shows product (edge vision.slots).",
    )
    pickup_expiry_hours: float = Field(72, gt=0, description="A pickup order not collected by then expires.")
    pickup_code_digits: int = Field(6, ge=6, le=8, description="Digits of a locker pickup code.")
    pickup_max_failures: int = Field(
        5,
        ge=1,
        le=100,
        description="Wrong pickup codes from one source (kiosk session, API client, keypad) or for one "
        "order before that source or order is locked out.",
    )
    pickup_bank_max_failures: int = Field(
        100,
        ge=1,
        le=10_000,
        description="Wrong pickup codes at one locker bank from all sources together, within the lockout "
        "period, before the whole bank is locked: a ceiling far above one source's reach.",
    )
    pickup_lockout_minutes: float = Field(15, gt=0, le=24 * 60, description="How long a lockout lasts.")


class Product(_Model):
    gtin: Gtin
    name: str = Field(min_length=1)
    sku: str = Field(min_length=1)
    rfid_tagged: bool = True
    safety_stock: int = Field(0, ge=0)
    locker_size: CompartmentSize = CompartmentSize.S
    online_holdback_percent: float | None = Field(
        None, ge=0, le=100, description="Overrides the store's online holdback share for this product."
    )
    online_holdback_units: int | None = Field(
        None, ge=0, description="Overrides the store's online holdback units for this product."
    )


class Departure(StrEnum):
    """What it means when a tag is no longer read in a zone (the reason its departure carries)."""

    TIMEOUT = "timeout"
    EXIT = "exit"
    POINT_OF_SALE = "point_of_sale"


class MobilityProfile(_Model):
    """How much stronger a zone must read a tag to take it over (EdgeX / Intel RSP weighted slope).

    The advantage needed over the tag's current zone is `threshold_db` while that zone read the tag
    within `holdoff_s`, then falls by `-slope_db_per_s` each further second it stays silent:
    `min(threshold_db, threshold_db + slope_db_per_s * (silent_s - holdoff_s))`.
    """

    threshold_db: float = Field(6.0, ge=0, le=60, description="Advantage needed while both zones read.")
    slope_db_per_s: float = Field(-1.0, ge=-100, le=0, description="Change of the advantage per silent s.")
    holdoff_s: float = Field(5.0, ge=0, le=3600, description="Silence before the advantage starts falling.")
    min_reads: int = Field(3, ge=1, le=100, description="Reads in a row (none a window apart) to move.")


# A shelf holds a tag until another zone clearly wins; an exit portal claims the tags passing it fast.
DEFAULT_MOBILITY = MobilityProfile()
EXIT_MOBILITY = MobilityProfile(threshold_db=3.0, slope_db_per_s=-2.0, holdoff_s=2.0, min_reads=2)


class Zone(_Model):
    id: Identifier
    area: Area
    name: str = ""
    min_rssi: float = Field(-75.0, description="Reads weaker than this (dBm) are ignored.")
    departure_timeout_s: float = Field(60.0, gt=0)
    low_stock: int = Field(2, ge=0, description="Per-product count at or below which stock is low.")
    mobility: MobilityProfile | None = Field(
        None,
        description="Tag hand-over profile; default: the exit profile in exit zones, else the shelf one.",
    )
    departure: Departure | None = Field(
        None, description="Meaning of a tag gone from here; default: 'exit' in exit zones, else 'timeout'."
    )

    @property
    def mobility_profile(self) -> MobilityProfile:
        if self.mobility is not None:
            return self.mobility
        return EXIT_MOBILITY if self.area is Area.EXIT else DEFAULT_MOBILITY

    @property
    def departure_kind(self) -> Departure:
        if self.departure is not None:
            return self.departure
        return Departure.EXIT if self.area is Area.EXIT else Departure.TIMEOUT


class Antenna(_Model):
    port: int = Field(ge=1, le=65535)
    zone: Identifier


class Reader(_Model):
    id: Identifier
    host: str = Field("127.0.0.1", description="LLRP reader address (real readers only).")
    port: int = 5084
    antennas: list[Antenna] = Field(min_length=1)


class Camera(_Model):
    id: Identifier
    source: str = Field("mqtt", description="'mqtt' or any OpenCV VideoCapture source.")
    width: int = Field(1280, gt=0)
    height: int = Field(720, gt=0)
    interval_s: float = Field(5.0, gt=0, description="Seconds between frames the source sends.")


class Compartment(_Model):
    id: Identifier
    size: CompartmentSize


class Locker(_Model):
    id: Identifier
    zone: Identifier
    compartments: list[Compartment] = Field(min_length=1)


class Devices(_Model):
    agents: list[Identifier] = Field(
        default_factory=lambda: ["edge-1"],
        description="Edge agents (their agent_id) whose signals the gateway accepts for this store; "
        "default: the edge's default id.",
    )
    readers: list[Reader] = Field(default_factory=list)
    cameras: list[Camera] = Field(default_factory=list)
    lockers: list[Locker] = Field(default_factory=list)


class Slot(_Model):
    id: Identifier
    gtin: Gtin
    facings: int = Field(ge=1)
    capacity: int = Field(ge=1, description="Units the slot holds when full.")
    polygon: list[Point] = Field(min_length=3, description="Slot outline in camera pixels.")


class Shelf(_Model):
    id: Identifier
    zone: Identifier
    camera: Identifier | None = None
    slots: list[Slot] = Field(min_length=1)


class StoreConfig(_Model):
    store: StoreInfo
    catalog: list[Product] = Field(min_length=1)
    zones: list[Zone] = Field(min_length=1)
    devices: Devices = Field(default_factory=Devices)
    planogram: list[Shelf] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_references(self) -> StoreConfig:
        errors = list(self._reference_errors())
        if errors:
            raise ValueError("\n".join(errors))
        return self

    def _reference_errors(self) -> Iterator[str]:
        yield from _duplicates("catalog", [p.gtin for p in self.catalog], "gtin")
        yield from _duplicates("zones", [z.id for z in self.zones], "id")
        device_ids = [r.id for r in self.devices.readers] + [c.id for c in self.devices.cameras]
        yield from _duplicates("devices", device_ids + [lk.id for lk in self.devices.lockers], "id")
        zones = {z.id for z in self.zones}
        gtins = {p.gtin for p in self.catalog}
        cameras = {c.id: c for c in self.devices.cameras}
        for r, reader in enumerate(self.devices.readers):
            yield from _duplicates(
                f"devices.readers[{r}].antennas", [a.port for a in reader.antennas], "port"
            )
            for a, antenna in enumerate(reader.antennas):
                if antenna.zone not in zones:
                    yield f"devices.readers[{r}].antennas[{a}].zone: unknown zone {antenna.zone!r}"
        for k, locker in enumerate(self.devices.lockers):
            if locker.zone not in zones:
                yield f"devices.lockers[{k}].zone: unknown zone {locker.zone!r}"
            yield from _duplicates(
                f"devices.lockers[{k}].compartments", [c.id for c in locker.compartments], "id"
            )
        yield from _duplicates("planogram", [s.id for s in self.planogram], "id")
        yield from _duplicates("planogram[*].slots", [s.id for sh in self.planogram for s in sh.slots], "id")
        for s, shelf in enumerate(self.planogram):
            if shelf.zone not in zones:
                yield f"planogram[{s}].zone: unknown zone {shelf.zone!r}"
            camera = cameras.get(shelf.camera) if shelf.camera else None
            if shelf.camera and camera is None:
                yield f"planogram[{s}].camera: unknown camera {shelf.camera!r}"
            for i, slot in enumerate(shelf.slots):
                if slot.gtin not in gtins:
                    yield f"planogram[{s}].slots[{i}].gtin: {slot.gtin} is not in the catalog"
                if camera and any(
                    not (0 <= x <= camera.width and 0 <= y <= camera.height) for x, y in slot.polygon
                ):
                    size = f"{camera.width}x{camera.height}"
                    yield f"planogram[{s}].slots[{i}].polygon: outside the {size} image"
        if self.store.shelf_empty_fill >= self.store.shelf_low_fill:
            yield "store.shelf_empty_fill: must be below store.shelf_low_fill"
        if self.store.fulfilment.opens >= self.store.fulfilment.closes:
            yield "store.fulfilment.closes: must be after store.fulfilment.opens"
        if self.store.kind is LocationKind.DISTRIBUTION_CENTRE:
            if self.devices.readers or self.devices.cameras or self.devices.lockers:
                yield "devices: a distribution centre has no devices (its stock comes from movements)"
            if self.store.fulfilment.delivery is not None:
                yield "store.fulfilment.delivery: a distribution centre ships; it does not deliver instantly"

    # Lookups, built once: the config is immutable.

    @cached_property
    def products(self) -> dict[str, Product]:
        return {p.gtin: p for p in self.catalog}

    @cached_property
    def zones_by_id(self) -> dict[str, Zone]:
        return {z.id: z for z in self.zones}

    @cached_property
    def antenna_zones(self) -> dict[tuple[str, int], str]:
        """(reader id, antenna port) -> zone id."""
        return {(r.id, a.port): a.zone for r in self.devices.readers for a in r.antennas}

    @cached_property
    def slots(self) -> dict[str, tuple[Shelf, Slot]]:
        return {slot.id: (shelf, slot) for shelf in self.planogram for slot in shelf.slots}

    def shelves_for_camera(self, camera: str) -> list[Shelf]:
        return [shelf for shelf in self.planogram if shelf.camera == camera]

    @property
    def ships(self) -> bool:
        return self.store.fulfilment.ships or self.store.kind is LocationKind.DISTRIBUTION_CENTRE

    def zones_in(self, *areas: Area) -> list[Zone]:
        return [z for z in self.zones if z.area in areas]


def _duplicates(location: str, values: list[Any], field: str) -> Iterator[str]:
    seen: set[Any] = set()
    for index, value in enumerate(values):
        if value in seen:
            yield f"{location}[{index}].{field}: duplicate {value!r}"
        seen.add(value)


def parse_store(data: Any, source: Path | str = "<store>") -> StoreConfig:
    try:
        return StoreConfig.model_validate(data)
    except ValidationError as error:
        raise StoreConfigError(source, _error_lines(error)) from None


def load_store(path: Path | str) -> StoreConfig:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise StoreConfigError(path, [str(error)]) from None
    return parse_store(data, path)


def _error_lines(error: ValidationError) -> list[str]:
    lines: list[str] = []
    for item in error.errors():
        if not item["loc"] and str(item["msg"]).startswith("Value error, "):
            lines.extend(str(item["msg"]).removeprefix("Value error, ").splitlines())
            continue
        location = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in item["loc"])
        lines.append(f"{location.lstrip('.') or '(root)'}: {item['msg']}")
    return lines
