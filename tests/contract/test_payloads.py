"""Every payload model accepts a good example and `decode` rejects bad input with the right reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from smartstore.kernel.contract import payloads as p
from smartstore.kernel.contract import topics
from smartstore.kernel.contract.topics import Kind, SignalType, TelemetryType
from smartstore.kernel.contract.validation import (
    JPEG_MAGIC,
    MAX_IMAGE_BYTES,
    MAX_JSON_BYTES,
    Decoded,
    Image,
    Rejected,
    RejectReason,
    decode,
    decode_gateway_presence,
)

STORE = "store-berlin-01"
MILK = "09506000100005"
OAT = "09506000100012"


def head(seq: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "v": 1,
        "id": "0f8fad5bd9cb469fa16570867728950e",
        "ts": "2025-03-01T10:00:00+01:00",
        "seq": seq,
    } | extra


# topic, good JSON payload, the model it must decode to
GOOD: list[tuple[str, dict[str, Any], type[p.Envelope]]] = [
    (
        topics.rfid_reads(STORE, "reader-aisle-1"),
        head(
            reads=[
                {
                    "epc": "3034257bf7194e4000001a85",
                    "antenna": 1,
                    "rssi": -52.5,
                    "ts": "2025-03-01T09:00:00Z",
                },
                {
                    "epc": "3034257BF7194E4000001A86",
                    "antenna": 2,
                    "rssi": -61,
                    "ts": "2025-03-01T09:00:00Z",
                    "count": 3,
                },
            ]
        ),
        p.ReadBatch,
    ),
    (
        topics.status(STORE, Kind.RFID, "reader-aisle-1"),
        head(
            state="online", firmware="7.4.1", info={"antennas": 2, "temp_c": 41.5, "gpio": True, "site": "B"}
        ),
        p.DeviceStatus,
    ),
    (
        topics.locker_event(STORE, "locker-1"),
        head(compartment="c01", event="door_closed", occupied=False, request="req-42"),
        p.LockerEvent,
    ),
    (
        topics.locker_cmd(STORE, "locker-1"),
        head(request="req-42", action="open", compartment="c01"),
        p.LockerCommand,
    ),
    (
        topics.locker_ack(STORE, "locker-1"),
        head(request="req-42", result="failed", reason="jammed"),
        p.LockerAck,
    ),
    (
        topics.signal(STORE, "edge-1", SignalType.SHELF),
        head(
            camera="cam-1l",
            slots=[
                {"slot": "1l-1-1", "gtin": MILK, "state": "low", "fill": 0.3, "confidence": 0.9},
                {"slot": "1l-1-2", "gtin": OAT, "state": "ok", "fill": 1.0, "stale": True},
            ],
            snapshot=True,
        ),
        p.ShelfSignal,
    ),
    (
        topics.signal(STORE, "edge-1", SignalType.STOCK),
        head(
            source="rfid",
            counts=[
                {"zone": "aisle-1", "gtin": MILK, "count": 4},
                {"zone": "aisle-1", "gtin": OAT, "count": 0},
            ],
            snapshot=True,
            zones=["aisle-1"],
        ),
        p.StockSignal,
    ),
    (
        topics.signal(STORE, "edge-1", SignalType.PICKUP),
        head(locker="locker-1", compartment="c01", order="ORD-1001", lines=[{"gtin": MILK, "quantity": 2}]),
        p.PickupSignal,
    ),
    (
        topics.signal(STORE, "edge-1", SignalType.ALERT),
        head(cause="rfid.zone_low:aisle-1:" + MILK, action="raise", severity="critical", message="2 left"),
        p.AlertSignal,
    ),
    (
        topics.edge_telemetry(STORE, "edge-1", TelemetryType.RFID),
        head(
            interval_s=10.0,
            readers=[
                {
                    "reader": "reader-aisle-1",
                    "online": True,
                    "reads_per_s": 182.4,
                    "unique_tags": 311,
                    "tags_in_zones": 305,
                    "read_ages": {"under_5s": 298, "under_30s": 5, "under_5min": 2, "older": 0},
                    "clock_offset_s": 0.04,
                }
            ],
            rejected_reads={"below_min_rssi": 12},
        ),
        p.RfidTelemetry,
    ),
]


def raw(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()


@pytest.mark.parametrize(("topic", "payload", "model"), GOOD, ids=[m.__name__ for _, _, m in GOOD])
def test_good_examples_decode_to_their_model(
    topic: str, payload: dict[str, Any], model: type[p.Envelope]
) -> None:
    result = decode(topic, raw(payload))
    assert isinstance(result, Decoded), result
    assert type(result.payload) is model
    assert str(result.topic) == topic
    assert result.payload.id == payload["id"]
    assert result.payload.ts == datetime(2025, 3, 1, 9, 0, tzinfo=UTC)  # normalised to UTC
    assert result.payload.ts.utcoffset() == timedelta(0)


@pytest.mark.parametrize(("topic", "payload", "model"), GOOD, ids=[m.__name__ for _, _, m in GOOD])
def test_encode_round_trips(topic: str, payload: dict[str, Any], model: type[p.Envelope]) -> None:
    first = decode(topic, raw(payload))
    assert isinstance(first, Decoded)
    again = decode(topic, p.encode(first.payload))
    assert isinstance(again, Decoded)
    assert again.payload == first.payload


def test_epcs_are_normalised_to_upper_case() -> None:
    result = decode(GOOD[0][0], raw(GOOD[0][1]))
    assert isinstance(result, Decoded)
    assert isinstance(result.payload, p.ReadBatch)
    assert result.payload.reads[0].epc == "3034257BF7194E4000001A85"


@pytest.mark.parametrize(
    ("rssi", "unit", "dbm"),
    [
        (-52.5, None, -52.5),
        (-525, None, -52.5),
        (-5250, None, -52.5),
        (-525, "dBm_x10", -52.5),
        (-60, "dBm", -60),
    ],
)
def test_rssi_units(rssi: float, unit: str | None, dbm: float) -> None:
    read = {"epc": "3034257BF7194E4000001A85", "antenna": 1, "rssi": rssi, "ts": "2025-03-01T09:00:00Z"}
    result = decode(READS, raw(head(reads=[read]) | ({"rssi_unit": unit} if unit else {})))
    assert isinstance(result, Decoded), result
    assert isinstance(result.payload, p.ReadBatch)
    assert p.rssi_to_dbm(result.payload.reads[0].rssi, result.payload.rssi_unit) == dbm


def test_envelope_helper_makes_fresh_ids_and_aware_times() -> None:
    first, second = p.envelope(1), p.envelope(2)
    assert first["id"] != second["id"]
    signal = p.AlertSignal(**p.envelope(7), cause="x", action="clear")
    assert signal.seq == 7
    assert signal.ts.tzinfo is not None


SHELF = topics.signal(STORE, "edge-1", SignalType.SHELF)
STOCK = topics.signal(STORE, "edge-1", SignalType.STOCK)
READS = topics.rfid_reads(STORE, "reader-aisle-1")
SLOT = {"slot": "1l-1-1", "gtin": MILK, "state": "ok", "fill": 0.9}


@pytest.mark.parametrize(
    ("topic", "body", "reason"),
    [
        (SHELF, b"{not json", RejectReason.INVALID_JSON),
        (SHELF, b"", RejectReason.INVALID_JSON),
        (SHELF, b"\xff\xfe\x00", RejectReason.INVALID_JSON),
        (SHELF, raw(head(v=2, camera="cam-1l", slots=[SLOT])), RejectReason.UNSUPPORTED_VERSION),
        (SHELF, raw(head(v="1", camera="cam-1l", slots=[SLOT])), RejectReason.UNSUPPORTED_VERSION),
        (SHELF, raw(head(camera="cam-1l", slots=[])), RejectReason.INVALID_PAYLOAD),  # min one slot
        (SHELF, raw(head(camera="cam-1l", slots=[SLOT | {"fill": 1.5}])), RejectReason.INVALID_PAYLOAD),
        (SHELF, raw(head(camera="cam-1l", slots=[SLOT | {"state": "half"}])), RejectReason.INVALID_PAYLOAD),
        (
            SHELF,
            raw(head(camera="cam-1l", slots=[SLOT | {"gtin": "09506000100006"}])),
            RejectReason.INVALID_PAYLOAD,
        ),
        (SHELF, raw(head(camera="cam/1l", slots=[SLOT])), RejectReason.INVALID_PAYLOAD),
        (
            SHELF,
            raw(head(camera="cam-1l", slots=[SLOT], colour="red")),
            RejectReason.INVALID_PAYLOAD,
        ),  # extra
        (
            SHELF,
            raw({"v": 1, "camera": "cam-1l", "slots": [SLOT]}),
            RejectReason.INVALID_PAYLOAD,
        ),  # no id/ts/seq
        (SHELF, raw(head(id="short", camera="cam-1l", slots=[SLOT])), RejectReason.INVALID_PAYLOAD),
        (
            SHELF,
            raw(head(ts="2025-03-01T10:00:00", camera="cam-1l", slots=[SLOT])),
            RejectReason.INVALID_PAYLOAD,
        ),
        (SHELF, raw(head(seq=-1, camera="cam-1l", slots=[SLOT])), RejectReason.INVALID_PAYLOAD),
        (SHELF, b"[1, 2, 3]", RejectReason.INVALID_PAYLOAD),
        (
            STOCK,
            raw(head(counts=[{"zone": "aisle-1", "gtin": MILK, "count": -1}])),
            RejectReason.INVALID_PAYLOAD,
        ),
        (STOCK, raw(head(source="scale", counts=[])), RejectReason.INVALID_PAYLOAD),
        (
            READS,
            raw(head(reads=[{"epc": "XYZ", "antenna": 1, "rssi": -50, "ts": "2025-03-01T09:00:00Z"}])),
            RejectReason.INVALID_PAYLOAD,
        ),
        (
            READS,
            raw(head(reads=[{"epc": "30342", "antenna": 0, "rssi": -50, "ts": "2025-03-01T09:00:00Z"}])),
            RejectReason.INVALID_PAYLOAD,
        ),
        (  # -525 dBm: the unit says dBm, the value is tenths
            READS,
            raw(
                head(
                    reads=[
                        {
                            "epc": "3034257BF7194E4000001A85",
                            "antenna": 1,
                            "rssi": -525,
                            "ts": "2025-03-01T09:00:00Z",
                        }
                    ],
                    rssi_unit="dBm",
                )
            ),
            RejectReason.INVALID_PAYLOAD,
        ),
        (
            READS,
            raw(
                head(
                    reads=[
                        {
                            "epc": "3034257BF7194E4000001A85",
                            "antenna": 1,
                            "rssi": -20000,
                            "ts": "2025-03-01T09:00:00Z",
                        }
                    ]
                )
            ),
            RejectReason.INVALID_PAYLOAD,
        ),
        (
            topics.locker_cmd(STORE, "locker-1"),
            raw(head(request="r", action="close", compartment="c01")),
            RejectReason.INVALID_PAYLOAD,
        ),
        # A well-formed payload for another topic is still invalid here.
        (READS, raw(GOOD[5][1]), RejectReason.INVALID_PAYLOAD),
        ("smartstore/v1/store-berlin-01/edge/edge-1/signal/price", raw(GOOD[5][1]), RejectReason.BAD_TOPIC),
        ("smartstore/v1/+/edge/edge-1/signal/shelf", raw(GOOD[5][1]), RejectReason.BAD_TOPIC),
        ("smartstore/v9/store-berlin-01/edge/edge-1/signal/shelf", raw(GOOD[5][1]), RejectReason.BAD_TOPIC),
        (SHELF, b" " * (MAX_JSON_BYTES + 1), RejectReason.TOO_LARGE),
    ],
)
def test_bad_messages_are_rejected_with_their_reason(topic: str, body: bytes, reason: RejectReason) -> None:
    result = decode(topic, body)
    assert isinstance(result, Rejected), result
    assert result.reason is reason
    assert result.detail  # a dead letter must say what was wrong


def test_invalid_payload_detail_names_the_field() -> None:
    result = decode(SHELF, raw(head(camera="cam-1l", slots=[SLOT | {"fill": 1.5}])))
    assert isinstance(result, Rejected)
    assert "slots.0.fill" in result.detail


def test_camera_images_must_be_jpeg_and_bounded() -> None:
    topic = topics.camera_image(STORE, "cam-1l")
    image = decode(topic, JPEG_MAGIC + b"\xe0rest-of-a-jpeg")
    assert isinstance(image, Image)
    assert image.topic.device == "cam-1l"
    png = decode(topic, b"\x89PNG\r\n\x1a\n....")
    assert isinstance(png, Rejected)
    assert png.reason is RejectReason.NOT_JPEG
    json_body = decode(topic, raw(head()))
    assert isinstance(json_body, Rejected)
    assert json_body.reason is RejectReason.NOT_JPEG
    huge = decode(topic, JPEG_MAGIC + bytes(MAX_IMAGE_BYTES))
    assert isinstance(huge, Rejected)
    assert huge.reason is RejectReason.TOO_LARGE


def test_timestamps_in_other_zones_are_the_same_instant() -> None:
    berlin = timezone(timedelta(hours=1))
    signal = p.AlertSignal(
        v=1, id="abcdefgh", ts=datetime(2025, 3, 1, 10, tzinfo=berlin), seq=0, cause="c", action="clear"
    )
    assert signal.ts == datetime(2025, 3, 1, 9, tzinfo=UTC)
    assert signal.ts.tzinfo == UTC


def test_gateway_presence_decodes_as_a_status_and_nothing_else_does() -> None:
    presence = topics.gateway_presence("gw-1")
    online = p.DeviceStatus(**p.envelope(1), state=p.DeviceState.ONLINE)
    decoded = decode_gateway_presence(presence, p.encode(online))
    assert isinstance(decoded, p.DeviceStatus)
    assert decoded.state is p.DeviceState.ONLINE
    refused = decode_gateway_presence(presence, b"{not json")
    assert isinstance(refused, Rejected)
    assert refused.reason is RejectReason.INVALID_JSON
    store_level = topics.status(STORE, topics.Kind.GATEWAY, "gw-1")
    assert decode_gateway_presence(store_level, p.encode(online)) is None
