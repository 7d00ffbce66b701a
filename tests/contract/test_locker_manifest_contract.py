"""Locker manifest topic and payload, and the pickup/load request ids of locker commands."""

from __future__ import annotations

import json

import pytest

from smartstore.kernel.contract import payloads as p
from smartstore.kernel.contract import topics
from smartstore.kernel.contract.topics import Channel, Kind, Topic
from smartstore.kernel.contract.validation import Decoded, Rejected, RejectReason, decode

STORE = "store-berlin-01"
HASH = "scrypt$8192$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"


def manifest(**extra: object) -> dict[str, object]:
    return {
        "v": 1,
        "id": "0f8fad5bd9cb469fa16570867728950e",
        "ts": "2025-03-01T10:00:00Z",
        "seq": 3,
        "locker": "locker-1",
        "orders": [
            {
                "order": "ORD-7K2M9Q",
                "compartment": "c07",
                "code_hash": HASH,
                "expires_at": "2025-03-04T10:00:00+01:00",
                "lines": [{"gtin": "09506000100005", "quantity": 2}],
            }
        ],
    } | extra


def test_manifest_topic_round_trips() -> None:
    built = topics.locker_manifest(STORE, "locker-1")
    assert built == "smartstore/v1/store-berlin-01/locker/locker-1/manifest"
    parsed = Topic.parse(built)
    assert parsed.kind is Kind.LOCKER
    assert parsed.channel == (Channel.MANIFEST,)
    assert topics.locker_manifest_filter(STORE) == "smartstore/v1/store-berlin-01/locker/+/manifest"


def test_manifest_decodes_with_utc_expiry() -> None:
    decoded = decode(topics.locker_manifest(STORE, "locker-1"), json.dumps(manifest()).encode())
    assert isinstance(decoded, Decoded)
    payload = decoded.payload
    assert isinstance(payload, p.LockerManifest)
    assert payload.orders[0].expires_at.isoformat() == "2025-03-04T09:00:00+00:00"


def test_empty_manifest_is_valid() -> None:
    decoded = decode(topics.locker_manifest(STORE, "locker-1"), json.dumps(manifest(orders=[])).encode())
    assert isinstance(decoded, Decoded)


@pytest.mark.parametrize(
    "change",
    [
        {"locker": "a/b"},
        {
            "orders": [
                {
                    "order": "ORD-1",
                    "compartment": "c01",
                    "code_hash": "",
                    "expires_at": "2025-03-04T10:00:00Z",
                }
            ]
        },
        {
            "orders": [
                {
                    "order": "ORD-1",
                    "compartment": "c01",
                    "code_hash": HASH,
                    "expires_at": "2025-03-04T10:00:00",
                }
            ]
        },
        {"code": "482913"},
    ],
)
def test_bad_manifests_are_rejected(change: dict[str, object]) -> None:
    decoded = decode(topics.locker_manifest(STORE, "locker-1"), json.dumps(manifest(**change)).encode())
    assert isinstance(decoded, Rejected)
    assert decoded.reason is RejectReason.INVALID_PAYLOAD


@pytest.mark.parametrize("purpose", list(p.LockerRequestPurpose))
def test_request_ids_round_trip(purpose: p.LockerRequestPurpose) -> None:
    text = p.locker_request(purpose, "ORD-7K2M9Q", 2)
    assert text == f"{purpose.value}:ORD-7K2M9Q:2"
    assert p.parse_locker_request(text) == p.LockerRequest(purpose, "ORD-7K2M9Q", 2)


@pytest.mark.parametrize(
    "text", [None, "", "req-42", "pickup:ORD-1", "open:ORD-1:1", "pickup::1", "load:O:x"]
)
def test_other_request_ids_parse_to_none(text: str | None) -> None:
    assert p.parse_locker_request(text) is None


def test_request_id_refuses_orders_it_cannot_carry() -> None:
    with pytest.raises(ValueError, match="request id"):
        p.locker_request(p.LockerRequestPurpose.PICKUP, "a:b")
    with pytest.raises(ValueError, match="request id"):
        p.locker_request(p.LockerRequestPurpose.PICKUP, "x" * 60)
