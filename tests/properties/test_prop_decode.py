"""Property: every payload decoder takes any bytes on any topic and answers Decoded/Image or Rejected with a
reason, never an exception; the gateway's classifier likewise, with its rate limit and size limits."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smartstore.gateway.ingest.decode import Accepted, Classifier, Ignored, Inbound, Refused
from smartstore.gateway.ingest.limits import RateLimits
from smartstore.kernel.contract import payloads as p
from smartstore.kernel.contract import topics
from smartstore.kernel.contract.topics import Kind, SignalType, TelemetryType
from smartstore.kernel.contract.validation import (
    Decoded,
    Image,
    Rejected,
    RejectReason,
    decode,
    model_for,
    storage_problem,
)
from smartstore.kernel.storeconfig import EXAMPLE_STORE, load_store

STORE, AGENT = "store-berlin-01", "edge-1"
EVERY_TOPIC = [
    topics.rfid_reads(STORE, "reader-aisle-1"),
    topics.camera_image(STORE, "cam-1l"),
    topics.locker_event(STORE, "locker-1"),
    topics.locker_cmd(STORE, "locker-1"),
    topics.locker_ack(STORE, "locker-1"),
    topics.locker_manifest(STORE, "locker-1"),
    topics.locker_keypad(STORE, "locker-1"),
    topics.edge_snapshot(STORE, AGENT, "cam-1l"),
    *(topics.status(STORE, kind, "dev-1") for kind in Kind),
    *(topics.signal(STORE, AGENT, signal_type) for signal_type in SignalType),
    *(topics.edge_telemetry(STORE, AGENT, telemetry_type) for telemetry_type in TelemetryType),
]
FAST = settings(max_examples=150, deadline=1000, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


@st.composite
def model_shaped(draw: st.DrawFn, topic: str) -> bytes:
    """A JSON object with a valid envelope and the topic model's field names, holding arbitrary values:
    it gets past the envelope checks and probes every field's validation."""
    model = model_for(topics.Topic.parse(topic))
    names = sorted(model.model_fields) if model is not None else ["x"]
    body: dict[str, Any] = json.loads(json.dumps(p.envelope(draw(st.integers(0, 2**40))), default=str))
    for name in draw(st.lists(st.sampled_from(names), max_size=len(names), unique=True)):
        body[name] = draw(json_values)
    return json.dumps(body).encode()


def _check(topic: str, raw: bytes) -> None:
    result = decode(topic, raw)
    assert isinstance(result, Decoded | Image | Rejected)
    if isinstance(result, Rejected):
        assert isinstance(result.reason, RejectReason)
        assert result.detail
    elif isinstance(result, Decoded):
        # What decodes can be checked for storage, and encodes back to what decodes the same.
        problem = storage_problem(raw, result.payload)
        assert problem is None or ":" in problem
        again = decode(topic, p.encode(result.payload))
        assert isinstance(again, Decoded)
        assert again.payload == result.payload


@FAST
@given(st.sampled_from(EVERY_TOPIC), st.binary(max_size=300))
def test_arbitrary_bytes_on_every_topic(topic: str, raw: bytes) -> None:
    _check(topic, raw)


@FAST
@given(st.sampled_from(EVERY_TOPIC), json_values)
def test_arbitrary_json_on_every_topic(topic: str, value: object) -> None:
    _check(topic, json.dumps(value).encode())


@FAST
@given(st.sampled_from(EVERY_TOPIC).flatmap(lambda t: st.tuples(st.just(t), model_shaped(t))))
def test_model_shaped_json_on_every_topic(case: tuple[str, bytes]) -> None:
    _check(*case)


@FAST
@given(st.text(max_size=80), st.binary(max_size=64))
def test_arbitrary_topics(topic: str, raw: bytes) -> None:
    result = decode(topic, raw)
    assert isinstance(result, Decoded | Image | Rejected)


CLASSIFIER = Classifier(
    {STORE: load_store(EXAMPLE_STORE)}, rates=RateLimits(agent_per_s=1e9, agent_burst=10**9)
)
GATEWAY_TOPICS = [t for t in EVERY_TOPIC if "/signal/" in t or t.endswith("/status")]


@FAST
@given(
    st.sampled_from(GATEWAY_TOPICS) | st.text(max_size=60),
    st.binary(max_size=200) | st.sampled_from(GATEWAY_TOPICS).flatmap(model_shaped),
)
def test_the_gateway_classifier_never_raises(topic: str, raw: bytes) -> None:
    outcome = CLASSIFIER.classify(Inbound(topic, raw, 1, 1, 1))
    assert isinstance(outcome, Accepted | Refused | Ignored)
    if isinstance(outcome, Refused):
        assert outcome.detail
