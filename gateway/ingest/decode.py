"""Turn raw MQTT messages into checked signals and device status, or rejections with a reason."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from smartstore.gateway.ingest.limits import RateLimits, SizeLimits, SourceBuckets
from smartstore.gateway.monitoring.devices import is_known_device
from smartstore.kernel.contract import payloads as p
from smartstore.kernel.contract.topics import Channel, Topic, TopicError
from smartstore.kernel.contract.validation import (
    Rejected,
    RejectReason,
    decode_json,
    model_for,
    storage_problem,
)
from smartstore.kernel.storeconfig import StoreConfig


@dataclass(frozen=True, slots=True)
class Inbound:
    """One received MQTT message, with what is needed to acknowledge it after the commit."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    generation: int  # connection it arrived on: acks only make sense on that same connection
    oversize: tuple[int, str] | None = None  # (real size, SHA-256) when `payload` is only its excerpt


@dataclass(frozen=True, slots=True)
class Route:
    """What a topic string means to the gateway, worked out once per distinct topic."""

    topic: Topic
    model: type[p.Envelope]
    store: StoreConfig
    kind: str  # signal type, or "status"
    source: str  # "{store}/{kind}/{device}/{signal type}": whose sequence numbers these are
    status: bool
    sender: tuple[str, str, str]  # (store, kind, device): whose rate limit it counts against


@dataclass(frozen=True, slots=True)
class Accepted:
    inbound: Inbound
    route: Route
    payload: p.ShelfSignal | p.StockSignal | p.PickupSignal | p.AlertSignal | p.DeviceStatus


@dataclass(frozen=True, slots=True)
class Refused:
    inbound: Inbound
    reason: RejectReason
    detail: str
    store_id: str | None = None


@dataclass(frozen=True, slots=True)
class Ignored:
    """Nothing to apply and nothing wrong: e.g. an empty payload that deletes a retained status."""

    inbound: Inbound


@dataclass(frozen=True, slots=True)
class _BadRoute:
    reason: RejectReason
    detail: str
    store_id: str | None = None


_INPUT_MODELS = (p.ShelfSignal, p.StockSignal, p.PickupSignal, p.AlertSignal, p.DeviceStatus)
_MAX_ROUTES = 10_000  # distinct topics remembered; garbage topics must not grow memory forever


