"""Orders benchmark: sourcing and reservation over a chain of 1,000 stores in PostgreSQL, at a steady load.

    python bench/orders.py [--db URL] [--stores 1000] [--rate 200] [--seconds 30] [--workers 16]
                           [--smoke] [--profile N] [--seed 7]

The chain is built in memory (`parse_store` of a generated dict per store: 50 products, a backroom and a
salesfloor zone, lockers in 3 of 5, a location in a country-sized box, delivery from 7 in 10, shipping from
1 in 4) and seeded in bulk into a fresh schema of the database `bench_orders` (made on `--db`'s server if
missing; the schema is dropped at the end). Then `place_order` at a steady offered `--rate` for `--seconds`,
open loop (latency runs from an order's due time to its commit: queueing behind slow orders counts), worker
threads each with its own session; the mix: 40 % delivery to a destination, 35 % counter or locker pickup in
a slot at a chosen store, 25 % ship with `allow_split`. Oversell, counted from the database afterwards: a
store x GTIN with reserved > on_hand - safety_stock, or reserved other than its open fulfilment lines.
Baseline, same run and load: a bare single-row `UPDATE ... RETURNING` reservation. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import queue
import random
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from smartstore.gateway.db.engine import make_engine, make_sessionmaker
from smartstore.gateway.db.models import Inventory, Product, Store, ZoneCount
from smartstore.gateway.db.util import utc_now
from smartstore.gateway.inventory.allocation import Channel
from smartstore.gateway.lockers.lifecycle import OrderError
from smartstore.gateway.lockers.states import FulfilmentType
from smartstore.gateway.orders import placement, slots
from smartstore.gateway.orders.placement import OrderRequest, place_order
from smartstore.kernel.contract.gtin import make_gtin14
from smartstore.kernel.storeconfig import StoreConfig, parse_store

DEFAULT_DB = "postgresql://postgres@127.0.0.1:5432/test"
DATABASE = "bench_orders"
PRODUCTS = 50
BOX = ((47.5, 54.5), (6.0, 15.0))  # lat, lon: about Germany's size
TARGET_P99_MS = 100.0  # at 200 orders/s (issue #27)
# Fulfilment orders still holding their reservation (gateway.lockers.states).
OPEN_STATES = ("created", "reserved", "picking", "loaded", "ready", "staged")
F = FulfilmentType
GTINS = [make_gtin14("09506000" + f"{20000 + i:05d}") for i in range(PRODUCTS)]


def store_dict(index: int, rng: random.Random, catalog: Sequence[str]) -> dict[str, Any]:
    zones: list[dict[str, Any]] = [
        {"id": "backroom", "area": "backroom"},
        {"id": "aisle-1", "area": "salesfloor"},
    ]
    lockers = []
    if index % 5 < 3:  # three stores in five have a locker bank
        zones.append({"id": "locker-bay", "area": "locker"})
        compartments = [{"id": f"c{i:02d}", "size": "SSML"[i % 4]} for i in range(12)]
        lockers.append({"id": "locker-1", "zone": "locker-bay", "compartments": compartments})
    delivery = None if index % 10 < 3 else {"radius_km": rng.choice([8.0, 12.0, 15.0]), "promise_minutes": 30}
    fulfilment = {"opens": "08:00", "closes": "21:00", "delivery": delivery, "ships": index % 4 == 0}
    where = {"lat": rng.uniform(*BOX[0]), "lon": rng.uniform(*BOX[1])}
    return {
        "store": {"id": f"store-{index:04d}", "name": f"Bench store {index}", "timezone": "Europe/Berlin"}
        | {"location": where, "fulfilment": fulfilment},
        "catalog": [
            {"gtin": g, "name": f"Product {i}", "sku": f"SKU-{i:03d}", "safety_stock": i % 3}
            for i, g in enumerate(catalog)
        ],
        "zones": zones,
        "devices": {"readers": [], "cameras": [], "lockers": lockers},
    }


def build_chain(count: int, seed: int) -> dict[str, StoreConfig]:
    rng = random.Random(seed)
    configs = [parse_store(store_dict(index, rng, GTINS), f"<store {index}>") for index in range(count)]
    return {config.store.id: config for config in configs}


ZONE_COLUMNS = ("store_id", "zone_id", "gtin", "count", "source", "updated_at")
ROW_COLUMNS = ("store_id", "gtin", "salesfloor", "backroom", "on_hand", "reserved", "safety_stock")
FIGURES = ("available_to_promise", "online_available_to_promise", "shelf_state", "sources", "updated_at")


def seed_stock(engine: sa.Engine, chain: dict[str, StoreConfig], seed: int) -> int:
    """Stores, products, zone counts and inventory rows, in bulk; returns the units on hand."""
    rng = random.Random(seed + 1)
    now = utc_now()
    stores: list[dict[str, Any]] = []
    products: list[dict[str, Any]] = []
    zone_rows: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    for store_id, config in chain.items():
        stores.append({"id": store_id, "name": config.store.name, "timezone": config.store.timezone})
        for item in config.catalog:
            gtin, safety = item.gtin, item.safety_stock
            products.append(
                {"store_id": store_id, "gtin": gtin, "name": item.name, "sku": item.sku, "rfid_tagged": True}
            )
            backroom = 0 if rng.random() < 0.2 else rng.randint(0, 20)  # a fifth of all rows: none in stock
            floor = 0 if backroom == 0 else rng.randint(0, 12)
            for zone, units in (("backroom", backroom), ("aisle-1", floor)):
                zone_rows.append(
                    dict(zip(ZONE_COLUMNS, (store_id, zone, gtin, units, "manual", now), strict=True))
                )
            on_hand = backroom + floor
            atp = max(0, on_hand - safety)
            shelf = "ok" if floor > 4 else "low" if floor > 0 else "empty"  # empty shelf: nothing at all here
            row = dict(zip(ROW_COLUMNS, (store_id, gtin, floor, backroom, on_hand, 0, safety), strict=True))
            rows.append(row | dict(zip(FIGURES, (atp, atp, shelf, {}, now), strict=True)))
    with engine.begin() as connection:
        for model, batch in ((Store, stores), (Product, products), (ZoneCount, zone_rows), (Inventory, rows)):
            connection.execute(sa.insert(model), batch)
    return sum(int(row["on_hand"]) for row in rows)


def near(point: tuple[float, float], km: float, rng: random.Random) -> tuple[float, float]:
    """A point up to `km` from `point` (flat-earth offsets: fine at these distances)."""
    return (point[0] + rng.uniform(-km, km) / 111.0, point[1] + rng.uniform(-km, km) / 70.0)


def make_orders(chain: dict[str, StoreConfig], n: int, seed: int) -> list[OrderRequest]:
    rng = random.Random(seed + 2)
    weights = [1.0 / (rank + 1) for rank in range(len(GTINS))]  # Zipf-like popularity
    configs = list(chain.values())
    ids, lockers = list(chain), [c.store.id for c in configs if c.devices.lockers]
    start = utc_now() + timedelta(minutes=10)  # still bookable when the last order is placed
    offered = [s for s, _ in slots.bookable(configs[0], start)][:6]  # all stores keep the same hours
    orders = []
    for _ in range(n):
        count = rng.choice([1, 1, 2, 3])
        picked = list(dict.fromkeys(rng.choices(GTINS, weights, k=count)))
        lines = [(g, rng.choice([1, 1, 1, 2, 3])) for g in picked]
        channel = rng.choice(list(Channel))
        kind = rng.random()
        home = rng.choice(configs).store.location
        assert home is not None
        slot = rng.choice(offered)
        if kind < 0.40:
            request = OrderRequest(channel, F.DELIVERY, lines, destination=near((home.lat, home.lon), 6, rng))
        elif kind < 0.60:
            request = OrderRequest(channel, F.COUNTER_PICKUP, lines, store=rng.choice(ids), slot_start=slot)
        elif kind < 0.75:
            request = OrderRequest(
                channel, F.LOCKER_PICKUP, lines, store=rng.choice(lockers), slot_start=slot
            )
        else:  # ship: bigger quantities, split allowed
            lines = [(g, rng.choice([1, 2, 4, 8, 20])) for g in picked]
            destination = near((home.lat, home.lon), 30, rng)
            request = OrderRequest(channel, F.SHIP, lines, destination=destination, allow_split=True)
        orders.append(request)
    return orders


@dataclass
class Run:
    latencies_ms: list[float] = field(default_factory=list)
    candidates_ms: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    elapsed_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


_timing = threading.local()


def _timed_candidates(original: Callable[..., Any]) -> Callable[..., Any]:
    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            _timing.candidates_ms = (time.perf_counter() - start) * 1000

    return timed


def drive(
    n: int, rate: float, workers: int, open_worker: Callable[[], Callable[[int], str]], run: Run
) -> None:
    """Offer `n` jobs at `rate`/s (open loop) to `workers` threads; latency = due -> done."""
    jobs: queue.Queue[tuple[int, float] | None] = queue.Queue()
    ready = threading.Barrier(workers + 1)

    def work() -> None:
        job = open_worker()
        ready.wait()
        while (item := jobs.get()) is not None:
            index, due = item
            outcome = job(index)
            with run.lock:
                run.latencies_ms.append((time.perf_counter() - due) * 1000)
                run.outcomes[outcome] += 1

    threads = [threading.Thread(target=work, daemon=True) for _ in range(workers)]
    for thread in threads:
        thread.start()
    ready.wait()
    t0 = time.perf_counter() + 0.05
    for index in range(n):
        due = t0 + index / rate
        pause = due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        jobs.put((index, due))
    for _ in threads:
        jobs.put(None)
    for thread in threads:
        thread.join()
    run.elapsed_s = time.perf_counter() - t0


def order_worker(
    sessions: sessionmaker[Session], chain: dict[str, StoreConfig], orders: Sequence[OrderRequest], run: Run
) -> Callable[[], Callable[[int], str]]:
    def open_worker() -> Callable[[int], str]:
        session = sessions()

        def job(index: int) -> str:
            _timing.candidates_ms = 0.0
            try:
                done = place_order(session, chain, orders[index], by="bench", at=utc_now())
                session.commit()
                outcome = "split" if len(done.fulfilments) > 1 else "placed"
            except OrderError as error:
                session.rollback()
                outcome = f"refused:{error.code}"
            except Exception as error:  # counted and shown: a bench must finish to report
                session.rollback()
                print(f"order {index}: {type(error).__name__}: {error}", file=sys.stderr)
                outcome = "error"
            with run.lock:
                run.candidates_ms.append(_timing.candidates_ms)
            return outcome

        return job

    return open_worker


BASELINE_SQL = sa.text(
    "UPDATE inventory SET reserved = reserved + :q WHERE store_id = :s AND gtin = :g"
    " AND on_hand - reserved - safety_stock >= :q RETURNING reserved"
)


def baseline_worker(
    engine: sa.Engine, chain: dict[str, StoreConfig], orders: Sequence[OrderRequest]
) -> Callable[[], Callable[[int], str]]:
    ids = sorted(chain)

    def open_worker() -> Callable[[int], str]:
        connection = engine.connect()

        def job(index: int) -> str:
            order = orders[index]
            gtin, quantity = order.lines[0]
            store = order.store or ids[index % len(ids)]
            got = connection.execute(BASELINE_SQL, {"q": quantity, "s": store, "g": gtin}).first()
            connection.commit()
            return "placed" if got is not None else "refused:no_stock"

        return job

    return open_worker


def oversell(engine: sa.Engine) -> tuple[int, int]:
    """(rows over their stock, rows whose reserved is not their open orders' lines) from the database."""
    over = sa.text("SELECT count(*) FROM inventory WHERE reserved > on_hand - safety_stock AND reserved > 0")
    mismatch = sa.text(
        "SELECT count(*) FROM inventory i LEFT JOIN ("
        " SELECT o.store_id, l.gtin, sum(l.quantity) AS q FROM pickup_orders o"
        " JOIN pickup_order_lines l ON l.order_id = o.id WHERE o.state IN :open GROUP BY o.store_id, l.gtin"
        ") s ON s.store_id = i.store_id AND s.gtin = i.gtin WHERE i.reserved <> coalesce(s.q, 0)"
    ).bindparams(sa.bindparam("open", expanding=True))
    with engine.connect() as connection:
        a = connection.execute(over).scalar_one()
        b = connection.execute(mismatch, {"open": list(OPEN_STATES)}).scalar_one()
    return int(a), int(b)


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


@contextmanager
def private_schema(base: str) -> Iterator[str]:
    """The URL of a fresh schema in database DATABASE (made on `base`'s server if missing), dropped after."""
    server = sa.make_url(base).set(drivername="postgresql+psycopg")
    schema = f"run_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        found = connection.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": DATABASE})
        if found.first() is None:
            with suppress(sa.exc.ProgrammingError):  # another run made it a moment ago
                connection.exec_driver_sql(f'CREATE DATABASE "{DATABASE}"')
    admin.dispose()
    bench = sa.create_engine(server.set(database=DATABASE), isolation_level="AUTOCOMMIT")
    with bench.connect() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = server.set(database=DATABASE).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with bench.connect() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        bench.dispose()


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", default=os.environ.get("SMARTSTORE_BENCH_PG", DEFAULT_DB))
    parser.add_argument("--stores", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=200.0, help="offered orders per second")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--smoke", action="store_true", help="10 stores for 3 s (CI)")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="then profile N orders in a row")
    args = parser.parse_args(argv)
    if args.smoke:
        args.stores, args.seconds = 10, 3.0
    n = int(args.rate * args.seconds)
    with private_schema(args.db) as url:  # 16 workers: make_engine's pool holds 20 connections
        engine = make_engine(url)
        started = time.perf_counter()
        chain = build_chain(args.stores, args.seed)
        units = seed_stock(engine, chain, args.seed)
        print(f"{len(chain)} stores, {units} units on hand, seeded in {time.perf_counter() - started:.1f} s")
        orders = make_orders(chain, n, args.seed)
        sessions = make_sessionmaker(engine)
        placement.candidates = _timed_candidates(placement.candidates)
        run = Run()
        drive(n, args.rate, args.workers, order_worker(sessions, chain, orders, run), run)
        over, mismatched = oversell(engine)
        refused = sum(v for k, v in run.outcomes.items() if k.startswith("refused:"))
        picked = percentile(run.candidates_ms, 50), percentile(run.candidates_ms, 99)
        print(
            f"orders: {dict(sorted(run.outcomes.items()))} in {run.elapsed_s:.1f} s; candidates p50 / p99 "
            f"{picked[0]:.2f} / {picked[1]:.2f} ms; over stock {over}, reserved != open lines {mismatched}"
        )
        if args.profile:  # orders one after the other under cProfile: where the time goes
            job, profiler = (
                order_worker(sessions, chain, make_orders(chain, args.profile, 99), Run())(),
                cProfile.Profile(),
            )
            profiler.runcall(lambda: [job(index) for index in range(args.profile)])
            pstats.Stats(profiler, stream=sys.stdout).sort_stats("cumulative").print_stats(30)
        base = Run()
        drive(n, args.rate, args.workers, baseline_worker(engine, chain, orders), base)
        base_over, _ = oversell(engine)  # the bare UPDATE guards its row too: must stay 0
        print(f"baseline: {dict(base.outcomes)} in {base.elapsed_s:.1f} s; over stock {base_over}")
        engine.dispose()
    p99, base_p99 = percentile(run.latencies_ms, 99), percentile(base.latencies_ms, 99)
    result = {
        "bench": "orders",
        "stores": len(chain),
        "rate": round(len(run.latencies_ms) / run.elapsed_s, 1),
        "offered_rate": args.rate,
        "p50_ms": round(percentile(run.latencies_ms, 50), 2),
        "p99_ms": round(p99, 2),
        "baseline_p50_ms": round(percentile(base.latencies_ms, 50), 2),
        "baseline_p99_ms": round(base_p99, 2),
        "ratio": round(p99 / base_p99, 2),
        "oversell": over + mismatched + base_over,
        "refused": refused,
        "placed": run.outcomes["placed"] + run.outcomes["split"],
        "split": run.outcomes["split"],
        "errors": run.outcomes["error"],
        "candidates_p50_ms": round(percentile(run.candidates_ms, 50), 2),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
