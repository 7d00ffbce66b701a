"""Pure sourcing: which store (or stores) fulfils an order, and why.

Rules, in order:

1. **Eligible** locations only: a pickup needs a store (not a distribution centre) with a counter or
   a locker bank and room in the chosen slot; delivery needs the destination inside the store's
   delivery area; shipping needs a location that ships. A location that cannot promise any line
   (online ATP, see allocation.py) is left out.
2. **A store the customer chose** is the only candidate for a pickup: the order is placed there or
   refused with the nearest stores that could take it instead. For delivery and shipping a chosen
   store is used when it can fill the order.
3. Otherwise the **best single location** that can fill every line, by cost: its distance to the
   destination in km, plus `UNCONFIRMED_SHELF_KM` for each line whose shelf the camera does not see
   stocked (empty, or no camera), plus `THIN_STOCK_KM` when the order would take its last units of
   a line. So a store whose camera confirms the shelf wins over a nearer one up to 2 km closer per
   line it cannot confirm.
4. Only when no single location can fill it and the request allows a **split**: greedily, the
   location covering the most remaining units (ties: lower cost) takes what it can, up to
   `MAX_SPLIT` locations.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from smartstore.gateway.lockers.states import FulfilmentType

UNCONFIRMED_SHELF_KM = 2.0
THIN_STOCK_KM = 1.0
MAX_SPLIT = 3
EARTH_RADIUS_KM = 6371.0088
SHELF_CONFIRMED = frozenset({"ok", "low"})
COULD_INSTEAD = "could take the order instead"


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle (haversine) distance between two (lat, lon) points."""
    lat1, lon1, lat2, lon2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


@dataclass(frozen=True, slots=True)
class Candidate:
    """One location as sourcing sees it: where it is, what it may promise online, what it can do."""

    store: str
    distance_km: float | None  # None: the location or the destination has no coordinates
    online_atp: Mapping[str, int]  # GTIN -> units online channels may promise
    shelf_state: Mapping[str, str]  # GTIN -> ok / low / empty / unknown
    eligible: bool = True
    why_not: str = ""


@dataclass(frozen=True, slots=True)
class Allocation:
    store: str
    lines: tuple[tuple[str, int], ...]  # (GTIN, quantity), in the order's line order
    distance_km: float | None
    cost: float
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Decision:
    strategy: str  # requested_store, best_store, split, none
    allocations: tuple[Allocation, ...]
    considered: int
    rejected: tuple[tuple[str, str], ...] = ()  # (store, why), nearest first, a few
    shortfall: Mapping[str, int] = field(default_factory=dict)  # GTIN -> units nobody can promise

    @property
    def placed(self) -> bool:
        return bool(self.allocations) and not self.shortfall

    def as_dict(self) -> dict[str, object]:
        return {
            "strategy": self.strategy,
            "considered": self.considered,
            "allocations": [
                {
                    "store": a.store,
                    "lines": [{"gtin": g, "quantity": q} for g, q in a.lines],
                    "distance_km": None if a.distance_km is None else round(a.distance_km, 3),
                    "cost": round(a.cost, 3),
                    "reasons": list(a.reasons),
                }
                for a in self.allocations
            ],
            "rejected": [{"store": s, "reason": r} for s, r in self.rejected],
            "shortfall": [{"gtin": g, "quantity": q} for g, q in self.shortfall.items()],
        }


def _wanted(lines: Sequence[tuple[str, int]]) -> dict[str, int]:
    wanted: dict[str, int] = {}
    for gtin, quantity in lines:
        wanted[gtin] = wanted.get(gtin, 0) + quantity
    return wanted


def _cost(candidate: Candidate, take: Mapping[str, int]) -> tuple[float, tuple[str, ...]]:
    reasons: list[str] = []
    cost = candidate.distance_km or 0.0
    if candidate.distance_km is not None:
        reasons.append(f"{candidate.distance_km:.1f} km away")
    unconfirmed = [g for g in take if candidate.shelf_state.get(g, "unknown") not in SHELF_CONFIRMED]
    if unconfirmed:
        cost += UNCONFIRMED_SHELF_KM * len(unconfirmed)
        reasons.append(f"shelf not seen stocked for {len(unconfirmed)} of {len(take)} lines")
    else:
        reasons.append("camera sees every line on the shelf")
    thin = [g for g, q in take.items() if candidate.online_atp.get(g, 0) - q <= 0]
    if thin:
        cost += THIN_STOCK_KM
        reasons.append(f"takes the last units of {len(thin)} lines")
    return cost, tuple(reasons)


def _fills(candidate: Candidate, wanted: Mapping[str, int]) -> bool:
    return all(candidate.online_atp.get(g, 0) >= q for g, q in wanted.items())


