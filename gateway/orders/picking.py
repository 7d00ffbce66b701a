"""Picking in the store: pick lists by zone and shelf, the RFID pick check, and short picks.

Pick list: the store's orders still to pick (reserved, picking), most urgent first (delivery promises,
then booked slots, by time, then the rest by age); each line with its planogram shelves and RFID counts;
`by_zone` groups the lines so an associate walks the store zone by zone. RFID check: a tagged product is
`confirmed` when the locker/staging zones (area `locker`) count at least the units wanted by the orders
picked there (picking, staged, loaded, ready; this order included), else `pending`; untagged ones are
`not_tagged` (the associate confirms); GTINs counted there that no open order wants are `unexpected`.
Short pick: the missing units leave the order (reservation released, `order.short_picked` event), never
silently: delivery and shipping are re-sourced at once elsewhere; a pickup gets the stores that could
fill the missing lines, for the customer to choose; an order with nothing left is cancelled.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from smartstore.gateway.db import domain_events as order_events
from smartstore.gateway.db.lockers import PickupOrder
from smartstore.gateway.db.models import ZoneCount
from smartstore.gateway.db.orders import CustomerOrder
from smartstore.gateway.db.util import as_utc
from smartstore.gateway.inventory.allocation import Channel
from smartstore.gateway.inventory.store import apply_reservation, inventory_view
from smartstore.gateway.lockers import domain as locker_domain
from smartstore.gateway.lockers import lifecycle
from smartstore.gateway.lockers.lifecycle import Event, OrderError, fulfilment_of
from smartstore.gateway.lockers.order_store import FulfilmentDetails, create_order
from smartstore.gateway.lockers.states import HOLDS_RESERVATION, FulfilmentType, OrderState
from smartstore.gateway.lockers.view_models import order_view
from smartstore.gateway.orders.placement import OrderRequest, candidates
from smartstore.gateway.orders.sourcing import Allocation, Candidate, Decision, choose
from smartstore.kernel.storeconfig import Area, StoreConfig

logger = logging.getLogger(__name__)

ORDER_SHORT_PICKED = "order.short_picked"
CONFIRMED, PENDING, NOT_TAGGED = "confirmed", "pending", "not_tagged"
S = OrderState
TO_PICK = (S.RESERVED.value, S.PICKING.value)
# Orders whose goods are, or are on their way, in the locker/staging zones.
IN_STAGING = frozenset({S.PICKING.value, S.STAGED.value, S.LOADED.value, S.READY.value})
OPEN = sorted(state.value for state in HOLDS_RESERVATION)
MAX_ALTERNATIVES = 5
SOURCE = lifecycle.SOURCE_ORDER
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _priority(order: PickupOrder) -> tuple[Any, ...]:
    """Promised deliveries by time, then booked slots by time, then by age."""
    promise, slot = order.promised_by, order.slot_start
    first = (promise is None, as_utc(promise or EPOCH), slot is None, as_utc(slot or EPOCH))
    return (*first, as_utc(order.created_at), order.id)


def _units(lines: Iterable[tuple[str, int]]) -> dict[str, int]:
    wanted: dict[str, int] = {}
    for gtin, quantity in lines:
        wanted[gtin] = wanted.get(gtin, 0) + quantity
    return wanted


def _lines(order: PickupOrder) -> dict[str, int]:
    return _units((line.gtin, line.quantity) for line in order.lines)


def _zone_counts(
    session: Session, store_id: str, *, gtins: Iterable[str] = (), zones: Iterable[str] = ()
) -> dict[str, dict[str, int]]:
    """GTIN -> zone -> units counted (RFID or count movements), of these GTINs or zones."""
    query = select(ZoneCount).where(ZoneCount.store_id == store_id, ZoneCount.count > 0)
    query = query.where(ZoneCount.gtin.in_(sorted(set(gtins)))) if gtins else query
    query = query.where(ZoneCount.zone_id.in_(sorted(set(zones)))) if zones else query
    counts: dict[str, dict[str, int]] = {}
    for row in session.scalars(query):
        counts.setdefault(row.gtin, {})[row.zone_id] = row.count
    return counts


@dataclass(frozen=True, slots=True)
class Staging:
    """What the locker/staging zones count, and what the store's orders want there."""

    counted: Mapping[str, int]  # GTIN -> units counted in locker-area zones
    wanted: Mapping[str, int]  # GTIN -> units of orders in picking/staged/loaded/ready
    unexpected: list[dict[str, Any]]  # GTINs counted there that no open order wants

    def status(self, store: StoreConfig, gtin: str, own: int) -> dict[str, Any]:
        """The RFID check of one line; `own`: its order's units not already in `wanted`."""
        product = store.products.get(gtin)
        wanted, counted = self.wanted.get(gtin, 0) + own, self.counted.get(gtin, 0)
        status = CONFIRMED if counted >= wanted else PENDING
        return {"status": status if product and product.rfid_tagged else NOT_TAGGED} | {
            "counted": counted,
            "wanted": wanted,
        }


