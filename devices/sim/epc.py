"""SGTIN-96 EPC encoding (GS1 EPC Tag Data Standard) of a GTIN-14 plus serial number, as hex."""

from __future__ import annotations

from smartstore.kernel.contract.gtin import is_valid_gtin14

SGTIN96_HEADER = 0x30
FILTER_POS_ITEM = 1
MAX_SERIAL = 2**38 - 1

# company prefix digits -> (partition value, company prefix bits, item reference bits); TDS table 14.
_PARTITIONS: dict[int, tuple[int, int, int]] = {
    12: (0, 40, 4),
    11: (1, 37, 7),
    10: (2, 34, 10),
    9: (3, 30, 14),
    8: (4, 27, 17),
    7: (5, 24, 20),
    6: (6, 20, 24),
}


class EpcError(ValueError):
    """A GTIN, prefix length or serial that SGTIN-96 cannot carry."""


def sgtin96(
    gtin: str, serial: int, company_prefix_length: int = 7, filter_value: int = FILTER_POS_ITEM
) -> str:
    """The 24-hex-digit SGTIN-96 of one item: header, filter, partition, prefix, indicator+item, serial."""
    if not is_valid_gtin14(gtin):
        raise EpcError(f"not a valid GTIN-14: {gtin!r}")
    if company_prefix_length not in _PARTITIONS:
        raise EpcError(f"company prefix length must be 6..12, not {company_prefix_length}")
    if not 0 <= serial <= MAX_SERIAL:
        raise EpcError(f"serial {serial} does not fit in 38 bits")
    if not 0 <= filter_value <= 7:
        raise EpcError(f"filter value {filter_value} does not fit in 3 bits")
    partition, prefix_bits, item_bits = _PARTITIONS[company_prefix_length]
    company_prefix = int(gtin[1 : 1 + company_prefix_length])
    # The indicator digit travels in front of the item reference (TDS §7.1.2).
    item_reference = int(gtin[0] + gtin[1 + company_prefix_length : 13])
    value = SGTIN96_HEADER
    for field, bits in (
        (filter_value, 3),
        (partition, 3),
        (company_prefix, prefix_bits),
        (item_reference, item_bits),
        (serial, 38),
    ):
        value = (value << bits) | field
    return f"{value:024X}"
