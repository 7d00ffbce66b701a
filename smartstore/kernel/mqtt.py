"""One way to connect to the broker: URL settings, retained status and Last Will, resubscribe on connect."""

from __future__ import annotations

import logging
import os
import ssl
import threading
from collections.abc import Callable, Iterable
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

    Callbacks that raise are logged and never kill the network loop.
    """

    def __init__(
        self,
        settings: MqttSettings,
        client_id: str,
        *,
        status_topic: str | None = None,
        subscriptions: Iterable[tuple[str, int]] = (),
        on_message: MessageHandler | None = None,
        clean_start: bool = True,
        manual_ack: bool = False,
        receive_maximum: int = 1000,
        status_builder: StatusBuilder = bare_status,
    ) -> None:
        self.settings = settings
        self.status_topic = status_topic
        self.subscriptions = list(subscriptions)
        self.connected = threading.Event()
        self._seq = 0
        # Statuses are built on paho's thread (announce on connect) and the owner's (updates): one seq.
        self._seq_lock = threading.Lock()
        self._status_builder = status_builder
        self._on_message = on_message
        self._clean_start = clean_start
        self._receive_maximum = receive_maximum
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
        if on_message:
            self.client.on_message = self._dispatch

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
        logger.info("MQTT connected to %s as %s", self.settings.url, client._client_id.decode())
        for topic, qos in self.subscriptions:
            client.subscribe(topic, qos)
        if self.status_topic:
            client.publish(self.status_topic, self._status(DeviceState.ONLINE), qos=1, retain=True)
        self.connected.set()

    def _handle_disconnect(
        self,
        client: paho.Client,
        userdata: object,
        flags: paho.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self.connected.clear()
        logger.info("MQTT disconnected from %s: %s", self.settings.url, reason)

    def _dispatch(self, client: paho.Client, userdata: object, message: paho.MQTTMessage) -> None:
        assert self._on_message is not None
        try:
            self._on_message(message)
        except Exception:
            # Input must never kill the loop; the handler is expected to dead-letter bad input itself.
            logger.exception("message handler failed on %s", message.topic)


def status_topic_for(store: str, kind: topics.Kind, device: str) -> str:
    return topics.status(store, kind, device)
