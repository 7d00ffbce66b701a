"""GS1 GTIN check digits (mod-10, weights 3/1 from the right)."""

from functools import lru_cache


def check_digit(body: str) -> int:
    """Check digit for the digits of a GTIN without its last digit."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


@lru_cache(maxsize=65536)  # a store has a few thousand GTINs; every signal checks them
def is_valid_gtin14(value: str) -> bool:
    return len(value) == 14 and value.isdigit() and check_digit(value[:-1]) == int(value[-1])


def to_gtin14(value: str) -> str:
    """Pad a GTIN-8/12/13/14 to GTIN-14; raises ValueError when its check digit is wrong."""
    if not value.isdigit() or len(value) not in (8, 12, 13, 14):
        raise ValueError(f"not a GTIN: {value!r}")
    padded = value.zfill(14)
    if not is_valid_gtin14(padded):
        raise ValueError(f"GTIN {value!r} has a wrong check digit")
    return padded


def make_gtin14(prefix_and_item: str) -> str:
    """Complete 13 digits (indicator, company prefix, item reference) into a valid GTIN-14."""
    if len(prefix_and_item) != 13 or not prefix_and_item.isdigit():
        raise ValueError("need exactly 13 digits")
    return prefix_and_item + str(check_digit(prefix_and_item))
