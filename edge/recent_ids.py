"""A bounded memory of recently seen ids, to drop redelivered duplicates."""

from __future__ import annotations

from collections import OrderedDict


class RecentIds:
    """The last `max_ids` distinct ids, oldest forgotten first; a repeat does not make an id younger."""

    def __init__(self, max_ids: int) -> None:
        self._max_ids = max_ids
        self._ids: OrderedDict[str, None] = OrderedDict()

    def first_time(self, item_id: str) -> bool:
        """Whether `item_id` is new, remembering it if so."""
        if item_id in self._ids:
            return False
        self._ids[item_id] = None
        if len(self._ids) > self._max_ids:
            self._ids.popitem(last=False)
        return True
