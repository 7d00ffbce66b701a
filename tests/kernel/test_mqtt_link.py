"""MqttLink's hooks on a real Mosquitto: routing to several handlers, SUBACK and PUBACK answers, reconnect."""

from __future__ import annotations

import json
import threading
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from polling import wait_until

from smartstore.kernel.mqtt import MqttLink, MqttSettings

# Anonymous clients may subscribe and publish to `open/#` only; anything else is refused in the
# SUBACK / PUBACK (Mosquitto's plain acl_file only filters deliveries, its security plugin refuses).
DYNAMIC_SECURITY = {
    "defaultACLAccess": {
        "publishClientSend": False,
        "publishClientReceive": True,
        "subscribe": False,
        "unsubscribe": True,
    },
    "clients": [],
    "groups": [{"groupname": "anonymous", "roles": [{"rolename": "open"}]}],
    "anonymousGroup": "anonymous",
    "roles": [
        {
            "rolename": "open",
            "acls": [
                {"acltype": "publishClientSend", "topic": "open/#", "allow": True},
                {"acltype": "subscribePattern", "topic": "open/#", "allow": True},
            ],
        }
    ],
}
PLUGIN = Path("/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so")


@pytest.fixture
def guarded_broker(mosquitto: Any, tmp_path: Path) -> Any:
    """The private broker, restarted with the security plugin."""
    if not PLUGIN.exists():
        pytest.skip("Mosquitto's dynamic security plugin is not installed")
    security = tmp_path / "dynamic-security.json"
    security.write_text(json.dumps(DYNAMIC_SECURITY))
    mosquitto.stop()
    with mosquitto.config_path.open("a") as config:
        config.write(f"plugin {PLUGIN}\nplugin_opt_config_file {security}\n")
    mosquitto.start()
    return mosquitto


def started(links: list[MqttLink], settings: MqttSettings, link: MqttLink | None = None) -> MqttLink:
    link = link or MqttLink(settings, f"test-{uuid.uuid4().hex[:8]}")
    link.start()
    links.append(link)
    assert link.wait_connected(5)
    return link


class Inbox:
    """A message handler that keeps the topics it was handed, in order."""

    def __init__(self) -> None:
        self.topics: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, message: paho.MQTTMessage) -> None:
        with self._lock:
            self.topics.append(message.topic)


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_messages_are_routed_to_the_handler_of_their_filter(
    mosquitto: Any, links: list[MqttLink], protocol: str
) -> None:
    settings = MqttSettings(url=mosquitto.url, protocol=protocol)
    shared = MqttLink(settings, "test-shared")
    lockers, cameras = Inbox(), Inbox()
    shared.subscribe("t/lockers/#", 1, lockers)
    shared.subscribe("t/+/snapshot", 0, cameras)
    started(links, settings, shared)
    assert shared.wait_subscribed(5)
    publisher = started(links, settings)
    for topic in ("t/lockers/l1/event", "t/cams/snapshot", "t/other", "t/lamps/snapshot"):
        publisher.publish(topic, b"x", qos=1).wait_for_publish(5)
    wait_until(lambda: lockers.topics and len(cameras.topics) == 2, what="routed messages")
    assert lockers.topics == ["t/lockers/l1/event"]
    assert cameras.topics == ["t/cams/snapshot", "t/lamps/snapshot"]


def test_a_failing_handler_neither_stops_the_loop_nor_the_others(
    mosquitto: Any, links: list[MqttLink]
) -> None:
    shared = MqttLink(mosquitto.settings, "test-shared")
    inbox = Inbox()

    def broken(message: paho.MQTTMessage) -> None:
        raise RuntimeError("bad input")

    shared.subscribe("t/#", 1, broken)
    shared.subscribe("t/#", 1, inbox)
    started(links, mosquitto.settings, shared)
    assert shared.wait_subscribed(5)
    publisher = started(links, mosquitto.settings)
    for n in range(3):
        publisher.publish(f"t/{n}", b"x", qos=1).wait_for_publish(5)
    wait_until(lambda: inbox.topics == ["t/0", "t/1", "t/2"], what="every message despite the failures")


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_suback_answers_each_filter_and_a_refusal_keeps_subscribed_unset(
    guarded_broker: Any, links: list[MqttLink], protocol: str
) -> None:
    settings = MqttSettings(url=guarded_broker.url, protocol=protocol)
    link = MqttLink(settings, "test-suback")
    answers: list[tuple[str, bool]] = []
    link.on_subscribed(lambda topic_filter, granted: answers.append((topic_filter, granted)))
    link.subscribe("open/#", 1, Inbox())
    link.subscribe("secret/#", 1, Inbox())
    started(links, settings, link)
    wait_until(lambda: len(answers) == 2, what="both SUBACKs")
    assert sorted(answers) == [("open/#", True), ("secret/#", False)]
    assert not link.subscribed.is_set()


def test_a_subscription_added_while_connected_is_sent_at_once(mosquitto: Any, links: list[MqttLink]) -> None:
    link = started(links, mosquitto.settings)
    assert link.wait_subscribed(5)  # nothing to subscribe: ready on connect
    inbox = Inbox()
    link.subscribe("late/#", 1, inbox)
    assert link.wait_subscribed(5)
    started(links, mosquitto.settings).publish("late/1", b"x", qos=1).wait_for_publish(5)
    wait_until(lambda: inbox.topics == ["late/1"], what="the late subscription's message")


def test_puback_answers_are_reported_per_message_id(guarded_broker: Any, links: list[MqttLink]) -> None:
    link = MqttLink(guarded_broker.settings, "test-puback")  # MQTT 5: a refusal has a reason code
    answers: dict[int, bool] = {}
    link.on_published(lambda mid, acked: answers.__setitem__(mid, acked))
    started(links, guarded_broker.settings, link)
    allowed = link.publish("open/1", b"x", qos=1)
    refused = link.publish("secret/1", b"x", qos=1)
    wait_until(lambda: len(answers) == 2, what="both PUBACKs")
    assert answers == {allowed.mid: True, refused.mid: False}


def test_hooks_follow_a_broker_restart_and_subscriptions_come_back(
    mosquitto: Any, links: list[MqttLink]
) -> None:
    link = MqttLink(mosquitto.settings, "test-reconnect")
    events: list[str] = []
    link.on_connected(lambda: events.append("connected"))
    link.on_disconnected(lambda: events.append("disconnected"))
    inbox = Inbox()
    link.subscribe("t/#", 1, inbox)
    started(links, mosquitto.settings, link)
    assert link.wait_subscribed(5)
    mosquitto.stop()
    wait_until(lambda: not link.connected.is_set(), what="the link to notice")
    assert not link.subscribed.is_set()
    mosquitto.start()
    assert link.wait_subscribed(20)
    assert events == ["connected", "disconnected", "connected"]
    started(links, mosquitto.settings).publish("t/again", b"x", qos=1).wait_for_publish(5)
    wait_until(lambda: inbox.topics == ["t/again"], what="a message after the reconnect")
