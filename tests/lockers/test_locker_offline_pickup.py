"""Offline pickup: the gateway is cut off, the customer uses the locker's keypad, the edge opens the door;
when the gateway is back the order is picked_up once and the stock taken once; the code is dead everywhere.
"""

from __future__ import annotations

from pathlib import Path

from locker_stack import (
    LOCKER,
    RICE,
    locker_store_file,
    lockers_of,
    start_edge,
    start_gateway,
    start_simulator,
    wait_for,
)

from smartstore.kernel.storeconfig import load_store


def test_keypad_pickup_while_the_gateway_is_down_counts_once(
    mosquitto: object, db_url: str, tmp_path: Path
) -> None:
    mqtt = mosquitto.settings  # type: ignore[attr-defined]
    store_file = locker_store_file(tmp_path)
    gateway = start_gateway(db_url, store_file, mqtt, tmp_path)
    simulator = start_simulator(load_store(store_file), mqtt)
    edge = start_edge(store_file, tmp_path / "edge", mqtt)
    try:
        gateway.stock(RICE, "aisle-1", 10)
        order_id, code, door = gateway.ready_order(RICE, 2)
        assert gateway.inventory(RICE)["reserved"] == 2
        # The edge holds the order's hash from the retained manifest.
        wait_for(lambda: lockers_of(edge).book.order(LOCKER, order_id), what="the manifest at the edge")

        gateway.stop_links()  # the gateway can no longer hear the edge nor reach the lockers
        bank = simulator.lockers[LOCKER]
        simulator.keypad(LOCKER, code)
        processor = lockers_of(edge)
        wait_for(lambda: processor.counters["pickups_offline"] == 1, timeout=15, what="the offline pickup")
        state = bank.compartments[door]
        wait_for(lambda: not state.door_open and not state.occupied, what="the customer to close the door")

        # The same code again: the edge refuses it, also after a restart.
        opened_before = processor.counters["keypad_opens"]
        simulator.keypad(LOCKER, code)
        wait_for(lambda: processor.counters["keypad_wrong"] == 1, what="the second try refused")
        assert processor.counters["keypad_opens"] == opened_before
        edge.stop()
        edge = start_edge(store_file, tmp_path / "edge", mqtt)
        restarted = lockers_of(edge)
        # Subscribed again once the retained manifest is redelivered (and seen as nothing new).
        wait_for(lambda: restarted.counters["manifests_stale"] == 1, what="the manifest redelivered")
        assert restarted.book.used[order_id].signalled
        simulator.keypad(LOCKER, code)
        wait_for(lambda: restarted.counters["keypad_wrong"] == 1, what="the try after the restart refused")
        assert restarted.counters["keypad_opens"] == 0
        assert not state.door_open

        # The gateway comes back: the queued pickup is applied once.
        assert gateway.order(order_id)["state"] == "ready"
        gateway.start_links()
        wait_for(lambda: gateway.order(order_id)["state"] == "picked_up", timeout=15, what="picked_up")
        wait_for(lambda: gateway.inventory(RICE)["on_hand"] == 8, what="stock taken")
        refused = gateway.api("POST", f"/lockers/{LOCKER}/pickup", gateway.keys.kiosk, json={"code": code})
        assert refused.status_code in (401, 409), refused.text

        # Replays (the edge's outbox resends after a reconnect, the gateway restarts) change nothing.
        gateway.stop_links()
        gateway.start_links()
        order = gateway.order(order_id)
        assert [t["to"] for t in order["transitions"]].count("picked_up") == 1
        inventory = gateway.inventory(RICE)
        assert (inventory["on_hand"], inventory["reserved"]) == (8, 0)
        assert any("offline" in t["by"] for t in order["transitions"] if t["to"] == "picked_up")
    finally:
        edge.stop()
        simulator.stop()
        gateway.stop()
