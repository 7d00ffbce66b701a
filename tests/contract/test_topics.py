"""Topic names: builders round-trip through Topic.parse; wildcards, bad kinds and channels are refused."""

from __future__ import annotations

import pytest

from smartstore.kernel.contract import topics
from smartstore.kernel.contract.topics import Kind, SignalType, TelemetryType, Topic, TopicError

STORE = "store-berlin-01"


@pytest.mark.parametrize(
    ("built", "expected"),
    [
        (topics.rfid_reads(STORE, "reader-1"), "smartstore/v1/store-berlin-01/rfid/reader-1/reads"),
        (topics.camera_image(STORE, "cam-1l"), "smartstore/v1/store-berlin-01/camera/cam-1l/image"),
        (topics.locker_event(STORE, "locker-1"), "smartstore/v1/store-berlin-01/locker/locker-1/event"),
        (topics.locker_cmd(STORE, "locker-1"), "smartstore/v1/store-berlin-01/locker/locker-1/cmd"),
        (topics.locker_ack(STORE, "locker-1"), "smartstore/v1/store-berlin-01/locker/locker-1/ack"),
        (topics.status(STORE, Kind.GATEWAY, "gw-1"), "smartstore/v1/store-berlin-01/gateway/gw-1/status"),
        (
            topics.signal(STORE, "edge-1", SignalType.SHELF),
            "smartstore/v1/store-berlin-01/edge/edge-1/signal/shelf",
        ),
        (
            topics.edge_telemetry(STORE, "edge-1", TelemetryType.RFID),
            "smartstore/v1/store-berlin-01/edge/edge-1/telemetry/rfid",
        ),
    ],
)
def test_builders_produce_the_documented_names(built: str, expected: str) -> None:
    assert built == expected
    assert str(Topic.parse(built)) == built


@pytest.mark.parametrize("signal_type", list(SignalType))
def test_signal_topics_parse_to_their_type(signal_type: SignalType) -> None:
    parsed = Topic.parse(topics.signal(STORE, "edge-1", signal_type))
    assert parsed.kind is Kind.EDGE
    assert parsed.device == "edge-1"
    assert parsed.signal_type is signal_type


def test_telemetry_topics_are_not_signals() -> None:
    parsed = Topic.parse(topics.edge_telemetry(STORE, "edge-1", TelemetryType.RFID))
    assert parsed.telemetry_type is TelemetryType.RFID
    assert parsed.signal_type is None


def test_device_topics_have_no_signal_type() -> None:
    assert Topic.parse(topics.rfid_reads(STORE, "r1")).signal_type is None
    assert Topic.parse(topics.status(STORE, Kind.EDGE, "edge-1")).signal_type is None


@pytest.mark.parametrize("identifier", ["+", "#", "a/b", "", "-leading-dash", "x" * 65, "space here", "ü"])
def test_builders_refuse_identifiers_that_are_not_one_plain_level(identifier: str) -> None:
    with pytest.raises(TopicError):
        topics.rfid_reads(STORE, identifier)
    with pytest.raises(TopicError):
        topics.rfid_reads(identifier, "reader-1")


@pytest.mark.parametrize(
    "text",
    [
        "smartstore/v1/+/rfid/reader-1/reads",  # wildcard store
        "smartstore/v1/store/rfid/+/reads",  # wildcard device
        "smartstore/v1/store/rfid/#",  # too short and a wildcard
        "smartstore/v1/store/edge/edge-1/signal/#",
        "smartstore/v2/store/rfid/reader-1/reads",  # other contract version
        "other/v1/store/rfid/reader-1/reads",
        "smartstore/v1/store/printer/p-1/status",  # unknown kind
        "smartstore/v1/store/rfid/reader-1/image",  # channel of another kind
        "smartstore/v1/store/camera/cam-1/reads",
        "smartstore/v1/store/locker/locker-1/open",  # unknown channel
        "smartstore/v1/store/rfid/reader-1/reads/extra",
        "smartstore/v1/store/edge/edge-1/signal/price",  # unknown signal type
        "smartstore/v1/store/edge/edge-1/signal",
        "smartstore/v1/store/gateway/gw/signal/shelf",  # signals come from edge agents only
        "smartstore/v1/store/rfid/reader-1",
        "smartstore/v1/store/edge/edge-1/telemetry/camera",  # unknown telemetry type
        "smartstore/v1/store/rfid/reader-1/telemetry/rfid",  # telemetry comes from edge agents only
        "",
    ],
)
def test_parse_rejects_everything_outside_the_contract(text: str) -> None:
    with pytest.raises(TopicError):
        Topic.parse(text)


def test_subscription_filters_cover_exactly_their_topics() -> None:
    assert topics.signals_filter() == "smartstore/v1/+/edge/+/signal/+"
    assert topics.signals_filter(STORE) == "smartstore/v1/store-berlin-01/edge/+/signal/+"
    assert topics.telemetry_filter(STORE) == "smartstore/v1/store-berlin-01/edge/+/telemetry/+"
    assert topics.status_filter(STORE) == "smartstore/v1/store-berlin-01/+/+/status"
    assert topics.locker_cmd_filter(STORE) == "smartstore/v1/store-berlin-01/locker/+/cmd"
    assert topics.device_data_filters(STORE) == [
        "smartstore/v1/store-berlin-01/rfid/+/reads",
        "smartstore/v1/store-berlin-01/camera/+/image",
        "smartstore/v1/store-berlin-01/locker/+/event",
        "smartstore/v1/store-berlin-01/locker/+/ack",
    ]
    with pytest.raises(TopicError):
        topics.signals_filter("#")


def test_gateway_presence_lies_outside_every_store() -> None:
    presence = topics.gateway_presence("gw-1")
    assert presence == "smartstore/v1/_gateways/gw-1/presence"
    assert topics.parse_gateway_presence(presence) == "gw-1"
    # No store can be called "_gateways", and no store-level topic is read as a presence.
    with pytest.raises(TopicError):
        Topic.parse(presence)
    with pytest.raises(TopicError):
        topics.status("_gateways", Kind.GATEWAY, "gw-1")
    assert topics.parse_gateway_presence(topics.status(STORE, Kind.GATEWAY, "gw-1")) is None
    assert topics.parse_gateway_presence("smartstore/v1/_gateways/+/presence") is None
    assert topics.parse_gateway_presence("smartstore/v1/_gateways/gw-1/presence/x") is None


def matches(topic_filter: str, topic: str) -> bool:
    """MQTT filter matching (+ one level, # the rest), as a broker does it."""
    levels, parts = topic_filter.split("/"), topic.split("/")
    for index, level in enumerate(levels):
        if level == "#":
            return True
        if index >= len(parts) or (level != "+" and level != parts[index]):
            return False
    return len(levels) == len(parts)


def test_presence_is_matched_by_its_filter_and_by_no_store_filter() -> None:
    presence = topics.gateway_presence("gw-1")
    assert matches(topics.gateway_presence_filter(), presence)
    store_filters = [
        topics.status_filter(),
        topics.status_filter(STORE),
        topics.signals_filter(),
        *topics.device_data_filters(STORE),
    ]
    assert not [f for f in store_filters if matches(f, presence)]
    assert matches(topics.status_filter(), topics.status(STORE, Kind.EDGE, "edge-1"))  # the helper works
