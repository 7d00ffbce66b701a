"""The edge agent's annotated camera snapshot topic: built, parsed, filtered and decoded as binary JPEG."""

from __future__ import annotations

import pytest

from smartstore.kernel.contract import topics
from smartstore.kernel.contract.topics import Kind, Topic, TopicError
from smartstore.kernel.contract.validation import Image, Rejected, RejectReason, decode

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32


def test_snapshot_topic_round_trips_and_names_its_camera() -> None:
    text = topics.edge_snapshot("store-1", "edge-1", "cam-1l")
    topic = Topic.parse(text)

    assert text == "smartstore/v1/store-1/edge/edge-1/snapshot/cam-1l"
    assert (topic.kind, topic.device, topic.snapshot_camera) == (Kind.EDGE, "edge-1", "cam-1l")
    assert topic.signal_type is None
    assert Topic.parse(topics.signal("store-1", "edge-1", topics.SignalType.SHELF)).snapshot_camera is None
    assert topics.snapshot_filter() == "smartstore/v1/+/edge/+/snapshot/+"
    assert topics.snapshot_filter("store-1") == "smartstore/v1/store-1/edge/+/snapshot/+"


@pytest.mark.parametrize(
    "text",
    [
        "smartstore/v1/store-1/edge/edge-1/snapshot",
        "smartstore/v1/store-1/edge/edge-1/snapshot/cam-1/extra",
        "smartstore/v1/store-1/edge/edge-1/snapshot/+",
        "smartstore/v1/store-1/camera/cam-1/snapshot/cam-1",
    ],
)
def test_malformed_snapshot_topics_are_refused(text: str) -> None:
    with pytest.raises(TopicError):
        Topic.parse(text)


def test_bad_camera_id_cannot_build_a_topic() -> None:
    with pytest.raises(TopicError):
        topics.edge_snapshot("store-1", "edge-1", "cam/1")


def test_snapshot_payload_decodes_as_an_image_and_must_be_jpeg() -> None:
    text = topics.edge_snapshot("store-1", "edge-1", "cam-1l")

    image = decode(text, JPEG)
    rejected = decode(text, b"GIF89a")

    assert isinstance(image, Image)
    assert image.topic.snapshot_camera == "cam-1l"
    assert isinstance(rejected, Rejected)
    assert rejected.reason is RejectReason.NOT_JPEG
