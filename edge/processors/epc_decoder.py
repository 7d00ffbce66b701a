"""EPC hex -> GTIN-14 through epcpy, decoded once per EPC and remembered."""

from __future__ import annotations

from collections import Counter

from epcpy.epc_schemes.sgtin import SGTIN
from epcpy.utils.parsers import hex_to_tag_encodable

from smartstore.gtin import is_valid_gtin14


class EpcDecoder:
    """Maps an EPC to the GTIN of its SGTIN-96/198 identity, or None for other schemes and garbage.

    A store reads the same few thousand tags all day, so the cache turns epcpy's ~20 µs parse into a
    dict lookup; it is cleared when full instead of tracking recency, which is cheap and good enough.
    """

    def __init__(self, counters: Counter[str], max_entries: int = 500_000) -> None:
        self._cache: dict[str, str | None] = {}
        self._counters = counters
        self._max_entries = max_entries

    def gtin(self, epc_hex: str) -> str | None:
        if epc_hex in self._cache:
            result = self._cache[epc_hex]
        else:
            result = self._decode(epc_hex)
            if len(self._cache) >= self._max_entries:
                self._cache.clear()
            self._cache[epc_hex] = result
        if result is None:
            self._counters["epc_not_product"] += 1
        return result

    def _decode(self, epc_hex: str) -> str | None:
        try:
            tag = hex_to_tag_encodable(epc_hex)
        except Exception:
            # epcpy raises ConvertException, ValueError, IndexError... on garbage: all mean "not an EPC".
            self._counters["epc_invalid"] += 1
            return None
        if not isinstance(tag, SGTIN):
            self._counters["epc_other_scheme"] += 1
            return None
        try:
            gtin = str(tag.gtin())
        except Exception:
            self._counters["epc_invalid"] += 1
            return None
        if not is_valid_gtin14(gtin):
            self._counters["epc_invalid"] += 1
            return None
        return gtin
