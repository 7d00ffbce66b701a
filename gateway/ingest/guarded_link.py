"""The side MQTT link with size limits per topic: an oversized message never reaches its handler
(locker link, snapshot feed, telemetry); it is counted and dead-lettered as an excerpt."""

from __future__ import annotations

import hashlib
import logging

import paho.mqtt.client as paho
from sqlalchemy import Table, insert
from sqlalchemy.orm import Session, sessionmaker

from smartstore.gateway.db.models import DeadLetter
from smartstore.gateway.db.util import utc_now
from smartstore.gateway.ingest.deadletters import DeadLetterPolicy, dead_letter_row
from smartstore.gateway.ingest.decode import Inbound
from smartstore.gateway.ingest.limits import SizeLimits
from smartstore.gateway.monitoring.metrics import GatewayMetrics
from smartstore.kernel.contract.validation import RejectReason
from smartstore.kernel.mqtt import MessageHandler, MqttLink, MqttSettings

logger = logging.getLogger(__name__)

_DEAD: Table = DeadLetter.__table__  # type: ignore[assignment]


class SizeGuardedLink(MqttLink):
    """An MqttLink whose handlers only see payloads within their topic's limit."""

    def __init__(
        self,
        settings: MqttSettings,
        client_id: str,
        *,
        limits: SizeLimits,
        policy: DeadLetterPolicy,
        sessions: sessionmaker[Session],
        metrics: GatewayMetrics,
    ) -> None:
        super().__init__(settings, client_id)
        self._limits = limits
        self._policy = policy
        self._sessions = sessions
        self._metrics = metrics
        # One guard per handler, so a handler subscribed to several filters stays one handler.
        self._guards: dict[MessageHandler, MessageHandler] = {}

    def subscribe(self, topic_filter: str, qos: int, handler: MessageHandler) -> None:
        guard = self._guards.get(handler)
        if guard is None:
            guard = self._guards[handler] = self._guarded(handler)
        super().subscribe(topic_filter, qos, guard)

    def _guarded(self, handler: MessageHandler) -> MessageHandler:
        def guard(message: paho.MQTTMessage) -> None:
            size, limit = len(message.payload), self._limits.for_topic(message.topic)
            if size <= limit:
                handler(message)
            else:
                self._refuse(message, f"{size} bytes > {limit} allowed on this topic")

        return guard

    def _refuse(self, message: paho.MQTTMessage, detail: str) -> None:
        self._metrics.messages_rejected.labels(RejectReason.TOO_LARGE.value).inc()
        payload = message.payload
        excerpt = bytes(payload[: self._policy.excerpt_bytes])
        oversize = (len(payload), hashlib.sha256(payload).hexdigest())
        inbound = Inbound(message.topic, excerpt, message.mid, message.qos, 0, oversize)
        row = dead_letter_row(inbound, RejectReason.TOO_LARGE.value, detail, utc_now(), self._policy)
        try:
            with self._sessions() as session:
                session.connection().execute(insert(_DEAD), [row])
                session.commit()
        except Exception:
            logger.exception("could not dead-letter an oversized message on %.200s", message.topic)
        logger.info("refused %.200s (too_large): %s", message.topic, detail)
