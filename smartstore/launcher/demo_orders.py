"""Demo order traffic through the public API: locker pickups collected with the kiosk code, counter
pickups handed over with the customer's code, 30-minute deliveries handed to a courier and delivered."""

from __future__ import annotations

import json
import logging
import random
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from smartstore.kernel.storeconfig import StoreConfig

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OrderTrafficSettings:
    base_url: str  # http://127.0.0.1:8080
    interval_s: float = 40.0  # a new order this often
    dwell_s: float = 25.0  # at most this long a loaded order waits in its compartment for the customer
    seed: int = 0


class DemoOrderTraffic:
    """One thread playing web shop, associate and customer through the public API, with the demo's keys."""

    def __init__(self, settings: OrderTrafficSettings, store: StoreConfig, keys: dict[str, str]) -> None:
        self.settings = settings
        self.store = store
        self.keys = keys
        self.random = random.Random(settings.seed)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="demo-orders", daemon=True)
        self.completed = 0

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join(timeout=5)

    def _call(
        self, method: str, path: str, role: str, body: object = None, **headers: str
    ) -> tuple[int, Any]:
        """A call under the store's own URL (/api/v1/stores/{store}{path})."""
        return self._api(method, f"/stores/{self.store.store.id}{path}", role, body, **headers)

    def _api(self, method: str, path: str, role: str, body: object = None, **headers: str) -> tuple[int, Any]:
        url = f"{self.settings.base_url}/api/v1{path}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (http to loopback)
        request.add_header("X-API-Key", self.keys[role])
        request.add_header("Content-Type", "application/json")
        for name, value in headers.items():
            request.add_header(name.replace("_", "-"), value)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                return int(response.status), json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return int(error.code), json.loads(error.read() or b"null")

    def _run(self) -> None:
        # Each turn one customer of another kind: a locker pickup, a counter pickup, a 30-minute delivery.
        turns = [self._locker_order, self._counter_order, self._delivery_order]
        turn = 0
        while not self.stop.wait(self.settings.interval_s):
            try:
                turns[turn % len(turns)]()
            except (
                OSError,
                ValueError,
                KeyError,
                TypeError,
            ) as error:  # the gateway restarting, a demo stopping
                logger.warning("demo order traffic: %s", error)
            turn += 1

    def _place(self, fulfilment: str, **fields: object) -> dict[str, Any] | None:
        """A web/app order of one product the store can promise now; None when none can be placed."""
        gtins = list(self.store.products)
        self.random.shuffle(gtins)
        channel = self.random.choice(["web", "app", "marketplace"])
        for gtin in gtins[:5]:
            body = {
                "channel": channel,
                "fulfilment": fulfilment,
                "external_ref": f"demo-{uuid.uuid4().hex[:8]}",
                "lines": [{"gtin": gtin, "quantity": 1}],
                **fields,
            }
            status, order = self._api("POST", "/orders", "integrator", body, Idempotency_Key=uuid.uuid4().hex)
            if status == 201:
                fulfilment_order: dict[str, Any] = order["fulfilments"][0]
                return fulfilment_order
        return None

    def _locker_order(self) -> None:
        placed = self._place("locker_pickup", store=self.store.store.id)
        if placed is None or not self.store.devices.lockers:
            return
        order_id = placed["id"]
        status, loaded = self._call("POST", f"/pickup-orders/{order_id}/load", "manager")
        if status != 200:
            logger.info("demo order %s not loaded: %s %s", order_id, status, loaded)
            return
        logger.info(
            "demo order %s in %s/%s, code %s", order_id, loaded["locker"], loaded["compartment"], "******"
        )
        if self.stop.wait(min(self.settings.dwell_s, self.settings.interval_s / 2)):
            return
        locker = loaded["locker"]
        status, opened = self._call("POST", f"/lockers/{locker}/pickup", "kiosk", {"code": loaded["code"]})
        if status == 200:
            self.completed += 1
        logger.info("demo pickup of %s: %s %s", order_id, status, opened)

    def _stage(self, order_id: str) -> str | None:
        """Pick and stage at the counter; the handover code the customer or courier will show."""
        self._call("POST", f"/orders/{order_id}/pick", "manager")
        status, staged = self._call("POST", f"/orders/{order_id}/stage", "manager")
        if status != 200:
            logger.info("demo order %s not staged: %s %s", order_id, status, staged)
            return None
        code: str | None = staged.get("code")
        return code

    def _counter_order(self) -> None:
        placed = self._place("counter_pickup", store=self.store.store.id)
        if placed is None:
            return
        code = self._stage(placed["id"])
        if code is None or self.stop.wait(min(self.settings.dwell_s, self.settings.interval_s / 2)):
            return
        status, _ = self._call("POST", f"/orders/{placed['id']}/handover", "manager", {"code": code})
        logger.info("demo counter pickup of %s: %s", placed["id"], status)
        if status == 200:
            self.completed += 1

    def _delivery_order(self) -> None:
        location = self.store.store.location
        if location is None or self.store.store.fulfilment.delivery is None:
            return
        # A customer about a kilometre north-east of the store.
        destination = {"lat": round(location.lat + 0.006, 6), "lon": round(location.lon + 0.009, 6)}
        placed = self._place("delivery", destination=destination)
        if placed is None:
            return
        code = self._stage(placed["id"])
        if code is None or self.stop.wait(min(self.settings.dwell_s, self.settings.interval_s / 2) / 2):
            return
        status, _ = self._call("POST", f"/orders/{placed['id']}/handover", "manager", {"code": code})
        logger.info("demo delivery %s handed to the courier: %s", placed["id"], status)
        if status != 200 or self.stop.wait(min(self.settings.dwell_s, self.settings.interval_s / 2) / 2):
            return
        path = f"/orders/{placed['customer_order']}/fulfilments/{placed['id']}/delivered"
        status, _ = self._api("POST", path, "integrator")
        logger.info("demo delivery %s delivered: %s", placed["id"], status)
        if status == 200:
            self.completed += 1


