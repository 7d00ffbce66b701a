"""ShelfFill on frames rendered here with OpenCV: textured products vs flat back panel, debounced states."""

from __future__ import annotations

import cv2
import pytest
from edge_helpers import FakeClock, flat_panel, jpeg, paint_products

from edge.config import ShelfSettings
from edge.processors.base import Rejection
from edge.processors.fill_estimate import FillEstimator, decode_gray
from edge.processors.shelf_fill import DECODE_ERROR, ShelfFill
from smartstore.contract import topics
from smartstore.contract.payloads import ShelfSignal, ShelfState, Signal
from smartstore.contract.topics import Topic
from smartstore.contract.validation import Image, RejectReason
from smartstore.storeconfig import Slot, StoreConfig

STORE = "store-berlin-01"
CAMERA = "cam-1l"


def camera_slots(store: StoreConfig) -> list[Slot]:
    return [slot for shelf in store.shelves_for_camera(CAMERA) for slot in shelf.slots]


def frame(store: StoreConfig, shares: dict[str, float], size: tuple[int, int] = (1280, 720)) -> bytes:
    """A camera frame where each slot is covered by product over `shares[slot]` of its width."""
    image = flat_panel()
    for index, slot in enumerate(camera_slots(store)):
        share = shares.get(slot.id, 0.0)
        if share > 0:
            paint_products(image, slot, share, seed=index)
    if size != (1280, 720):
        image = cv2.resize(image, size)
    return jpeg(image)


def image_message(data: bytes, camera: str = CAMERA) -> Image:
    return Image(Topic.parse(topics.camera_image(STORE, camera)), data)


def slot_states(signal: Signal) -> dict[str, ShelfState]:
    assert isinstance(signal, ShelfSignal)
    return {obs.slot: obs.state for obs in signal.slots}


@pytest.fixture
def shelf(example_store: StoreConfig, clock: FakeClock) -> ShelfFill:
    return ShelfFill(example_store, ShelfSettings(confirmations=2, snapshot_interval_s=60.0), clock.now)


def test_fill_follows_the_share_of_textured_columns(example_store: StoreConfig) -> None:
    slots = camera_slots(example_store)
    shares = {slot.id: [1.0, 0.0, 0.5, 0.3][i % 4] for i, slot in enumerate(slots)}
    estimator = FillEstimator()
    edges = estimator.edges(decode_gray(frame(example_store, shares)))
    for slot in slots:
        assert estimator.fill(edges, slot.polygon, (1.0, 1.0)) == pytest.approx(shares[slot.id], abs=0.08)


def test_slot_states_change_only_after_k_agreeing_frames(
    shelf: ShelfFill, example_store: StoreConfig, clock: FakeClock
) -> None:
    slots = camera_slots(example_store)
    full, empty, low = slots[0].id, slots[1].id, slots[2].id
    data = frame(example_store, {full: 1.0, empty: 0.0, low: 0.3})
    assert shelf.handle(image_message(data), clock.now) == []  # one frame proves nothing yet
    clock.advance(5)
    [signal] = shelf.handle(image_message(data), clock.now)
    states = slot_states(signal)
    assert states[full] is ShelfState.OK
    assert states[empty] is ShelfState.EMPTY
    assert states[low] is ShelfState.LOW
    assert len(states) == len(slots)  # every slot left 'unknown'
    clock.advance(5)
    assert shelf.handle(image_message(data), clock.now) == []  # nothing changed

    # A shopper's arm over the empty slot for one frame does not flip it; a restock seen twice does.
    restocked = frame(example_store, {full: 1.0, empty: 1.0, low: 0.3})
    clock.advance(5)
    assert shelf.handle(image_message(restocked), clock.now) == []
    clock.advance(5)
    assert shelf.handle(image_message(data), clock.now) == []
    clock.advance(5)
    assert shelf.handle(image_message(restocked), clock.now) == []
    clock.advance(5)
    [signal] = shelf.handle(image_message(restocked), clock.now)
    assert slot_states(signal) == {empty: ShelfState.OK}


def test_frames_of_another_size_are_scaled_to_the_planogram(
    shelf: ShelfFill, example_store: StoreConfig, clock: FakeClock
) -> None:
    first = camera_slots(example_store)[0].id
    data = frame(example_store, {first: 1.0}, size=(640, 360))
    shelf.handle(image_message(data), clock.now)
    shelf.handle(image_message(data), clock.now)
    states = shelf.states(CAMERA)
    assert states[first] is ShelfState.OK
    assert sum(state is ShelfState.EMPTY for state in states.values()) == len(states) - 1


def test_snapshot_repeats_every_slot_and_marks_a_silent_camera_stale(
    shelf: ShelfFill, example_store: StoreConfig, clock: FakeClock
) -> None:
    assert shelf.tick(clock.advance(61)) == []  # never saw a frame: no snapshot of 'unknown'
    data = frame(example_store, {})
    shelf.handle(image_message(data), clock.now)
    shelf.handle(image_message(data), clock.now)
    [snapshot] = shelf.tick(clock.advance(61))
    assert isinstance(snapshot, ShelfSignal)
    assert snapshot.snapshot
    assert len(snapshot.slots) == len(camera_slots(example_store))
    assert all(obs.state is ShelfState.EMPTY and obs.stale for obs in snapshot.slots)


def test_undecodable_and_unknown_camera_frames_are_rejected(shelf: ShelfFill, clock: FakeClock) -> None:
    with pytest.raises(Rejection) as caught:
        shelf.handle(image_message(b"\xff\xd8\xff" + b"\x00" * 200), clock.now)
    assert caught.value.reason == DECODE_ERROR
    with pytest.raises(Rejection) as caught:
        shelf.handle(image_message(jpeg(flat_panel()), camera="cam-9x"), clock.now)
    assert caught.value.reason == RejectReason.UNKNOWN_REFERENCE