def staging(session: Session, store: StoreConfig) -> Staging:
    lockers = [zone.id for zone in store.zones_in(Area.LOCKER)]
    counts = _zone_counts(session, store.store.id, zones=lockers) if lockers else {}
    counted = {gtin: sum(zones.values()) for gtin, zones in counts.items()}
    query = select(PickupOrder).where(PickupOrder.store_id == store.store.id, PickupOrder.state.in_(OPEN))
    open_orders = session.scalars(query).all()
    picked = [(line.gtin, line.quantity) for o in open_orders if o.state in IN_STAGING for line in o.lines]
    wanted_anywhere = {line.gtin for o in open_orders for line in o.lines}
    unexpected = [
        {"gtin": gtin, "name": _name(store, gtin), "count": units}
        for gtin, units in sorted(counted.items())
        if gtin not in wanted_anywhere
    ]
    return Staging(counted, _units(picked), unexpected)


def _name(store: StoreConfig, gtin: str) -> str | None:
    product = store.products.get(gtin)
    return product.name if product else None


def _places(store: StoreConfig) -> dict[str, list[dict[str, Any]]]:
    """GTIN -> the planogram slots holding it, in the store file's order."""
    zones = store.zones_by_id
    places: dict[str, list[dict[str, Any]]] = {}
    for shelf in store.planogram:
        zone = zones[shelf.zone]
        for slot in shelf.slots:
            places.setdefault(slot.gtin, []).append(
                {"shelf": shelf.id, "slot": slot.id, "zone": zone.id, "zone_name": zone.name or zone.id}
            )
    return places


def _where(places: Sequence[dict[str, Any]], counts: Mapping[str, int]) -> tuple[str | None, dict[str, Any]]:
    """The zone to take a product from: a planogram shelf whose zone counts units (or has no count
    at all), else the shelf or backroom zone counting the most, else the first shelf."""
    for place in places:
        if not counts or counts.get(place["zone"], 0) > 0:
            return place["zone"], place
    if counts:
        return max(sorted(counts), key=counts.__getitem__), {"shelf": None, "slot": None}
    return (places[0]["zone"], places[0]) if places else (None, {"shelf": None, "slot": None})


def _lines_of(
    order: PickupOrder, store: StoreConfig, counts: Mapping[str, Mapping[str, int]], check: Staging
) -> list[dict[str, Any]]:
    """The order's lines (one per GTIN), each with its shelves, counts by area and RFID check."""
    zones, places = store.zones_by_id, _places(store)
    own = 0 if order.state in IN_STAGING else 1
    lines = []
    for gtin, quantity in _lines(order).items():
        by_area = {area.value: 0 for area in (Area.SALESFLOOR, Area.BACKROOM, Area.LOCKER)}
        for zone_id, units in counts.get(gtin, {}).items():
            if zone_id in zones:
                by_area[zones[zone_id].area.value] += units
        product = store.products.get(gtin)
        lines.append(
            {"gtin": gtin, "name": _name(store, gtin), "quantity": quantity}
            | {"rfid_tagged": bool(product and product.rfid_tagged), "places": places.get(gtin, [])}
            | {"counts": by_area, "rfid": check.status(store, gtin, own * quantity)}
        )
    return lines


def pick_list(session: Session, store: StoreConfig) -> dict[str, Any]:
    """Every order of the store still to pick, most urgent first, with where each line is; by zone."""
    store_id = store.store.id
    query = select(PickupOrder).where(PickupOrder.store_id == store_id, PickupOrder.state.in_(TO_PICK))
    orders = sorted(session.scalars(query).all(), key=_priority)
    gtins = {line.gtin for o in orders for line in o.lines}
    counts = _zone_counts(session, store_id, gtins=gtins) if gtins else {}
    check = staging(session, store)
    shelf_or_back = {z.id for z in store.zones_in(Area.SALESFLOOR, Area.BACKROOM)}
    items = []
    walk: dict[str | None, list[dict[str, Any]]] = {}
    for order in orders:
        lines = _lines_of(order, store, counts, check)
        for line in lines:
            here = {z: n for z, n in counts.get(line["gtin"], {}).items() if z in shelf_or_back}
            zone, place = _where(line["places"], here)
            stop = {
                "order": order.id,
                "gtin": line["gtin"],
                "name": line["name"],
                "quantity": line["quantity"],
            }
            walk.setdefault(zone, []).append(stop | {"shelf": place["shelf"], "slot": place["slot"]})
        items.append(order_view(order, history=False) | {"lines": lines})
    zones, walk_order = store.zones_by_id, {z.id: n for n, z in enumerate(store.zones)}
    by_zone = []
    for zone_id in sorted(walk, key=lambda z: (z is None, walk_order.get(z or "", 0))):
        info = zones.get(zone_id or "")
        by_zone.append(
            {
                "zone": zone_id,
                "name": (info.name or info.id) if info else None,
                "area": info.area.value if info else None,
                # The sort is stable: within a slot, the most urgent order stays first.
                "lines": sorted(walk[zone_id], key=lambda s: (s["shelf"] or "~", s["slot"] or "~")),
            }
        )
    return {"store": store_id, "orders": items, "by_zone": by_zone, "unexpected": check.unexpected}


