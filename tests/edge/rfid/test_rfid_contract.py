"""The contract and store-file additions of the RFID pipeline: RSSI units, telemetry topic, zone profiles."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rfid_helpers import START, STORE, iso, small_store, store_data

from smartstore.kernel.contract import topics
from smartstore.kernel.contract.payloads import ReadBatch
from smartstore.kernel.contract.topics import Kind, TelemetryType, Topic, TopicError
from smartstore.kernel.contract.validation import Decoded, Rejected, RejectReason, decode
from smartstore.kernel.storeconfig import Area, Departure, StoreConfigError, parse_store


def batch(rssi: float, unit: str | None = None) -> bytes:
    payload: dict[str, Any] = {"v": 1, "id": "0f8fad5bd9cb469fa16570867728950e", "ts": iso(START), "seq": 1}
    if unit is not None:
        payload["rssi_unit"] = unit
    payload["reads"] = [{"epc": "3034257BF7194E4000001A85", "antenna": 1, "rssi": rssi, "ts": iso(START)}]
    return json.dumps(payload).encode()


@pytest.mark.parametrize(
    ("rssi", "unit", "valid"),
    [
        (-52.5, None, True),
        (-525, None, True),
        (-5250, None, True),
        (-525, "dBm_x10", True),
        (-5250, "dBm_x100", True),
        (-525, "dBm", False),  # -525 dBm is not an RSSI
        (-5250, "dBm_x10", False),
        (-20000, None, False),
        (-52.5, "mW", False),
    ],
)
def test_read_batch_rssi_units(rssi: float, unit: str | None, valid: bool) -> None:
    result = decode(topics.rfid_reads(STORE, "reader-a1"), batch(rssi, unit))
    if valid:
        assert isinstance(result, Decoded)
        assert isinstance(result.payload, ReadBatch)
        assert result.payload.reads[0].rssi == rssi
    else:
        assert isinstance(result, Rejected)
        assert result.reason is RejectReason.INVALID_PAYLOAD


def test_telemetry_topic_and_filter() -> None:
    topic = topics.edge_telemetry(STORE, "edge-1", TelemetryType.RFID)
    assert topic == f"smartstore/v1/{STORE}/edge/edge-1/telemetry/rfid"
    parsed = Topic.parse(topic)
    assert (parsed.kind, parsed.telemetry_type, parsed.signal_type) == (Kind.EDGE, TelemetryType.RFID, None)
    assert topics.telemetry_filter(STORE) == f"smartstore/v1/{STORE}/edge/+/telemetry/+"
    with pytest.raises(TopicError):
        Topic.parse(f"smartstore/v1/{STORE}/edge/edge-1/telemetry/vision")
    with pytest.raises(TopicError):
        Topic.parse(f"smartstore/v1/{STORE}/rfid/reader-1/telemetry/rfid")


def test_zone_profiles_and_departure_kinds_default_by_area() -> None:
    store = small_store()
    zones = store.zones_by_id
    assert zones["aisle-1"].mobility_profile.threshold_db == 6.0
    assert zones["exit"].mobility_profile.min_reads == 2
    assert zones["exit"].area is Area.EXIT
    assert zones["exit"].departure_kind is Departure.EXIT
    assert zones["pos"].departure_kind is Departure.POINT_OF_SALE
    assert zones["aisle-1"].departure_kind is Departure.TIMEOUT


def test_a_rising_mobility_slope_is_rejected_by_location() -> None:
    data = store_data()
    data["zones"][1]["mobility"] = {"slope_db_per_s": 0.5}
    with pytest.raises(StoreConfigError) as caught:
        parse_store(data, "store.yaml")
    assert caught.value.errors == [
        "zones[1].mobility.slope_db_per_s: Input should be less than or equal to 0"
    ]
