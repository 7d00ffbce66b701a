"""One way to connect to the broker: URL settings, retained status and Last Will, resubscribe, hooks."""

from __future__ import annotations

import logging
import os
import ssl
import threading
from collections.abc import Callable
from typing import Literal
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from pydantic import BaseModel, ConfigDict, Field, field_validator

from smartstore.kernel.contract import topics
from smartstore.kernel.contract.payloads import DeviceState, DeviceStatus, encode, envelope

logger = logging.getLogger(__name__)

MessageHandler = Callable[[paho.MQTTMessage], None]
LinkHook = Callable[[], None]
# (topic filter, granted): one call per filter answered in a SUBACK.
SubscribedHook = Callable[[str, bool], None]
# (message id, acked): the broker's answer to a QoS 1 publish (QoS 0: once written to the socket).
PublishedHook = Callable[[int, bool], None]
# Builds the status message for a state and seq; devices with facts to announce (firmware, health) pass one.
StatusBuilder = Callable[[DeviceState, int], DeviceStatus]


def bare_status(state: DeviceState, seq: int) -> DeviceStatus:
    return DeviceStatus(**envelope(seq), state=state)


class MqttSettings(BaseModel):
    """Broker connection: mqtt://[user:password@]host[:port] or mqtts:// for TLS."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field("mqtt://127.0.0.1:1883", description="Broker URL.")
    protocol: Literal["5", "3.1.1"] = Field("5", description="MQTT protocol version.")
    keepalive_s: int = Field(30, ge=5, le=3600)
    ca_file: str | None = Field(None, description="CA bundle for mqtts:// brokers.")

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError("must look like mqtt://host:port or mqtts://host:port")
        return value

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        parts = urlsplit(self.url)
        return parts.port or (8883 if parts.scheme == "mqtts" else 1883)

    @property
    def username(self) -> str | None:
        name = urlsplit(self.url).username
        return unquote(name) if name else None

    @property
    def password(self) -> str | None:
        # A password in the environment keeps it out of process listings and compose files.
        secret = urlsplit(self.url).password
        return unquote(secret) if secret else os.environ.get("SMARTSTORE_MQTT_PASSWORD")


class MqttLink:
    """A paho client that announces itself (retained status + Last Will) and resubscribes on connect.

    Several services may share one link: each subscribes with its own handler, messages are routed
    with paho's topic matching, and each registers the hooks it needs (connected, disconnected,
    subscribed, published). Nothing else touches paho's callbacks. Handlers and hooks run on paho's
    network thread; one that raises is logged and never kills the loop.
    """

    def __init__(
        self,
        settings: MqttSettings,
        client_id: str,
        *,
        status_topic: str | None = None,
        clean_start: bool = True,
        manual_ack: bool = False,
        receive_maximum: int = 1000,
        status_builder: StatusBuilder = bare_status,
    ) -> None:
        self.settings = settings
        self.status_topic = status_topic
        self.connected = threading.Event()
        # The last CONNACK's session present flag: False means the broker holds nothing of ours (a new
        # session, or a broker that lost its state); read it in an on_connected hook.
        self.session_present = False
        # Set once every subscription of the current connection is granted.
        self.subscribed = threading.Event()
        self._seq = 0
        # Statuses are built on paho's thread (announce on connect) and the owner's (updates): one seq.
        self._seq_lock = threading.Lock()
        self._status_builder = status_builder
        self._clean_start = clean_start
        self._receive_maximum = receive_maximum
        # Subscriptions are added from the owners' threads and resent from paho's on each connect.
        self._subscriptions_lock = threading.Lock()
        self._subscriptions: dict[str, int] = {}
        self._routes: tuple[tuple[str, MessageHandler], ...] = ()
        self._sole_handler: MessageHandler | None = None
        self._awaiting_suback: dict[int, str] = {}  # SUBSCRIBE message id -> its filter
        self._refused: set[str] = set()
        self._connected_hooks: list[LinkHook] = []
        self._disconnected_hooks: list[LinkHook] = []
        self._subscribed_hooks: list[SubscribedHook] = []
        self._published_hooks: list[PublishedHook] = []
        v5 = settings.protocol == "5"
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=paho.MQTTv5 if v5 else paho.MQTTv311,
            clean_session=None if v5 else clean_start,
            reconnect_on_failure=True,
            manual_ack=manual_ack,
        )
        self.client.suppress_exceptions = True
        self.client.reconnect_delay_set(min_delay=1, max_delay=15)
        # Allow many unacknowledged QoS 1 messages so batching consumers are not throttled.
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        if settings.username:
            self.client.username_pw_set(settings.username, settings.password)
        if urlsplit(settings.url).scheme == "mqtts":
            self.client.tls_set(ca_certs=settings.ca_file, cert_reqs=ssl.CERT_REQUIRED)
        if status_topic:
            self.client.will_set(status_topic, self._status(DeviceState.OFFLINE), qos=1, retain=True)
        self.client.on_connect = self._handle_connect
        self.client.on_disconnect = self._handle_disconnect
        self.client.on_subscribe = self._handle_subscribe
        self.client.on_publish = self._handle_publish
        self.client.on_message = self._dispatch

    # --- what the link's users register --------------------------------------------------------

    def subscribe(self, topic_filter: str, qos: int, handler: MessageHandler) -> None:
        """Subscribe now if connected and again on every reconnect; matching messages go to `handler`.

        Keep the filters of different handlers disjoint: for overlapping ones the broker may send a
        copy per subscription (Mosquitto 2 does), and each copy reaches every matching handler. While
        every filter shares one handler, it gets every message without matching, as a plain paho
        client would (a persistent session may still deliver for filters of an earlier one).
        """
        with self._subscriptions_lock:
            qos = max(qos, self._subscriptions.get(topic_filter, 0))
            self._subscriptions[topic_filter] = qos
            self._routes = (*self._routes, (topic_filter, handler))
            # Equality, not identity: each `obj.method` access makes a new, equal bound method.
            handlers = {h for _, h in self._routes}
            self._sole_handler = handler if len(handlers) == 1 else None
            if self.connected.is_set():
                self.subscribed.clear()
                self._send_subscribe(topic_filter, qos)

    def on_connected(self, hook: LinkHook) -> None:
        """Call `hook` after every (re)connect, once resubscribed and announced."""
        self._connected_hooks.append(hook)

    def on_disconnected(self, hook: LinkHook) -> None:
        self._disconnected_hooks.append(hook)

    def on_subscribed(self, hook: SubscribedHook) -> None:
        """Call `hook(filter, granted)` for each filter the broker answers; `subscribed` is set first."""
        self._subscribed_hooks.append(hook)

    def on_published(self, hook: PublishedHook) -> None:
        """Call `hook(mid, acked)` per PUBACK, on paho's thread while paho holds its message lock:
        the hook must only hand the answer over (queue it), never take a lock of its own."""
        self._published_hooks.append(hook)

    # --- lifecycle and publishing --------------------------------------------------------------

    def _status(self, state: DeviceState) -> bytes:
        with self._seq_lock:
            self._seq += 1
            return encode(self._status_builder(state, self._seq))

    def publish_status(self) -> bool:
        """Publish a fresh retained 'online' status now; False when the broker link is down.

        While down nothing is queued: the announce on reconnect carries the then-current facts, and an
        older one resent after it would leave a stale retained status.
        """
        if self.status_topic is None or not self.connected.is_set():
            return False
        self.client.publish(self.status_topic, self._status(DeviceState.ONLINE), qos=1, retain=True)
        return True

    def start(self) -> None:
        """Connect asynchronously and run the network loop in a background thread."""
        properties = None
        if self.settings.protocol == "5":
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.ReceiveMaximum = self._receive_maximum
            # A persistent session keeps unacknowledged QoS 1 messages across our restarts.
            properties.SessionExpiryInterval = 0 if self._clean_start else 7 * 24 * 3600
        self.client.connect_async(
            self.settings.host,
            self.settings.port,
            keepalive=self.settings.keepalive_s,
            clean_start=self._clean_start
            if self.settings.protocol == "5"
            else paho.MQTT_CLEAN_START_FIRST_ONLY,
            properties=properties,
        )
        self.client.loop_start()

    def wait_connected(self, timeout: float = 10.0) -> bool:
        return self.connected.wait(timeout)

    def wait_subscribed(self, timeout: float = 10.0) -> bool:
        """True once connected and every subscription is granted."""
        return self.subscribed.wait(timeout)

    def stop(self) -> None:
        """Publish 'offline' ourselves (a clean disconnect does not fire the Will) and disconnect."""
        if self.status_topic and self.connected.is_set():
            info = self.client.publish(
                self.status_topic, self._status(DeviceState.OFFLINE), qos=1, retain=True
            )
            try:
                info.wait_for_publish(timeout=2.0)
            except (RuntimeError, ValueError):
                logger.debug("offline status not confirmed before disconnect")
        self.client.disconnect()
        self.client.loop_stop()

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> paho.MQTTMessageInfo:
        return self.client.publish(topic, payload, qos=qos, retain=retain)

    # --- paho's thread -------------------------------------------------------------------------

    def _send_subscribe(self, topic_filter: str, qos: int) -> None:
        # Caller holds _subscriptions_lock, so the SUBACK cannot be handled before its id is noted.
        result, mid = self.client.subscribe(topic_filter, qos)
        if result == paho.MQTT_ERR_SUCCESS and mid is not None:
            self._awaiting_suback[mid] = topic_filter

    def _handle_connect(
        self,
        client: paho.Client,
        userdata: object,
        flags: paho.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            logger.warning("MQTT connect to %s refused: %s", self.settings.url, reason)
            return
        self.session_present = bool(flags.session_present)
        logger.info(
            "MQTT connected to %s as %s (session present: %s)",
            self.settings.url,
            client._client_id.decode(),
            self.session_present,
        )
        with self._subscriptions_lock:
            self.subscribed.clear()
            self._awaiting_suback.clear()
            self._refused.clear()
            for topic_filter, qos in self._subscriptions.items():
                self._send_subscribe(topic_filter, qos)
            if not self._subscriptions:
                self.subscribed.set()
        if self.status_topic:
            client.publish(self.status_topic, self._status(DeviceState.ONLINE), qos=1, retain=True)
        self.connected.set()
        for hook in tuple(self._connected_hooks):
            _call_safely(hook)

    def _handle_disconnect(
        self,
        client: paho.Client,
        userdata: object,
        flags: paho.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self.connected.clear()
        self.subscribed.clear()
        logger.info("MQTT disconnected from %s: %s", self.settings.url, reason)
        for hook in tuple(self._disconnected_hooks):
            _call_safely(hook)

    def _handle_subscribe(
        self,
        client: paho.Client,
        userdata: object,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        with self._subscriptions_lock:
            topic_filter = self._awaiting_suback.pop(mid, None)
            if topic_filter is None:
                return  # asked on an earlier connection
            granted = not any(code.is_failure for code in reason_codes)
            if granted:
                self._refused.discard(topic_filter)
            else:
                self._refused.add(topic_filter)
            if not self._awaiting_suback and not self._refused:
                self.subscribed.set()
        if not granted:
            logger.error("MQTT subscription to %s refused by the broker: %s", topic_filter, reason_codes)
        for hook in tuple(self._subscribed_hooks):
            _call_safely(hook, topic_filter, granted)

    def _handle_publish(
        self,
        client: paho.Client,
        userdata: object,
        mid: int,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        for hook in tuple(self._published_hooks):
            _call_safely(hook, mid, not reason.is_failure)

    def _dispatch(self, client: paho.Client, userdata: object, message: paho.MQTTMessage) -> None:
        sole = self._sole_handler
        if sole is not None:
            _deliver(sole, message)
            return
        try:
            topic = message.topic
        except UnicodeDecodeError:
            logger.warning("message on a topic that is not UTF-8 dropped")
            return
        matching = dict.fromkeys(h for f, h in self._routes if paho.topic_matches_sub(f, topic))
        if not matching:
            logger.debug("no handler for a message on %s", topic)
        for handler in matching:
            _deliver(handler, message)


def _deliver(handler: MessageHandler, message: paho.MQTTMessage) -> None:
    try:
        handler(message)
    except Exception:
        # Input must never kill the loop; the handler is expected to dead-letter bad input itself.
        logger.exception("message handler failed on %s", message._topic.decode("utf-8", "replace"))


def _call_safely(callback: Callable[..., None], *args: object) -> None:
    try:
        callback(*args)
    except Exception:
        logger.exception("MQTT hook %s failed", getattr(callback, "__qualname__", callback))


def status_topic_for(store: str, kind: topics.Kind, device: str) -> str:
    return topics.status(store, kind, device)
