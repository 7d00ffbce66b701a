"""GS1 check digits: known GTINs pass, a changed digit fails, short forms pad to GTIN-14."""

from __future__ import annotations

import pytest

from smartstore.kernel.contract.gtin import check_digit, is_valid_gtin14, make_gtin14, to_gtin14


@pytest.mark.parametrize(
    ("body", "digit"),
    [
        ("0950600010000", 5),  # from the example store
        ("0950600010001", 2),
        ("400638133393", 1),  # EAN-13 4006381333931
        ("9638507", 4),  # EAN-8 96385074
        ("0000000000000", 0),
    ],
)
def test_check_digit_matches_gs1(body: str, digit: int) -> None:
    assert check_digit(body) == digit


def test_every_wrong_last_digit_is_refused() -> None:
    good = "09506000100005"
    assert is_valid_gtin14(good)
    for wrong in "12346789":
        assert not is_valid_gtin14(good[:-1] + wrong)


@pytest.mark.parametrize("value", ["0950600010000", "095060001000050", "0950600010000X", ""])
def test_not_fourteen_digits_is_not_a_gtin14(value: str) -> None:
    assert not is_valid_gtin14(value)


@pytest.mark.parametrize(
    ("short", "padded"),
    [
        ("96385074", "00000096385074"),
        ("4006381333931", "04006381333931"),
        ("09506000100005", "09506000100005"),
    ],
)
def test_short_gtins_pad_to_fourteen(short: str, padded: str) -> None:
    assert to_gtin14(short) == padded


@pytest.mark.parametrize("value", ["4006381333932", "1234567", "abcdefgh", "123456789012345"])
def test_to_gtin14_rejects_bad_input(value: str) -> None:
    with pytest.raises(ValueError, match="GTIN"):
        to_gtin14(value)


def test_make_gtin14_completes_thirteen_digits() -> None:
    assert make_gtin14("0950600010012") == "09506000100128"
    with pytest.raises(ValueError, match="13 digits"):
        make_gtin14("123")
