"""The locker keypad topic and its KeypadEntry payload (codes typed on the bank's own keypad)."""

from __future__ import annotations

import json

import pytest

from smartstore.kernel.contract import topics
from smartstore.kernel.contract.payloads import KeypadEntry
from smartstore.kernel.contract.topics import Channel, Kind, Topic
from smartstore.kernel.contract.validation import Decoded, Rejected, RejectReason, decode

STORE = "store-berlin-01"


def entry(**extra: object) -> bytes:
    base = {"v": 1, "id": "0f8fad5bd9cb469fa16570867728950e", "ts": "2025-03-01T10:00:00Z", "seq": 4}
    return json.dumps(base | {"request": "kp-4", "code": "04829130"} | extra).encode()


def test_keypad_topic_round_trips_and_has_a_filter() -> None:
    built = topics.locker_keypad(STORE, "locker-1")
    assert built == "smartstore/v1/store-berlin-01/locker/locker-1/keypad"
    assert Topic.parse(built) == Topic(STORE, Kind.LOCKER, "locker-1", (Channel.KEYPAD,))
    assert topics.locker_keypad_filter(STORE) == "smartstore/v1/store-berlin-01/locker/+/keypad"


def test_a_keypad_entry_decodes_with_leading_zeros_kept() -> None:
    result = decode(topics.locker_keypad(STORE, "locker-1"), entry())
    assert isinstance(result, Decoded)
    assert isinstance(result.payload, KeypadEntry)
    assert result.payload.code == "04829130"


@pytest.mark.parametrize("code", ["12345", "123456789", "12a456", " 123456", 123456])
def test_codes_that_are_not_6_to_8_digits_are_rejected(code: object) -> None:
    result = decode(topics.locker_keypad(STORE, "locker-1"), entry(code=code))
    assert isinstance(result, Rejected)
    assert result.reason is RejectReason.INVALID_PAYLOAD


def test_keypad_is_a_locker_channel_only() -> None:
    result = decode(f"smartstore/v1/{STORE}/rfid/reader-1/keypad", entry())
    assert isinstance(result, Rejected)
    assert result.reason is RejectReason.BAD_TOPIC
