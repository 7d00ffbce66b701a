"""The demo banner's locker walk-through: order, load, kiosk or keypad, picked_up, wrong codes throttled."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from smartstore.kernel.storeconfig import Area, StoreConfig

logger = logging.getLogger(__name__)

DEMO_UNITS = 20
DEMO_QUANTITY = 2


def locker_lines(
    store: StoreConfig,
    keys: dict[str, str],
    base: str,
    store_file: Path,
    mqtt_url: str,
    protocol: str,
) -> list[str]:
    """Copy-paste shell lines (bash) for the pickup-locker flow; empty when the store has no locker."""
    if not store.devices.lockers:
        return []
    locker = store.devices.lockers[0].id
    # An untagged product: its count moves only with the pickup, so "stock decreased" is exact.
    product = next((p for p in store.catalog if not p.rfid_tagged), store.catalog[0])
    zone = next((z.id for z in store.zones if z.area is Area.SALESFLOOR), store.zones[0].id)
    count = json.dumps({"type": "count", "gtin": product.gtin, "quantity": DEMO_UNITS, "zone": zone})
    order = json.dumps({"lines": [{"gtin": product.gtin, "quantity": DEMO_QUANTITY}]})
    field = "python3 -c 'import json,sys; print(json.load(sys.stdin)[\"{}\"])'"
    integrator, manager, kiosk = (
        f'-H "X-API-Key: {keys[role]}"' for role in ("integrator", "manager", "kiosk")
    )
    json_header = "-H 'Content-Type: application/json'"
    return [
        f" Pickup lockers ({locker}; paste into bash, in order):",
        f"   S={base}/api/v1/stores/{store.store.id}",
        f"   # {product.name}: {DEMO_UNITS} counted; the shop orders {DEMO_QUANTITY} -> reserved",
        f"   curl -s -X POST {integrator} {json_header} -d '{count}' $S/movements; echo",
        f'   ORDER=$(curl -s -X POST {integrator} {json_header} -H "Idempotency-Key: $RANDOM$RANDOM" '
        f"-d '{order}' $S/pickup-orders | {field.format('id')}); echo $ORDER",
        "   # an associate picks and loads it: a compartment opens, the simulated associate closes it in",
        f"   curl -s -X POST {manager} $S/pickup-orders/$ORDER/pick; echo",
        f"   CODE=$(curl -s -X POST {manager} $S/pickup-orders/$ORDER/load | {field.format('code')}); "
        "echo code $CODE",
        "   # the customer: kiosk page -> type the code -> 'Door N is open'; #setup asks staff for the",
        "   # kiosk key above once (later: hold the screen's top-left corner 3 s)",
        f"   #   {base}/kiosk/{store.store.id}/{locker}#setup",
        "   # ... or the locker's own keypad, checked by the edge even with the gateway down:",
        f"   #   smartstore locker keypad --store {store_file} --locker {locker} "
        f"--mqtt-url {mqtt_url} --mqtt-protocol {protocol} $CODE",
        "   # the simulated customer takes the parcel: picked_up, on_hand down by "
        f"{DEMO_QUANTITY}, reserved 0",
        f"   curl -s {manager} $S/pickup-orders/$ORDER | {field.format('state')}",
        f"   curl -s {integrator} $S/inventory/{product.gtin}; echo",
        "   # wrong codes are throttled: tries_left 4..0, then 423 locked for 15 minutes",
        f'   for i in 1 2 3 4 5 6; do curl -s -X POST {kiosk} {json_header} -d \'{{"code": "000000"}}\' '
        f"$S/lockers/{locker}/pickup; echo; done",
        "",
    ]
