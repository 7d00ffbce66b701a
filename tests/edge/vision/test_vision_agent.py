"""Shelf vision in the real edge agent: frames over Mosquitto or from a video file; signals, snapshots out."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from edge_helpers import Broker, Collector, fast_edge_settings, flat_panel, jpeg, publish, wait_for
from vision_models import shelf_model, slot_box

from smartstore.edge.agent import EdgeAgent
from smartstore.edge.vision.settings import MotionSettings, VisionSettings
from smartstore.edge.vision.slots import SlotFillSettings
from smartstore.kernel.contract import topics
from smartstore.kernel.contract.payloads import ShelfSignal, ShelfState
from smartstore.kernel.contract.validation import Decoded, decode
from smartstore.kernel.storeconfig import StoreConfig, parse_store

STORE = "store-berlin-01"
CAMERA = "cam-1l"


@pytest.fixture
def started() -> Iterator[list[EdgeAgent]]:
    agents: list[EdgeAgent] = []
    yield agents
    for agent in agents:
        agent.stop(flush_timeout=1.0)


def vision(model: Path) -> VisionSettings:
    return VisionSettings(
        model_path=model,
        motion=MotionSettings(settle_s=0.2, recheck_s=600.0, stale_window_s=0.1),
        slots=SlotFillSettings(confirmations=2),
        confirm_interval_s=0.0,
    )


def stocked_model(store: StoreConfig, path: Path) -> tuple[Path, str, str]:
    """A model that sees slot 1 of cam-1l full and slot 2 empty; returns (model, slot 1, slot 2)."""
    one, two = [slot for shelf in store.shelves_for_camera(CAMERA) for slot in shelf.slots][:2]
    return shelf_model(path, [slot_box(one)], [slot_box(two)]), one.id, two.id


def shelf_states(collector: Collector) -> dict[str, ShelfState]:
    seen: dict[str, ShelfState] = {}
    for topic, payload in collector.snapshot():
        result = decode(topic, payload)
        if isinstance(result, Decoded) and isinstance(result.payload, ShelfSignal):
            seen.update({obs.slot: obs.state for obs in result.payload.slots if not obs.stale})
    return seen


def test_mqtt_frames_give_shelf_signals_and_a_retained_annotated_snapshot(
    mosquitto: Broker, example_store: StoreConfig, tmp_path: Path, started: list[EdgeAgent]
) -> None:
    model, full, empty = stocked_model(example_store, tmp_path / "model.onnx")
    settings = fast_edge_settings(tmp_path / "state", mosquitto.settings, vision=vision(model))
    agent = EdgeAgent(settings, example_store)
    started.append(agent)
    agent.start()
    assert agent.wait_connected()
    collector = Collector(mosquitto.settings, topics.signals_filter(STORE), "vision-signals")
    frame = jpeg(cv2.cvtColor(flat_panel(), cv2.COLOR_GRAY2BGR))

    for _ in range(4):
        publish(mosquitto.settings, [(topics.camera_image(STORE, CAMERA), frame)])
        time.sleep(0.3)

    assert wait_for(lambda: shelf_states(collector).get(full) is ShelfState.OK)
    assert shelf_states(collector)[empty] is ShelfState.EMPTY
    saved = tmp_path / "state" / "snapshots" / f"{CAMERA}.jpg"
    assert saved.is_file()
    # Retained: a dashboard connecting afterwards still gets the latest annotated picture at once.
    late = Collector(mosquitto.settings, topics.snapshot_filter(STORE), "vision-dashboard")
    assert wait_for(lambda: len(late.snapshot()) >= 1)
    topic, payload = late.snapshot()[-1]
    assert topic == topics.edge_snapshot(STORE, settings.agent_id, CAMERA)
    image = cv2.imdecode(np.frombuffer(payload, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    assert image.shape[:2] == (180, 320)  # decoded at 1/4: 1280 px / 4 is still the model's 320 px
    collector.close()
    late.close()


def test_a_video_file_source_feeds_the_same_pipeline(
    mosquitto: Broker, example_store: StoreConfig, tmp_path: Path, started: list[EdgeAgent]
) -> None:
    video = tmp_path / "shelf.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"MJPG"), 20.0, (1280, 720))
    assert writer.isOpened()
    panel = cv2.cvtColor(flat_panel(), cv2.COLOR_GRAY2BGR)
    for _ in range(20):
        writer.write(panel)
    writer.release()
    data = example_store.model_dump(mode="json")
    for camera in data["devices"]["cameras"]:
        if camera["id"] == CAMERA:
            camera.update(source=str(video), interval_s=0.1)
    store = parse_store(data)
    model, full, empty = stocked_model(store, tmp_path / "model.onnx")
    settings = fast_edge_settings(tmp_path / "state", mosquitto.settings, vision=vision(model))
    agent = EdgeAgent(settings, store)
    started.append(agent)
    collector = Collector(mosquitto.settings, topics.signals_filter(STORE), "vision-file-signals")
    agent.start()

    assert wait_for(lambda: shelf_states(collector).get(full) is ShelfState.OK, timeout=10)
    assert shelf_states(collector)[empty] is ShelfState.EMPTY
    [processor] = [p for p in agent.processors if p.name == "shelf_vision"]
    assert processor.counters["frames"] >= 2
    # The same camera over MQTT is refused: it has a capture source of its own.
    publish(mosquitto.settings, [(topics.camera_image(STORE, CAMERA), jpeg(panel))])
    assert wait_for(lambda: agent.dead_letters.counts.get("unknown_reference", 0) == 1)
    collector.close()