def pick_check(session: Session, store: StoreConfig, order_id: str) -> dict[str, Any]:
    """The RFID check of one order's lines, and what the staging zones hold that nobody ordered."""
    order = lifecycle.get_order(session, store.store.id, order_id)
    gtins = {line.gtin for line in order.lines}
    counts = _zone_counts(session, store.store.id, gtins=gtins) if gtins else {}
    lines = _lines_of(order, store, counts, check := staging(session, store))
    statuses = {line["rfid"]["status"] for line in lines}
    status = PENDING if PENDING in statuses else NOT_TAGGED if NOT_TAGGED in statuses else CONFIRMED
    return order_view(order, history=False) | {
        "status": status,
        "lines": lines,
        "associate_confirms": [line["gtin"] for line in lines if line["rfid"]["status"] == NOT_TAGGED],
        "unexpected": check.unexpected,
    }


# --- short picks -------------------------------------------------------------------------------


@dataclass
class ShortPick:
    """What a short pick did: the order after it, and where the missing units went (or may go)."""

    order: PickupOrder
    missing: dict[str, int]
    cancelled: bool = False
    outcome: str = "unfilled"  # resourced, alternatives, unfilled
    resourced: list[PickupOrder] = field(default_factory=list)
    alternatives: list[dict[str, Any]] = field(default_factory=list)
    decision: Decision | None = None
    events: list[Event] = field(default_factory=list)


def _missing(order: PickupOrder, lines: Sequence[tuple[str, int]]) -> dict[str, int]:
    has = _lines(order)
    missing = _units(lines)
    for gtin, units in missing.items():
        if not 1 <= units <= has.get(gtin, 0):
            what = f"{has[gtin]} of GTIN {gtin}, not {units} to miss" if gtin in has else f"no GTIN {gtin}"
            raise OrderError(422, "invalid_short_pick", f"order {order.id} has {what}")
    return missing


def _shrink(
    session: Session, store: StoreConfig, order: PickupOrder, missing: Mapping[str, int], at: datetime
) -> list[Event]:
    """Take the missing units out of the order's lines (last lines first) and release them."""
    left = dict(missing)
    for line in reversed(order.lines):
        take = min(left.get(line.gtin, 0), line.quantity)
        line.quantity -= take
        left[line.gtin] = left.get(line.gtin, 0) - take
    order.lines = [line for line in order.lines if line.quantity > 0]
    order.size = locker_domain.order_size(store.products[line.gtin].locker_size for line in order.lines).value
    order.updated_at = at
    events: list[Event] = []
    for gtin, units in sorted(missing.items()):
        if gtin in store.products:
            row = apply_reservation(session, store, gtin=gtin, delta=-units, source=SOURCE, at=at)
            events.append(("inventory", store.store.id, inventory_view(row)))
    session.flush()
    events.append(("orders", store.store.id, order_view(order)))
    return events


def _request(
    order: PickupOrder, store: StoreConfig, customer: CustomerOrder | None, missing: Mapping[str, int]
) -> OrderRequest:
    """The missing lines as an order to source elsewhere: delivery and shipping to the customer's
    destination; a pickup (and a shipment without one) measured from this store."""
    fulfilment = fulfilment_of(order)
    destination = None
    if fulfilment in (FulfilmentType.DELIVERY, FulfilmentType.SHIP) and customer and customer.destination:
        destination = (float(customer.destination["lat"]), float(customer.destination["lon"]))
    elif fulfilment is not FulfilmentType.DELIVERY and store.store.location is not None:
        destination = (store.store.location.lat, store.store.location.lon)
    return OrderRequest(
        channel=Channel(order.channel or Channel.STORE_ASSOCIATE.value),
        fulfilment=fulfilment,
        lines=list(missing.items()),
        destination=destination,
        allow_split=bool(customer and customer.allow_split),
    )


