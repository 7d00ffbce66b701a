"""Simulated shelf cameras: real JPEGs drawn like the detector's training data, facings follow the stock."""

from __future__ import annotations

import cv2
import numpy as np
from sim_helpers import BrokerLike, CollectorFactory, SimFactory, wait_for

from smartstore.devices.sim.camera import ShelfCamera
from smartstore.devices.sim.camera_scene import SlotLayout, visible_facings
from smartstore.devices.sim.world import Reason
from smartstore.kernel.contract import topics
from smartstore.kernel.contract.validation import Image, decode
from smartstore.kernel.storeconfig import StoreConfig


def camera(store: StoreConfig, camera_id: str = "cam-1l", seed: int = 7) -> ShelfCamera:
    config = next(c for c in store.devices.cameras if c.id == camera_id)
    return ShelfCamera(config, store.shelves_for_camera(camera_id), seed=seed)


def decode_jpeg(jpeg: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def region(image: np.ndarray, area: SlotLayout, x0: int | None = None, x1: int | None = None) -> np.ndarray:
    """The slot's bounding box in a frame, or columns x0..x1 of it (camera pixels)."""
    left, top, right, bottom = area.frame_box
    return image[top:bottom, left if x0 is None else x0 : right if x1 is None else x1].astype(np.int16)


def in_frame(cam: ShelfCamera, *values: int) -> list[int]:
    """Drawn pixels (where the layout lives) -> camera pixels."""
    return [round(value / cam.layout.scale) for value in values]


def mean_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).mean())


def full(cam: ShelfCamera) -> dict[str, int]:
    return {area.slot.id: area.slot.capacity for area in cam.areas}


def test_frame_is_a_jpeg_of_the_camera_size(example_store: StoreConfig) -> None:
    cam = camera(example_store)
    frame = cam.render({})
    assert frame.jpeg.startswith(b"\xff\xd8\xff")
    assert decode_jpeg(frame.jpeg).shape == (720, 1280, 3)
    assert frame.occluded == []


def test_same_seed_same_shelf_other_seed_other_shelf(example_store: StoreConfig) -> None:
    units = full(camera(example_store))
    first = camera(example_store).compose(units)
    assert np.array_equal(first, camera(example_store).compose(units))
    assert (
        mean_diff(first.astype(np.int16), camera(example_store, seed=8).compose(units).astype(np.int16)) > 10
    )


def test_an_empty_slot_shows_back_panel_or_a_dark_recess(example_store: StoreConfig) -> None:
    cam = camera(example_store)
    stocked = cam.compose(full(cam))
    empty = cam.compose({})
    kinds = set()
    for area in cam.areas:
        gx0, gy0, gx1, gy1 = in_frame(cam, *area.gap.rect)  # where the products stood
        difference = mean_diff(stocked[gy0:gy1, gx0:gx1].astype(np.int16), empty[gy0:gy1, gx0:gx1])
        assert difference > 15, (area.slot.id, difference)
        kinds.add(area.gap.kind)
        if area.gap.kind == "frontal_gap":
            # The generator darkens a frontal gap to 18-45 % of the back panel.
            recess = empty[gy0:gy1, gx0:gx1].mean()
            above = empty[area.frame_box[1] : gy0, gx0:gx1]
            if above.size:
                assert recess < 0.6 * above.mean(), area.slot.id
    assert kinds == {"empty_gap", "frontal_gap"}


def test_visible_facings_follow_units_and_leave_from_one_end(example_store: StoreConfig) -> None:
    cam = camera(example_store)
    areas = list(cam.areas)
    stocked, empty = cam.compose(full(cam)), cam.compose({})
    for share in (0.1, 0.5, 0.8, 1.0):
        units = {a.slot.id: round(a.slot.capacity * share) for a in areas}
        image = cam.compose(units)
        for area in areas:
            shown = visible_facings(area.slot, units[area.slot.id])
            facings = area.slot.facings
            present = range(facings - shown, facings) if area.from_left else range(shown)
            for index in range(facings):
                x0, x1 = in_frame(cam, area.edges[index], area.edges[index + 1])
                x0, x1 = x0 + 2, x1 - 2  # scaling up from the drawn size blends the columns at the seams
                like = stocked if index in present else empty
                assert mean_diff(region(image, area, x0, x1), region(like, area, x0, x1)) == 0, (
                    area.slot.id,
                    units[area.slot.id],
                    index,
                )


def test_visible_facings_rule(example_store: StoreConfig) -> None:
    slot = example_store.planogram[0].slots[0].model_copy(update={"facings": 3, "capacity": 12})
    assert [visible_facings(slot, u) for u in (-1, 0, 1, 4, 5, 11, 12, 99)] == [0, 0, 1, 1, 2, 3, 3, 3]


def test_a_passing_shopper_hides_slots_and_says_which(example_store: StoreConfig) -> None:
    cam = camera(example_store)
    units = full(cam)
    plain = decode_jpeg(cam.render(units).jpeg)
    frames = [cam.render(units, occlude=True) for _ in range(12)]
    assert sum(bool(frame.occluded) for frame in frames) >= 8
    for frame in frames:
        image = decode_jpeg(frame.jpeg)
        for area in cam.areas:
            changed = float((np.abs(region(image, area) - region(plain, area)).max(axis=2) > 30).mean())
            if area.slot.id in frame.occluded:
                assert changed > 0.03, (area.slot.id, changed)
            else:
                assert changed < 0.15, (area.slot.id, changed)


def test_cameras_publish_frames_over_mqtt(
    mosquitto: BrokerLike, make_sim: SimFactory, collectors: CollectorFactory
) -> None:
    sim = make_sim(mqtt=mosquitto.settings, speed=0, lockers=False, occlusion_probability=0.0)
    emptied = sim.world.locations["2r-2-3"]
    while (item := sim.world.take_from_location(emptied)) is not None:
        sim.world.to_exit(item, Reason.SOLD)
    collector = collectors(mosquitto.settings, topics.device_data_filters(sim.store_id))
    sim.start()
    topic = topics.camera_image(sim.store_id, "cam-2r")
    assert wait_for(lambda: bool(collector.on(topic)), timeout=30.0)  # first frames draw each camera
    decoded = decode(topic, collector.on(topic)[0])
    assert isinstance(decoded, Image)
    image = decode_jpeg(decoded.jpeg)
    cam = sim.cameras["cam-2r"]
    units = {area.slot.id: sim.world.slot_units(area.slot.id) for area in cam.areas}
    expected, stocked = cam.compose(units), cam.compose(full(cam))
    assert units["2r-2-3"] == 0
    for area in cam.areas:
        assert mean_diff(region(image, area), region(expected, area)) < 8, area.slot.id  # noise + JPEG
    emptied_area = next(area for area in cam.areas if area.slot.id == "2r-2-3")
    assert mean_diff(region(image, emptied_area), region(stocked, emptied_area)) > 15
