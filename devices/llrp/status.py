"""The reader's MQTT side: the status facts it announces, and a link that always says them and counts acks."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from smartstore.kernel.contract.payloads import DeviceState, DeviceStatus, envelope
from smartstore.kernel.mqtt import MqttLink, MqttSettings


@dataclass(frozen=True, slots=True)
class ReaderState:
    """One immutable snapshot; the bridge replaces it whole, so the MQTT thread never sees half an update."""

    llrp_connected: bool = False
    inventorying: bool = False
    antennas_down: frozenset[int] = field(default_factory=frozenset)
    model: str = ""
    firmware: str = ""
    extensions: str = ""
    llrp_sessions: int = 0
    reads_rejected: int = 0
    batches_dropped: int = 0

    @property
    def reader(self) -> str:
        """The reader's own state, as opposed to the status' `state` (the bridge's MQTT presence)."""
        if self.inventorying:
            return "inventorying"
        return "connected" if self.llrp_connected else "unreachable"

    def info(self) -> dict[str, str | int | float | bool]:
        return {
            "reader": self.reader,
            "inventorying": self.inventorying,
            "llrp_connected": self.llrp_connected,
            "antennas_down": ",".join(str(port) for port in sorted(self.antennas_down)),
            "model": self.model,
            "firmware": self.firmware,
            "llrp_extensions": self.extensions,
            "llrp_sessions": self.llrp_sessions,
            "reads_rejected": self.reads_rejected,
            "batches_dropped": self.batches_dropped,
        }

    def status(self, state: DeviceState, seq: int) -> DeviceStatus:
        snapshot = self
        if state is DeviceState.OFFLINE:
            # Offline means the bridge is gone, and the LLRP session went with it.
            snapshot = ReaderState(
                model=self.model,
                firmware=self.firmware,
                extensions=self.extensions,
                llrp_sessions=self.llrp_sessions,
                reads_rejected=self.reads_rejected,
                batches_dropped=self.batches_dropped,
            )
        return DeviceStatus(
            **envelope(seq), state=state, firmware=self.firmware or None, info=snapshot.info()
        )


class ReaderLink(MqttLink):
    """An MqttLink whose every status (announce on connect, Last Will, updates) carries the reader's info.

    MqttLink announces a bare 'online' on each (re)connect; building that message from the current
    snapshot keeps the retained status truthful even right after a broker reconnect.
    """

    def __init__(
        self,
        settings: MqttSettings,
        client_id: str,
        *,
        status_topic: str,
        snapshot: Callable[[], ReaderState],
    ) -> None:
        super().__init__(
            settings,
            client_id,
            status_topic=status_topic,
            status_builder=lambda state, seq: snapshot().status(state, seq),
        )
        # Acks arrive on paho's thread and are only appended there; the bridge's thread does the rest.
        # (paho calls on_publish holding its own lock, so taking one of ours there could deadlock.)
        self._acked: deque[int] = deque()
        self._unacked: set[int] = set()
        self.on_published(self._note_ack)

    def _note_ack(self, mid: int, acked: bool) -> None:
        self._acked.append(mid)

    def publish_tracked(self, topic: str, payload: bytes) -> None:
        """QoS 1 publish counted until the broker acks it; paho keeps it across broker reconnects."""
        self._unacked.add(self.client.publish(topic, payload, qos=1).mid)

    def unacked(self) -> int:
        """Tracked messages the broker has not confirmed yet (call from the publishing thread only)."""
        while self._acked:
            self._unacked.discard(self._acked.popleft())
        return len(self._unacked)