def _alternatives(found: Sequence[Candidate], missing: Mapping[str, int]) -> list[dict[str, Any]]:
    """Locations that could fill every missing line, nearest first."""
    fills = [c for c in found if c.eligible and all(c.online_atp.get(g, 0) >= q for g, q in missing.items())]
    fills.sort(key=lambda c: (c.distance_km is None, c.distance_km or 0.0, c.store))
    return [
        {"store": c.store, "distance_km": None if c.distance_km is None else round(c.distance_km, 3)}
        for c in fills[:MAX_ALTERNATIVES]
    ]


def _place(
    session: Session,
    stores: Mapping[str, StoreConfig],
    order: PickupOrder,
    allocations: Iterable[Allocation],
    result: ShortPick,
    *,
    by: str,
    at: datetime,
) -> None:
    """New fulfilment orders of the same customer order, channel, way and promise, elsewhere."""
    how = FulfilmentDetails(
        fulfilment=fulfilment_of(order),
        channel=Channel(order.channel) if order.channel else None,
        customer_order_id=order.customer_order_id,
        promised_by=order.promised_by,
        never_expires=True,
    )
    for allocation in allocations:
        target = stores[allocation.store]
        outcome = create_order(
            session, target, list(allocation.lines), by=by, at=at, external_ref=order.external_ref, how=how
        )
        assert outcome.order is not None
        result.resourced.append(outcome.order)
        result.events.extend(outcome.events)


def short_pick(
    session: Session,
    stores: Mapping[str, StoreConfig],
    store: StoreConfig,
    order_id: str,
    lines: Sequence[tuple[str, int]],
    *,
    by: str,
    at: datetime,
) -> ShortPick:
    """Take missing units out of a reserved or picking order and re-source them or offer alternatives.

    Inventory rows are locked store by store in store-id order (this store among them), as placement
    locks them, so a short pick and a split order never wait on each other in a cycle."""
    store_id = store.store.id
    order = lifecycle.get_order(session, store_id, order_id, lock=True)
    if order.state not in TO_PICK:
        message = f"order {order.id} is {order.state}: only reserved or picking orders can be short-picked"
        raise OrderError(409, "invalid_state", message)
    missing = _missing(order, lines)
    result = ShortPick(order, missing)
    fulfilment = fulfilment_of(order)
    customer = session.get(CustomerOrder, order.customer_order_id) if order.customer_order_id else None
    request = _request(order, store, customer, missing)
    found = candidates(session, {k: v for k, v in stores.items() if k != store_id}, request, at)
    allocations: tuple[Allocation, ...] = ()
    if fulfilment in (FulfilmentType.LOCKER_PICKUP, FulfilmentType.COUNTER_PICKUP):
        # The customer chose this store: nothing is placed elsewhere without them.
        result.alternatives = _alternatives(found, missing)
        result.outcome = "alternatives" if result.alternatives else "unfilled"
    else:
        decision = choose(
            request.lines, found, fulfilment=fulfilment, requested=None, allow_split=request.allow_split
        )
        result.decision = decision
        allocations = decision.allocations if decision.placed else ()
        result.outcome = "resourced" if decision.placed else "unfilled"
    everything = missing == _lines(order)
    kw: dict[str, Any] = {"by": by, "at": at}
    _place(session, stores, order, [a for a in allocations if a.store < store_id], result, **kw)
    if everything:
        result.events.extend(lifecycle.cancel_order(session, store, order.id, **kw).events)
        result.cancelled = True
    else:
        result.events.extend(_shrink(session, store, order, missing, at))
    _place(session, stores, order, [a for a in allocations if a.store > store_id], result, **kw)
    remaining = {} if result.cancelled else _lines(order)
    data = {
        "order": order.id,
        "customer_order": order.customer_order_id,
        "store": store_id,
        "fulfilment": fulfilment.value,
        "by": by[:100],
        "missing": [{"gtin": g, "quantity": q} for g, q in missing.items()],
        "remaining": [{"gtin": g, "quantity": q} for g, q in remaining.items()],
        "cancelled": result.cancelled,
        "outcome": result.outcome,
        "resourced": [{"order": o.id, "store": o.store_id} for o in result.resourced],
        "alternatives": result.alternatives,
        "sourcing": result.decision.as_dict() if result.decision is not None else None,
    }
    order_events.record(session, ORDER_SHORT_PICKED, store=store_id, subject=order.id, data=data, at=at)
    session.flush()
    logger.info("order %s short-picked: %s, %s", order.id, data["missing"], result.outcome)
    return result
