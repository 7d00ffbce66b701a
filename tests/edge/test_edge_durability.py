"""The edge's durability rules (issue #25), fast: replay marks, a real SQLITE_FULL, redelivered input."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from edge_helpers import Broker, Collector, FakeClock, wait_for
from edge_locker_helpers import LOCKER, STORE

from smartstore.edge.agent import EdgeAgent
from smartstore.edge.backpressure import OutboxGuard
from smartstore.edge.config import EdgeSettings, OutboxSettings
from smartstore.edge.drafts import draft
from smartstore.edge.inbound import Inbound
from smartstore.edge.outbox import Outbox
from smartstore.edge.replay import ReplayMarks
from smartstore.kernel.contract import topics
from smartstore.kernel.contract.payloads import (
    AlertSignal,
    LockerEvent,
    LockerEventType,
    Signal,
    encode,
    envelope,
)
from smartstore.kernel.contract.validation import Decoded, decode
from smartstore.kernel.mqtt import MqttLink
from smartstore.kernel.storeconfig import StoreConfig

AGENT = "edge-d"


def alerts(count: int) -> list[Signal]:
    return [AlertSignal(**draft(1_700_000_000.0), cause=f"t:{n}", action="raise") for n in range(count)]


def test_replay_marks_cover_a_reconnect_an_absent_gateway_and_a_lost_broker() -> None:
    marks = ReplayMarks(window_s=300, new_session_s=3600)
    # The gateway comes online with nothing known: the last window before the newest PUBACK.
    assert marks.gateway_online(newest_sent=10_000) == 9_700
    assert marks.gateway_online(newest_sent=None) is None  # nothing sent yet
    # Gone at 20,000 (its Will arrives late), back later: everything since it left, with the margin.
    marks.gateway_offline(now=20_000)
    marks.connected(session_present=True, newest_sent=20_500)  # our reconnect meanwhile keeps the earlier
    assert marks.unconfirmed_since == 19_700
    assert marks.gateway_online(newest_sent=90_000) == 19_700
    assert marks.unconfirmed_since is None  # confirmed: the next online looks back one window only
    # A broker that lost our session lost the gateway's too: a longer look back.
    marks.connected(session_present=False, newest_sent=100_000)
    assert marks.gateway_online(newest_sent=100_000) == 96_400
    off = ReplayMarks(window_s=0, new_session_s=3600)
    off.gateway_offline(now=5)
    assert off.gateway_online(newest_sent=10) is None


def test_replayed_rows_go_out_again_with_their_ids_and_the_mark_survives_a_restart(
    mosquitto: Broker, tmp_path: Path, links: list[MqttLink]
) -> None:
    clock = FakeClock()
    path = tmp_path / "outbox.db"
    collector = Collector(mosquitto.settings, topics.signals_filter(STORE), "edge-d-collector")
    link = MqttLink(mosquitto.settings, client_id="edge-d-link")
    links.append(link)
    outbox = Outbox(path, STORE, AGENT, OutboxSettings(replay_window_s=60), clock)
    outbox.start(link)
    link.start()
    outbox.append(alerts(5))
    assert wait_for(lambda: outbox.pending() == 0)
    clock.advance(1000)
    outbox.gateway_status(online=False)  # it left after they were sent
    assert not wait_for(lambda: len(collector.snapshot()) > 5, timeout=0.5)
    outbox.stop()

    again = Outbox(path, STORE, AGENT, OutboxSettings(replay_window_s=60), clock)
    link2 = MqttLink(mosquitto.settings, client_id="edge-d-link2")
    links.append(link2)
    again.start(link2)
    link2.start()
    clock.advance(1000)
    again.gateway_status(online=True)
    assert wait_for(lambda: len(collector.snapshot()) == 10)
    ids = [decode(t, p) for t, p in collector.snapshot()]
    assert all(isinstance(r, Decoded) for r in ids)
    first, second = ids[:5], ids[5:]
    assert [r.payload.id for r in first] == [r.payload.id for r in second]  # type: ignore[union-attr]
    assert again.replayed_total == 5
    assert wait_for(lambda: again.pending() == 0)
    again.stop()
    collector.close()


def test_a_full_database_holds_the_signals_until_it_can_store_them(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db", STORE, AGENT, OutboxSettings())
    outbox.append(alerts(1))
    db: sqlite3.Connection = outbox._db  # the limit is SQLite's own: it answers SQLITE_FULL beyond it
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages}")
    changes: list[bool] = []
    stopping = threading.Event()
    guard = OutboxGuard(outbox, AGENT, FakeClock(), stopping, retry_s=0.05, on_change=changes.append)
    stored = threading.Event()
    many = alerts(400)
    worker = threading.Thread(target=lambda: guard.store(many) and stored.set())
    worker.start()
    assert wait_for(lambda: guard.blocked, timeout=2)
    assert not stored.wait(0.3)  # held, not dropped
    assert changes == [True]
    db.execute("PRAGMA max_page_count = 1073741823")  # space returns
    assert stored.wait(5)
    worker.join()
    assert changes == [True, False]
    assert not guard.blocked
    with sqlite3.connect(tmp_path / "outbox.db") as reader:
        causes = [row[0] for row in reader.execute("SELECT payload FROM outbox ORDER BY row")]
    assert len(causes) == 1 + 400 + 1  # and the incident's alert, stored with them
    assert b"edge.outbox_unwritable:edge-d" in causes[-1]
    outbox.stop()


def test_a_redelivered_device_message_is_not_handled_twice_after_a_restart(
    example_store: StoreConfig, tmp_path: Path
) -> None:
    """Handled, its signal stored, killed before the ack: the broker delivers it again to the next life."""
    settings = EdgeSettings(agent_id="edge-1", state_dir=tmp_path / "state")
    event = LockerEvent(**envelope(1), compartment="c01", event=LockerEventType.DOOR_LEFT_OPEN)
    item = Inbound(topics.locker_event(STORE, LOCKER), encode(event))
    for life in range(2):
        agent = EdgeAgent(settings, example_store)  # not started: no broker needed to handle a message
        agent._process(item)
        assert agent.outbox.pending() == 1  # one signal, in the first life only
        assert agent.counters["duplicates"] == life
        agent.outbox.stop()
        agent.dead_letters.close()
