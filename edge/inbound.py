"""What the MQTT thread hands the dispatcher: one received message, and how its topic is routed."""

from __future__ import annotations

from dataclasses import dataclass

from smartstore.kernel.contract.topics import Channel, Kind, Topic, TopicError


@dataclass(frozen=True, slots=True)
class Inbound:
    topic: str
    payload: bytes
    camera: str | None = None  # set for frames: the payload waits in the latest-frame slot instead
    mid: int = 0  # QoS 1: acknowledged once handled and its signals stored
    generation: int = 0  # the connection it came on: a message id means nothing on another


STOP = Inbound("", b"")


def rfid_reads_topic(topic_text: str) -> Topic | None:
    try:
        topic = Topic.parse(topic_text)
    except TopicError:
        return None  # the generic path dead-letters it with the reason
    if topic.kind is Kind.RFID and topic.channel == (Channel.READS,):
        return topic
    return None


def camera_of(topic_text: str) -> str | None:
    try:
        topic = Topic.parse(topic_text)
    except TopicError:
        return None
    if topic.kind is Kind.CAMERA and topic.channel == (Channel.IMAGE,):
        return topic.device
    return None
