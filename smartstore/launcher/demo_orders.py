"""Demo order traffic: online orders that an associate loads and a customer collects with the kiosk code."""

from __future__ import annotations

import json
import logging
import random
import threading
import urllib.error
import urllib.request
import uuid
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
        if self.store.devices.lockers:
            self.thread.start()

    def close(self) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join(timeout=5)

    def _call(
        self, method: str, path: str, role: str, body: object = None, **headers: str
    ) -> tuple[int, Any]:
        url = f"{self.settings.base_url}/api/v1/stores/{self.store.store.id}{path}"
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
        while not self.stop.wait(self.settings.interval_s):
            try:
                self._one_order()
            except (OSError, ValueError, KeyError) as error:  # the gateway restarting, a demo being stopped
                logger.warning("demo order traffic: %s", error)

    def _one_order(self) -> None:
        gtins = list(self.store.products)
        self.random.shuffle(gtins)
        for gtin in gtins[:5]:
            status, order = self._call(
                "POST",
                "/pickup-orders",
                "integrator",
                {"external_ref": f"demo-{uuid.uuid4().hex[:8]}", "lines": [{"gtin": gtin, "quantity": 1}]},
                Idempotency_Key=uuid.uuid4().hex,
            )
            if status == 201:
                break
        else:
            return
        order_id = order["id"]
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