class Classifier:
    """Decode with the wire contract, then check the payload against the store it names.

    The same steps as `validation.decode`, with the topic half (parsing, payload model, store and
    device lookups) cached per topic string: a gateway hears a few hundred distinct topics.
    """

    def __init__(
        self,
        stores: dict[str, StoreConfig],
        limits: SizeLimits | None = None,
        rates: RateLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stores = stores
        self._limits = limits or SizeLimits()
        self._routes: dict[str, Route | _BadRoute] = {}
        self.buckets = SourceBuckets(rates or RateLimits())
        self._clock = clock

    def classify(self, inbound: Inbound) -> Accepted | Refused | Ignored:
        raw = inbound.payload
        size = inbound.oversize[0] if inbound.oversize is not None else len(raw)
        limit = self._limits.for_topic(inbound.topic)
        if size > limit:
            # Before the topic is even looked at: a flood of large junk costs a length check.
            return Refused(inbound, RejectReason.TOO_LARGE, f"{size} bytes > {limit} allowed on this topic")
        if not raw and inbound.topic.endswith("/" + Channel.STATUS):
            return Ignored(inbound)
        route = self._routes.get(inbound.topic)
        if route is None:
            if len(self._routes) >= _MAX_ROUTES:
                self._routes.clear()
            route = self._routes[inbound.topic] = self._route(inbound.topic)
        if isinstance(route, _BadRoute):
            return Refused(inbound, route.reason, route.detail, route.store_id)
        if not self.buckets.admit(route.sender, self._clock()):
            # Before parsing: a flooding source costs a dict lookup and its dead letter, no more.
            detail = f"{'/'.join(route.sender)} sends more than its rate limit allows"
            return Refused(inbound, RejectReason.RATE_LIMITED, detail, route.topic.store)
        result = decode_json(route.topic, route.model, raw)
        if isinstance(result, Rejected):
            return Refused(inbound, result.reason, result.detail, route.topic.store)
        payload = result.payload
        # What the database would refuse is refused here, not by failing the whole batch's insert.
        unstorable = storage_problem(raw, payload)
        if unstorable is not None:
            return Refused(inbound, RejectReason.INVALID_PAYLOAD, unstorable, route.topic.store)
        if not route.status:
            problem = reference_problem(route.store, route.topic, payload)
            if problem is not None:
                return Refused(inbound, RejectReason.UNKNOWN_REFERENCE, problem, route.topic.store)
        return Accepted(inbound, route, payload)  # type: ignore[arg-type]

    def _route(self, text: str) -> Route | _BadRoute:
        try:
            topic = Topic.parse(text)
        except TopicError as error:
            return _BadRoute(RejectReason.BAD_TOPIC, str(error))
        model = model_for(topic)
        if model is None or not issubclass(model, _INPUT_MODELS):
            return _BadRoute(RejectReason.BAD_TOPIC, f"{text!r} is not a gateway input")
        store = self._stores.get(topic.store)
        if store is None:
            return _BadRoute(RejectReason.UNKNOWN_STORE, f"store {topic.store!r} is not served here")
        status = model is p.DeviceStatus
        if not status and topic.device not in store.devices.agents:
            detail = f"edge agent {topic.device!r} is not named in store {topic.store}'s devices.agents"
            return _BadRoute(RejectReason.UNKNOWN_REFERENCE, detail, topic.store)
        if status and not is_known_device(store, topic.kind, topic.device):
            detail = f"{topic.kind.value} {topic.device!r} is not a device of store {topic.store}"
            return _BadRoute(RejectReason.UNKNOWN_REFERENCE, detail, topic.store)
        signal_type = topic.signal_type
        kind = signal_type.value if signal_type is not None else "status"
        # The edge keeps one sequence per signal type (docs/protocol.md), so that is the source.
        source = f"{topic.store}/{topic.kind.value}/{topic.device}/{kind}"
        sender = (topic.store, topic.kind.value, topic.device)
        return Route(topic, model, store, kind, source, status, sender)


def reference_problem(store: StoreConfig, topic: Topic, payload: p.WireModel) -> str | None:
    """The first zone, GTIN, slot, camera, locker or device the store file does not know, as text."""
    store_id = store.store.id
    if isinstance(payload, p.StockSignal):
        zones = store.zones_by_id
        for zone in payload.zones:
            if zone not in zones:
                return f"zone {zone!r} is not a zone of store {store_id}"
        for item in payload.counts:
            if item.zone not in zones:
                return f"zone {item.zone!r} is not a zone of store {store_id}"
            if item.gtin not in store.products:
                return f"GTIN {item.gtin} is not in the catalog of store {store_id}"
        return None
    if isinstance(payload, p.ShelfSignal):
        if not any(camera.id == payload.camera for camera in store.devices.cameras):
            return f"camera {payload.camera!r} is not a camera of store {store_id}"
        for observation in payload.slots:
            placed = store.slots.get(observation.slot)
            if placed is None:
                return f"slot {observation.slot!r} is not in the planogram of store {store_id}"
            shelf, slot = placed
            if shelf.camera != payload.camera:
                return f"slot {observation.slot!r} is not watched by camera {payload.camera!r}"
            if slot.gtin != observation.gtin:
                return f"slot {observation.slot!r} holds GTIN {slot.gtin}, not {observation.gtin}"
        return None
    if isinstance(payload, p.PickupSignal):
        locker = next((lk for lk in store.devices.lockers if lk.id == payload.locker), None)
        if locker is None:
            return f"locker {payload.locker!r} is not a locker of store {store_id}"
        if not any(c.id == payload.compartment for c in locker.compartments):
            return f"compartment {payload.compartment!r} is not in locker {payload.locker!r}"
        for line in payload.lines:
            if line.gtin not in store.products:
                return f"GTIN {line.gtin} is not in the catalog of store {store_id}"
        return None
    return None