def _read(expression: str) -> str:
    """A shell pipe stage printing one field of a JSON answer (`o` is the answer)."""
    return "| python3 -c 'import json,sys; o=json.load(sys.stdin); print(" + expression + ")'"


def _quoted(body: Mapping[str, object]) -> str:
    """JSON inside double quotes for bash, so $VARIABLES in it expand."""
    return '"' + json.dumps(body).replace('"', '\\"') + '"'


def order_lines(store: StoreConfig, keys: dict[str, str], base: str) -> list[str]:
    """Copy-paste shell lines (bash) for a delivery and a counter pickup through /api/v1/orders."""
    product = next((p for p in store.catalog if not p.rfid_tagged), store.catalog[0])
    location = store.store.location
    integrator, manager = (f'-H "X-API-Key: {keys[role]}"' for role in ("integrator", "manager"))
    post = "curl -s -X POST -H 'Content-Type: application/json'"
    new_key = '-H "Idempotency-Key: $RANDOM$RANDOM"'
    line = {"gtin": product.gtin, "quantity": 1}
    store_url = f"$A/stores/{store.store.id}"
    sourcing, first_slot = _read('o["sourcing"]'), _read('o["items"][0]["start"]')
    first_fulfilment, code = _read('o["fulfilments"][0]["id"]'), _read('o["code"]')
    lines = [" Orders from every channel (paste into bash, in order):", f"   A={base}/api/v1"]
    if location is not None and store.store.fulfilment.delivery is not None:
        destination = {"lat": round(location.lat + 0.006, 6), "lon": round(location.lon + 0.009, 6)}
        delivery = {"channel": "web", "fulfilment": "delivery", "destination": destination, "lines": [line]}
        lines += [
            "   # a 30-minute delivery: sourced to the nearest store that can promise it, with its reasons",
            f"   {post} {integrator} {new_key} -d {_quoted(delivery)} $A/orders {sourcing}",
        ]
    counter: dict[str, object] = {"channel": "app", "fulfilment": "counter_pickup", "store": store.store.id}
    counter |= {"slot": "$SLOT", "lines": [line]}
    lines += [
        "   # a counter pickup in the next free slot",
        f"   SLOT=$(curl -s {integrator} {store_url}/pickup-slots {first_slot})",
        f"   ORDER=$({post} {integrator} {new_key} -d {_quoted(counter)} $A/orders "
        f"{first_fulfilment}); echo $ORDER",
        "   # the associate picks and stages it; the customer shows the code at the counter",
        f"   CODE=$(curl -s -X POST {manager} {store_url}/orders/$ORDER/stage {code}); echo $CODE",
        f"   {post} {manager} -d {_quoted({'code': '$CODE'})} {store_url}/orders/$ORDER/handover; echo",
        "   # every order of the store across channels, as the dashboard's Orders panel shows them",
        f"   curl -s {manager} {store_url}/orders",
        "",
    ]
    return lines
