"""Simulated shelf cameras: real JPEGs where empty slots are flat panel and stocked slots are textured."""

from __future__ import annotations

import math

import cv2
import numpy as np
from sim_helpers import BrokerLike, CollectorFactory, SimFactory, wait_for

from devices.sim.camera import ShelfCamera
from devices.sim.world import Reason
from smartstore.contract import topics
from smartstore.contract.validation import Image, decode
from smartstore.storeconfig import Slot, StoreConfig


def camera(store: StoreConfig, camera_id: str = "cam-1l") -> ShelfCamera:
    config = next(c for c in store.devices.cameras if c.id == camera_id)
    return ShelfCamera(config, store.shelves_for_camera(camera_id), seed=7)


def decode_jpeg(jpeg: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv2.IMREAD_GRAYSCALE)
    assert image is not None
    return image


def inside(image: np.ndarray, slot: Slot) -> np.ndarray:
    xs = [int(x) for x, _ in slot.polygon]
    ys = [int(y) for _, y in slot.polygon]
    return image[min(ys) + 2 : max(ys) - 2, min(xs) + 2 : max(xs) - 2]


def laplacian_variance(region: np.ndarray) -> float:
    return float(cv2.Laplacian(region, cv2.CV_64F).var())


def textured_share(region: np.ndarray) -> float:
    """Share of columns with strong edges: the edge engineer's first fill estimate."""
    edges = np.abs(cv2.Laplacian(region, cv2.CV_64F))
    column_energy = (edges > 20).mean(axis=0)
    return float((column_energy > 0.02).mean())


def test_frame_is_a_jpeg_of_the_camera_size(example_store: StoreConfig) -> None:
    cam = camera(example_store)
    frame = cam.render({})
    assert frame.jpeg.startswith(b"\xff\xd8\xff")
    assert decode_jpeg(frame.jpeg).shape == (720, 1280)


def test_empty_slot_is_flat_and_full_slot_is_textured(example_store: StoreConfig) -> None:
    cam = camera(example_store)
    slots = [area.slot for area in cam.areas]
    full = decode_jpeg(cam.render({s.id: s.capacity for s in slots}).jpeg)
    empty = decode_jpeg(cam.render({s.id: 0 for s in slots}).jpeg)
    for slot in slots:
        empty_var = laplacian_variance(inside(empty, slot))
        full_var = laplacian_variance(inside(full, slot))
        assert empty_var < 15.0, (slot.id, empty_var)
        assert full_var > 20 * empty_var, (slot.id, full_var, empty_var)
        assert textured_share(inside(empty, slot)) < 0.05


def test_visible_facings_follow_units(example_store: StoreConfig) -> None:
    cam = camera(example_store)
    slots = [area.slot for area in cam.areas]
    for units_of in (lambda s: 1, lambda s: s.capacity // 2, lambda s: s.capacity):
        image = decode_jpeg(cam.render({s.id: units_of(s) for s in slots}).jpeg)
        for slot in slots:
            visible = math.ceil(slot.facings * units_of(slot) / slot.capacity) / slot.facings
            share = textured_share(inside(image, slot))
            assert abs(share - visible) < 0.2, (slot.id, units_of(slot), share, visible)


def test_a_passing_shopper_hides_slots_and_says_which(example_store: StoreConfig) -> None:
    cam = camera(example_store)
    units = {area.slot.id: 0 for area in cam.areas}
    frames = [cam.render(units, occlude=True) for _ in range(5)]
    assert all(frame.occluded for frame in frames)
    frame = frames[0]
    image = decode_jpeg(frame.jpeg)
    plain = decode_jpeg(cam.render(units).jpeg)
    for area in cam.areas:
        differs = np.abs(inside(image, area.slot).astype(int) - inside(plain, area.slot)).mean() > 10
        if area.slot.id in frame.occluded:
            assert differs, area.slot.id
        else:
            assert np.abs(inside(image, area.slot).astype(int) - inside(plain, area.slot)).mean() < 10


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
    assert wait_for(lambda: bool(collector.on(topic)), timeout=5.0)
    decoded = decode(topic, collector.on(topic)[0])
    assert isinstance(decoded, Image)
    image = decode_jpeg(decoded.jpeg)
    for shelf in sim.store.shelves_for_camera("cam-2r"):
        for slot in shelf.slots:
            units = sim.world.slot_units(slot.id)
            flat = laplacian_variance(inside(image, slot)) < 15.0
            assert flat == (units == 0), (slot.id, units)
    assert sim.world.slot_units("2r-2-3") == 0
