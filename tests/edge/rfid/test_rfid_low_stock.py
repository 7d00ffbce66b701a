"""Low-stock alerts that mean something: only for products RFID counts, no stream when a count flaps."""

from __future__ import annotations

from collections import Counter
from typing import Any

from rfid_helpers import BREAD, MILK, OATS, START, small_store, store_data

from smartstore.edge.alert_flaps import FlapGuard
from smartstore.edge.rfid.coverage import Coverage
from smartstore.edge.rfid.settings import RfidSettings
from smartstore.edge.rfid.stock import StockPublisher
from smartstore.edge.rfid.tags import Cell
from smartstore.edge.rfid.zones import ZoneTable
from smartstore.kernel.contract.payloads import AlertSignal, Signal
from smartstore.kernel.storeconfig import StoreConfig

SETTINGS = RfidSettings(low_stock_settle_s=0.0, stock_publish_interval_s=1.0, low_stock_reraise_s=60.0)


def _store_with_untagged_bread() -> StoreConfig:
    data: dict[str, Any] = store_data()
    for product in data["catalog"]:
        if product["gtin"] == BREAD:
            product["rfid_tagged"] = False
    square = [[0, 0], [10, 0], [10, 10], [0, 10]]
    bread_slot = {"id": "s3", "gtin": BREAD, "facings": 1, "capacity": 6, "polygon": square}
    data["planogram"][0]["slots"].append(bread_slot)
    return small_store(data)


class Shelf:
    """A StockPublisher over a store whose readers all report, driven one second at a time."""

    def __init__(self, store: StoreConfig, settings: RfidSettings = SETTINGS) -> None:
        self.table = ZoneTable.from_store(store)
        self.counters: Counter[str] = Counter()
        self.now = START
        self.publisher = StockPublisher(self.table, settings, self.now, self.counters)
        self.coverage = Coverage(self.table, settings.read_interval_s, settings.silent_reports)

    def step(self, counts: dict[Cell, int], seconds: int = 1) -> list[tuple[str, str]]:
        signals: list[Signal] = []
        for _ in range(seconds):
            self.now += 1.0
            for reader in self.table.antennas:
                self.coverage.report(reader, self.now)
            self.coverage.update(self.now)
            signals.extend(self.publisher.due(self.now, counts, self.coverage))
        return [(s.cause, s.action) for s in signals if isinstance(s, AlertSignal)]


def test_untagged_products_never_raise_rfid_low_stock() -> None:
    store = _store_with_untagged_bread()
    assert ZoneTable.from_store(store).planned["aisle-1"] == frozenset({MILK, OATS})
    shelf = Shelf(store)
    raised = shelf.step({("aisle-1", MILK): 5}, 3)
    # OATS is tagged and unread: 0 left is real. BREAD carries no tag: RFID's 0 says nothing about it.
    assert raised == [(f"rfid.low_stock:aisle-1:{OATS}", "raise")]


def test_an_alert_restored_for_a_product_now_untagged_is_cleared() -> None:
    shelf = Shelf(_store_with_untagged_bread())
    shelf.publisher.restore({"raised": [["aisle-1", BREAD, "critical"]], "tracked": []})
    alerts = shelf.step({("aisle-1", MILK): 5, ("aisle-1", OATS): 5})
    assert alerts == [(f"rfid.low_stock:aisle-1:{BREAD}", "clear")]


def test_a_count_flapping_around_the_threshold_raises_once_per_interval() -> None:
    shelf = Shelf(small_store())
    cause = f"rfid.low_stock:aisle-1:{MILK}"
    low, ok = {("aisle-1", MILK): 1, ("aisle-1", OATS): 9}, {("aisle-1", MILK): 9, ("aisle-1", OATS): 9}
    sent: list[tuple[str, str]] = []
    for _ in range(30):  # 2 s low, 2 s fine, for two minutes
        sent += shelf.step(low, 2)
        sent += shelf.step(ok, 2)
    assert sent.count((cause, "raise")) == 2  # at 1 s, then once the 60 s interval after its clear passed
    assert sent.count((cause, "clear")) == 2
    assert shelf.counters["low_stock_held"] == 28  # the other 28 low episodes, once each, not per check
    # Still low when the interval is over: raised then, nothing real is lost, only delayed.
    assert shelf.step(low, 60)[-1:] == [(cause, "raise")]


def test_a_flap_guard_holds_raises_for_its_interval_after_a_clear() -> None:
    guard = FlapGuard(min_interval_s=10.0)
    assert guard.may_raise("a", 0.0)
    guard.cleared("a", 1.0)
    assert not guard.may_raise("a", 5.0)
    assert not guard.may_raise("a", 10.9)
    assert guard.may_raise("b", 5.0)  # per cause
    assert guard.held == 1  # one episode, however often asked
    guard.calm("a")
    assert not guard.may_raise("a", 10.95)
    assert guard.held == 2  # a new episode
    assert guard.may_raise("a", 11.0)
    guard.cleared("a", 12.0)
    assert not guard.may_raise("a", 12.0)
    assert guard.held == 3
    assert FlapGuard(min_interval_s=0.0).may_raise("a", 0.0)


def test_a_flap_guard_is_bounded() -> None:
    guard = FlapGuard(min_interval_s=100.0, max_causes=10)
    for index in range(25):
        guard.cleared(f"cause-{index}", float(index))
    assert len(guard._cleared_at) <= 10
