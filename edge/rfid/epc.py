"""EPC hex -> GS1 identity through epcpy, decoded once per distinct EPC and kept in a bounded cache."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from epcpy.epc_schemes.sgtin import SGTIN
from epcpy.utils.parsers import hex_to_tag_encodable

from smartstore.kernel.contract.gtin import is_valid_gtin14

# The contract's EpcHex: 8..128 hex digits; readers send upper or lower case.
_HEX = re.compile(r"[0-9A-Fa-f]{8,128}")
_SCHEME_BY_HEADER = {"30": "sgtin-96", "36": "sgtin-198"}


class EpcGarbage(StrEnum):
    """Why an EPC was dropped; counter names, so the set is small and fixed."""

    NOT_HEX = "epc_not_hex"
    UNKNOWN_HEADER = "epc_unknown_header"
    UNDECODABLE = "epc_undecodable"
    BAD_GTIN = "epc_bad_gtin"


@dataclass(frozen=True, slots=True)
class EpcIdentity:
    """A decodable EPC. `gtin` is set for SGTIN-96/198 (products); other schemes are kept by EPC only."""

    epc: str
    scheme: str
    gtin: str | None = None
    serial: str | None = None


def decode_epc(raw: str) -> EpcIdentity | EpcGarbage:
    """Decode one EPC with epcpy (~15-40 µs): call through `EpcCache`, never per read."""
    if not isinstance(raw, str) or not _HEX.fullmatch(raw):
        return EpcGarbage.NOT_HEX
    epc = raw.upper()
    try:
        tag = hex_to_tag_encodable(epc)
    except Exception as error:
        # epcpy raises ConvertException, ValueError, IndexError... for bit patterns it cannot parse.
        unknown = "header" in str(error).lower() and "partition" not in str(error).lower()
        return EpcGarbage.UNKNOWN_HEADER if unknown else EpcGarbage.UNDECODABLE
    if not isinstance(tag, SGTIN):
        return EpcIdentity(epc, f"{type(tag).__name__.lower()}")
    try:
        gtin = str(tag.gtin())
        serial = str(tag.gs1_element_string()).split("(21)", 1)[1]
    except Exception:
        return EpcGarbage.UNDECODABLE
    if not is_valid_gtin14(gtin):
        return EpcGarbage.BAD_GTIN
    return EpcIdentity(epc, _SCHEME_BY_HEADER.get(epc[:2], "sgtin"), gtin, serial)


class EpcCache:
    """Raw EPC text -> identity or garbage reason, decoding each distinct text once.

    Bounded and approximately least-recently-used with two generations: hits in the young dict cost one
    lookup; when it is full the old generation is dropped, so EPCs not seen for a whole generation are
    decoded again. A store reads the same tags all day, so nearly every read is a young hit.
    """

    def __init__(self, max_entries: int) -> None:
        self._generation_size = max(1, max_entries // 2)
        self._young: dict[str, EpcIdentity | EpcGarbage] = {}
        self._old: dict[str, EpcIdentity | EpcGarbage] = {}
        self.decoded = 0
        # The hot loop calls this bound method directly (a hit without a Python call); the young dict is
        # therefore rotated in place, never replaced.
        self.get_recent = self._young.get

    def __len__(self) -> int:
        return len(self._young) + len(self._old)

    def remember(self, identity: EpcIdentity) -> None:
        """Seed with an identity decoded earlier (restored state), so a restart does not decode it again."""
        if len(self._young) >= self._generation_size:
            self._rotate()
        self._young[identity.epc] = identity

    def lookup(self, raw: str) -> EpcIdentity | EpcGarbage:
        result = self._young.get(raw)
        if result is not None:
            return result
        result = self._old.pop(raw, None)
        if result is None:
            result = decode_epc(raw)
            self.decoded += 1
        if len(self._young) >= self._generation_size:
            self._rotate()
        self._young[raw] = result
        return result

    def _rotate(self) -> None:
        self._old = dict(self._young)
        self._young.clear()
