"""Pure channel allocation: how much of a store's stock each sales channel may promise.

Walk-in customers buy what is on the shelf; online channels (web, app, marketplace, a store associate
ordering for a customer) promise stock they will take later. Two rules keep them apart:

* **Holdback**: per store and product, a share of the on-hand units (``online_holdback_percent``,
  rounded up) or a number of units (``online_holdback_units``), whichever is larger, that online
  channels may not promise. The product's own values in the catalog override the store's.
* **Shelf-aware promising**: when the shelf camera sees every slot of the product empty and no unit
  is counted in the backroom, online ATP is 0 at once, whatever the book count says: the units the
  book still holds cannot be found to pick.

No I/O here: the ingest and the inventory store call `channel_figures` on every row they change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from smartstore.kernel.storeconfig import Product, StoreInfo


class Channel(StrEnum):
    WEB = "web"
    APP = "app"
    MARKETPLACE = "marketplace"
    STORE_ASSOCIATE = "store_associate"


class ChannelGroup(StrEnum):
    """Whom a figure is for: customers in the aisle, or every channel that orders ahead."""

    WALK_IN = "walk_in"
    ONLINE = "online"


ONLINE_CHANNELS = frozenset(Channel)


@dataclass(frozen=True, slots=True)
class Holdback:
    percent: float = 0.0
    units: int = 0

    def units_held(self, on_hand: int) -> int:
        return max(self.units, math.ceil(on_hand * self.percent / 100 - 1e-9))


def holdback_for(store: StoreInfo, product: Product | None) -> Holdback:
    """The product's holdback: its own catalog values where set, else the store's."""
    fulfilment = store.fulfilment
    percent = fulfilment.online_holdback_percent
    units = fulfilment.online_holdback_units
    if product is not None:
        if product.online_holdback_percent is not None:
            percent = product.online_holdback_percent
        if product.online_holdback_units is not None:
            units = product.online_holdback_units
    return Holdback(percent, units)


class OnlineRule(StrEnum):
    """Why online ATP is what it is (returned with the figure)."""

    BOOK = "book"  # available_to_promise less the holdback
    SHELF_EMPTY = "shelf_empty_none_in_backroom"


@dataclass(frozen=True, slots=True)
class ChannelFigures:
    walk_in: int
    online: int
    rule: OnlineRule


def channel_figures(
    *,
    available_to_promise: int,
    on_hand: int,
    backroom: int,
    shelf_state: str,
    holdback: Holdback,
) -> ChannelFigures:
    """ATP per channel group from one inventory row's figures."""
    if shelf_state == "empty" and backroom <= 0:
        return ChannelFigures(available_to_promise, 0, OnlineRule.SHELF_EMPTY)
    online = max(0, available_to_promise - holdback.units_held(on_hand))
    return ChannelFigures(available_to_promise, online, OnlineRule.BOOK)
