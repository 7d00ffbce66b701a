"""`smartstore locker keypad CODE`: type a code on a locker bank's keypad and see whether a door opens."""

from __future__ import annotations

import argparse
import sys
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as paho
from pydantic import ValidationError

from smartstore.kernel.contract import topics
from smartstore.kernel.contract.payloads import (
    KeypadEntry,
    LockerEvent,
    LockerEventType,
    LockerRequestPurpose,
    encode,
    envelope,
    parse_locker_request,
)
from smartstore.kernel.contract.validation import Decoded, decode
from smartstore.kernel.mqtt import MqttLink, MqttSettings
from smartstore.kernel.pickup_codes import CodeFormatError, normalise_code
from smartstore.kernel.storeconfig import EXAMPLE_STORE, StoreConfigError, load_store


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="locker_command", metavar="ACTION", required=True)
    keypad = sub.add_parser("keypad", help="publish a KeypadEntry, as the bank's own keypad does")
    keypad.add_argument("--store", type=Path, default=EXAMPLE_STORE, help="store file (default: example)")
    keypad.add_argument("--locker", help="locker bank id (default: the store's first)")
    keypad.add_argument("--mqtt-url", default="mqtt://127.0.0.1:1883", help="broker URL")
    keypad.add_argument("--mqtt-protocol", choices=["5", "3.1.1"], default="5")
    keypad.add_argument("--wait", type=float, default=10.0, help="seconds to wait for a door (0: don't)")
    keypad.add_argument("code", help="the 6-8 digit pickup code")


def run(args: argparse.Namespace) -> int:
    try:
        store = load_store(args.store)
        code = normalise_code(args.code)
        mqtt = MqttSettings(url=args.mqtt_url, protocol=args.mqtt_protocol)
    except (StoreConfigError, CodeFormatError, ValidationError) as error:
        print(f"smartstore locker: {error}", file=sys.stderr)
        return 2
    lockers = [locker.id for locker in store.devices.lockers]
    locker = args.locker or (lockers[0] if lockers else None)
    if locker not in lockers:
        print(f"smartstore locker: no locker bank {locker!r} in {args.store}", file=sys.stderr)
        return 2
    return press(store.store.id, locker, code, mqtt, args.wait)


def press(store_id: str, locker: str, code: str, mqtt: MqttSettings, wait_s: float) -> int:
    """Publish the entry, then report the pickup door that opens within `wait_s` (exit 0) or none (1)."""
    opened: list[LockerEvent] = []
    seen = threading.Event()
    event_topic = topics.locker_event(store_id, locker)

    def on_event(message: paho.MQTTMessage) -> None:
        result = decode(message.topic, bytes(message.payload))
        if not isinstance(result, Decoded) or not isinstance(result.payload, LockerEvent):
            return
        request = parse_locker_request(result.payload.request)
        is_pickup = request is not None and request.purpose is LockerRequestPurpose.PICKUP
        if result.payload.event is LockerEventType.DOOR_OPENED and is_pickup:
            opened.append(result.payload)
            seen.set()

    link = MqttLink(mqtt, f"keypad-cli-{uuid.uuid4().hex[:8]}")
    link.subscribe(event_topic, 1, on_event)
    link.start()
    try:
        if not link.wait_connected(10.0):
            print(f"smartstore locker: cannot reach the broker at {mqtt.url}", file=sys.stderr)
            return 1
        time.sleep(0.2)  # let the subscription settle so a fast door is not missed
        entry = KeypadEntry(**envelope(int(time.time())), request=f"kp-cli-{uuid.uuid4().hex[:8]}", code=code)
        info = link.publish(topics.locker_keypad(store_id, locker), encode(entry), qos=1)
        info.wait_for_publish(5.0)
        print(f"code sent to the keypad of {locker}")
        if wait_s <= 0:
            return 0
        if seen.wait(wait_s):
            event = opened[0]
            request = parse_locker_request(event.request)
            order = request.order if request else "?"
            print(f"door {event.compartment} is open (order {order})")
            return 0
        print(f"no door opened within {wait_s:g} s: code not recognised, keypad locked, or the edge is down")
        return 1
    finally:
        link.stop()