def _ordered(lines: Sequence[tuple[str, int]], take: Mapping[str, int]) -> tuple[tuple[str, int], ...]:
    seen: list[str] = []
    for gtin, _ in lines:
        if gtin in take and take[gtin] > 0 and gtin not in seen:
            seen.append(gtin)
    return tuple((g, take[g]) for g in seen)


def _rejections(candidates: Sequence[Candidate], wanted: Mapping[str, int]) -> tuple[tuple[str, str], ...]:
    out = []
    for c in sorted(candidates, key=lambda c: (c.distance_km is None, c.distance_km or 0.0)):
        if not c.eligible:
            out.append((c.store, c.why_not))
        else:
            short = [
                f"{g}: {c.online_atp.get(g, 0)} of {q}"
                for g, q in wanted.items()
                if c.online_atp.get(g, 0) < q
            ]
            out.append((c.store, "not enough to promise (" + ", ".join(short) + ")"))
        if len(out) >= 5:
            break
    return tuple(out)


def choose(
    lines: Sequence[tuple[str, int]],
    candidates: Sequence[Candidate],
    *,
    fulfilment: FulfilmentType,
    requested: str | None = None,
    allow_split: bool = False,
) -> Decision:
    """Where to fulfil `lines` from, with reasons; `Decision.placed` is False when nothing fits."""
    wanted = _wanted(lines)
    eligible = [c for c in candidates if c.eligible]
    pickup = fulfilment in (FulfilmentType.LOCKER_PICKUP, FulfilmentType.COUNTER_PICKUP)
    if requested is not None:
        chosen = next((c for c in eligible if c.store == requested), None)
        if chosen is not None and _fills(chosen, wanted):
            cost, reasons = _cost(chosen, wanted)
            allocation = Allocation(
                chosen.store,
                _ordered(lines, wanted),
                chosen.distance_km,
                cost,
                ("chosen by the customer", *reasons),
            )
            return Decision("requested_store", (allocation,), len(candidates))
        if pickup:
            # A pickup happens where the customer said: refuse, naming where it could happen instead.
            others = [c for c in eligible if c.store != requested and _fills(c, wanted)]
            others.sort(key=lambda c: (c.distance_km is None, c.distance_km or 0.0))
            asked = [c for c in candidates if c.store == requested]
            rejected = _rejections(asked, wanted) + tuple((c.store, COULD_INSTEAD) for c in others[:3])
            return Decision("none", (), len(candidates), rejected, _shortfall(wanted, asked))
    full = [c for c in eligible if _fills(c, wanted)]
    if full:
        scored = sorted(((*_cost(c, wanted), c) for c in full), key=lambda item: (item[0], item[2].store))
        cost, reasons, best = scored[0]
        allocation = Allocation(best.store, _ordered(lines, wanted), best.distance_km, cost, reasons)
        return Decision("best_store", (allocation,), len(candidates))
    if allow_split:
        split = _split(lines, wanted, eligible)
        if split is not None:
            return Decision("split", split, len(candidates))
    return Decision(
        "none", (), len(candidates), _rejections(candidates, wanted), _shortfall(wanted, eligible)
    )


def _shortfall(wanted: Mapping[str, int], candidates: Sequence[Candidate]) -> dict[str, int]:
    best = {g: max((c.online_atp.get(g, 0) for c in candidates if c.eligible), default=0) for g in wanted}
    return {g: q - best[g] for g, q in wanted.items() if best[g] < q} or {g: q for g, q in wanted.items()}


def _split(
    lines: Sequence[tuple[str, int]], wanted: Mapping[str, int], eligible: Sequence[Candidate]
) -> tuple[Allocation, ...] | None:
    remaining = dict(wanted)
    allocations: list[Allocation] = []
    pool = list(eligible)
    while any(remaining.values()) and len(allocations) < MAX_SPLIT and pool:

        def covered(c: Candidate) -> int:
            return sum(min(c.online_atp.get(g, 0), q) for g, q in remaining.items())

        ranked = sorted(pool, key=lambda c: (-covered(c), _cost(c, remaining)[0], c.store))
        best = ranked[0]
        if covered(best) == 0:
            break
        take = {g: min(best.online_atp.get(g, 0), q) for g, q in remaining.items() if q > 0}
        take = {g: q for g, q in take.items() if q > 0}
        cost, reasons = _cost(best, take)
        allocations.append(
            Allocation(best.store, _ordered(lines, take), best.distance_km, cost, ("split", *reasons))
        )
        for g, q in take.items():
            remaining[g] -= q
        pool.remove(best)
    if any(remaining.values()):
        return None
    return tuple(allocations)
