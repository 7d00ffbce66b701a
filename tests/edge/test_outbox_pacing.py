"""The outbox paces its publishing (`max_publish_per_s`, `publish_burst`): a backlog goes out at the set
rate without spinning, and a store's normal traffic is not held up (real Mosquitto)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from edge_helpers import Broker, wait_for
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import ValidationError

from smartstore.edge.config import OutboxSettings
from smartstore.edge.drafts import draft
from smartstore.edge.outbox import Outbox
from smartstore.kernel.contract import topics
from smartstore.kernel.contract.payloads import AlertSignal, Signal
from smartstore.kernel.mqtt import MqttLink, MqttSettings

STORE = "store-berlin-01"
AGENT = "edge-pace"


class Arrivals:
    """A real subscriber to the store's signals: (monotonic arrival time, signal id), in arrival order."""

    def __init__(self, settings: MqttSettings) -> None:
        self.seen: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        subscribed = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id="edge-pace-arrivals")
        self.client.on_connect = lambda client, *_: client.subscribe(topics.signals_filter(STORE), qos=1)
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(settings.host, settings.port)
        self.client.loop_start()
        assert subscribed.wait(10), "subscription not confirmed"

    def _on_message(self, client: paho.Client, userdata: object, message: paho.MQTTMessage) -> None:
        now = time.monotonic()
        signal_id = str(json.loads(message.payload)["id"])
        with self._lock:
            self.seen.append((now, signal_id))

    def times(self) -> list[float]:
        with self._lock:
            return [at for at, _ in self.seen]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def alerts(count: int, prefix: str = "pace") -> list[Signal]:
    return [AlertSignal(**draft(time.time()), cause=f"{prefix}:{n}", action="raise") for n in range(count)]


def started(tmp_path: Path, broker: Broker, links: list[MqttLink], settings: OutboxSettings) -> Outbox:
    link = MqttLink(broker.settings, client_id="edge-pace-link")
    links.append(link)
    outbox = Outbox(tmp_path / "outbox.db", STORE, AGENT, settings)
    outbox.start(link)
    link.start()
    assert link.wait_connected(5)
    return outbox


def test_a_backlog_goes_out_at_the_set_rate_without_spinning(
    mosquitto: Broker, tmp_path: Path, links: list[MqttLink]
) -> None:
    """400 signals stored at once, paced at 200/s with a burst of 20: the burst goes out at once, the
    rest at 200/s (±25 %), and the sender sleeps between tokens instead of spinning."""
    rate, burst, total = 200.0, 20, 400
    arrivals = Arrivals(mosquitto.settings)
    outbox = started(tmp_path, mosquitto, links, OutboxSettings(max_publish_per_s=rate, publish_burst=burst))
    wall, cpu = time.monotonic(), time.process_time()
    outbox.append(alerts(total))
    assert wait_for(lambda: len(arrivals.times()) >= total, timeout=10), len(arrivals.times())
    wall, cpu = time.monotonic() - wall, time.process_time() - cpu
    assert wait_for(lambda: outbox.pending() == 0)
    outbox.stop()
    arrivals.close()

    times = arrivals.times()
    paced = times[burst:]  # after the burst, one token each 1/rate s
    measured = (len(paced) - 1) / (paced[-1] - paced[0])
    print(f"\npacing: {total} signals, set {rate:.0f}/s, measured {measured:.1f}/s;", end=" ")
    print(f"{cpu:.2f} s CPU in {wall:.2f} s")
    assert 0.75 * rate <= measured <= 1.25 * rate
    assert times[burst - 1] - times[0] < 0.5, "the burst was paced too"
    # A spinning sender burns a core for the whole 1.9 s; sleeping, this process needs a fraction of it.
    assert cpu < 0.5 * wall, f"{cpu:.2f} s CPU in {wall:.2f} s: the sender spins"


def test_a_busy_stores_traffic_is_not_held_up(
    mosquitto: Broker, tmp_path: Path, links: list[MqttLink]
) -> None:
    """Default pacing (1,000/s, burst 1,000): 50 signals a second for 2 s, in batches of 5 as the
    dispatcher appends them, each arrives within the same short delay as without pacing."""
    arrivals = Arrivals(mosquitto.settings)
    outbox = started(tmp_path, mosquitto, links, OutboxSettings())
    appended: dict[str, float] = {}
    for batch in range(20):
        signals = alerts(5, prefix=f"busy{batch}")
        at = time.monotonic()
        outbox.append(signals)
        appended.update((signal.id, at) for signal in signals)
        time.sleep(0.1)
    assert wait_for(lambda: len(arrivals.times()) >= 100, timeout=10)
    outbox.stop()
    arrivals.close()
    delays = sorted(at - appended[signal_id] for at, signal_id in arrivals.seen)
    median, worst = delays[50] * 1000, delays[-1] * 1000
    print(f"\nbusy store: 100 signals at 50/s, delay median {median:.1f} ms, max {worst:.1f} ms")
    assert delays[-1] < 0.25, f"a signal waited {delays[-1]:.3f} s"


@pytest.mark.parametrize("field", ["max_publish_per_s", "publish_burst"])
def test_pacing_must_be_positive(field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        OutboxSettings.model_validate({field: 0})
