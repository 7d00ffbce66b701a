"""One simulated device's own broker connection, which can be unplugged (Last Will fires) and plugged back."""

from __future__ import annotations

import logging
import socket
import threading

from smartstore.kernel.contract import topics
from smartstore.kernel.mqtt import MessageHandler, MqttLink, MqttSettings

logger = logging.getLogger(__name__)


class SimDevice:
    """A reader, camera or locker controller as the broker sees it: client id sim-<store>-<device>."""

    def __init__(
        self,
        store: str,
        kind: topics.Kind,
        device: str,
        settings: MqttSettings,
        *,
        subscriptions: list[tuple[str, int]] | None = None,
        on_message: MessageHandler | None = None,
    ) -> None:
        self.id = device
        self.kind = kind
        self.client_id = f"sim-{store}-{device}"
        self.status_topic = topics.status(store, kind, device)
        self.settings = settings
        self.subscriptions = subscriptions or []
        self.on_message = on_message
        self.seq = 0
        self.published = 0
        self.skipped = 0
        self.unplugged = False
        self._link: MqttLink | None = None
        self._dropping: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def online(self) -> bool:
        link = self._link
        return link is not None and not self.unplugged and link.connected.is_set()

    def connect(self) -> None:
        with self._lock:
            if self._link is None and not self.unplugged:
                self._link = self._new_link()
                self._link.start()

    def _new_link(self) -> MqttLink:
        link = MqttLink(self.settings, self.client_id, status_topic=self.status_topic)
        if self.on_message is not None:
            for topic_filter, qos in self.subscriptions:
                link.subscribe(topic_filter, qos, self.on_message)
        return link

    def wait_connected(self, timeout: float) -> bool:
        link = self._link
        return link is not None and link.wait_connected(timeout)

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> bool:
        """Send when online; an offline device has nobody to tell, so the data is not sent (counted)."""
        with self._lock:
            if self._link is None or not self.online:
                self.skipped += 1
                return False
            self._link.publish(topic, payload, qos=qos)
            self.published += 1
            return True

    def unplug(self) -> None:
        """Cut the TCP connection without an MQTT DISCONNECT, so the broker publishes our Last Will."""
        with self._lock:
            self.unplugged = True
            link, self._link = self._link, None
        if link is None:
            return
        sock = link.client.socket()
        if isinstance(sock, socket.socket):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                logger.debug("socket of %s was already gone", self.id)
        # Stopping paho's loop waits up to a second for its select(); the caller should not.
        self._dropping = threading.Thread(
            target=_finish_drop, args=(link,), name=f"unplug-{self.id}", daemon=True
        )
        self._dropping.start()
        logger.info("device %s unplugged", self.id)

    def replug(self) -> None:
        if self._dropping is not None:
            self._dropping.join(timeout=5.0)
            self._dropping = None
        with self._lock:
            self.unplugged = False
        self.connect()
        logger.info("device %s plugged back in", self.id)

    def stop(self) -> None:
        """Clean shutdown: publish 'offline' ourselves and disconnect."""
        if self._dropping is not None:
            self._dropping.join(timeout=5.0)
        with self._lock:
            link, self._link = self._link, None
        if link is not None:
            link.stop()


def _finish_drop(link: MqttLink) -> None:
    link.client.loop_stop()
    sock = link.client.socket()
    if isinstance(sock, socket.socket):
        sock.close()
