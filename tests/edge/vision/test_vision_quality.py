"""The shipped detector through the real processor on the simulator's camera frames (skipped without it)."""

from __future__ import annotations

import pytest

from smartstore.devices.sim.camera import ShelfCamera
from smartstore.edge.vision.processor import ShelfVisionProcessor
from smartstore.edge.vision.settings import VisionSettings
from smartstore.kernel.contract import topics
from smartstore.kernel.contract.payloads import ShelfSignal, ShelfState, Signal
from smartstore.kernel.contract.topics import Topic
from smartstore.kernel.contract.validation import Image
from smartstore.kernel.storeconfig import StoreConfig

SHIPPED = VisionSettings().model_path
pytestmark = pytest.mark.skipif(
    not SHIPPED.is_file(), reason=f"no shipped model at {SHIPPED}: detector quality not checked"
)
CAMERA = "cam-1l"
START = 1_750_000_000.0


def test_shipped_model_reads_the_simulated_shelf_and_shoppers_empty_nothing(
    example_store: StoreConfig,
) -> None:
    config = next(camera for camera in example_store.devices.cameras if camera.id == CAMERA)
    shelves = example_store.shelves_for_camera(CAMERA)
    slots = [slot for shelf in shelves for slot in shelf.slots]
    camera = ShelfCamera(config, shelves, seed=3)
    empty = {slot.id for slot in slots[::5]}
    units = {slot.id: 0 if slot.id in empty else slot.capacity for slot in slots}
    processor = ShelfVisionProcessor(example_store, VisionSettings(annotated_snapshots=False), START)
    topic = Topic.parse(topics.camera_image(example_store.store.id, CAMERA))

    def shoot(t: float, occlude: bool = False) -> list[Signal]:
        return processor.handle(Image(topic, camera.render(units, occlude).jpeg), START + t)

    for t in (0, 5, 10):
        shoot(t)
    states = processor.states(CAMERA)
    truth = {slot: "empty" if slot in empty else "ok" for slot in units}
    wrong = {slot: state for slot, state in states.items() if state != truth[slot]}
    assert not [slot for slot in wrong if wrong[slot] == "empty"], f"stocked slots read empty: {wrong}"
    assert len(wrong) <= len(slots) // 10, f"{len(wrong)} of {len(slots)} slots misread: {wrong}"

    # Shoppers pass for a while: whatever the detector makes of them, no stocked slot becomes empty.
    later: list[Signal] = []
    for step in range(40):
        later += shoot(15 + 5 * step, occlude=step % 3 != 2)
    for signal in later:
        assert isinstance(signal, ShelfSignal)
        for obs in signal.slots:
            assert not (obs.state is ShelfState.EMPTY and obs.slot not in empty), obs
