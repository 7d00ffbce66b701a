"""Pickup codes: CSPRNG digits, salted scrypt hashes that verify only the right code, keyed lookup keys."""

from __future__ import annotations

import time

import pytest

from smartstore.kernel import pickup_codes as pc

SECRET = b"0123456789abcdef-test-secret"


@pytest.mark.parametrize("digits", [6, 7, 8])
def test_new_code_has_the_requested_digits(digits: int) -> None:
    codes = {pc.new_code(digits) for _ in range(200)}
    assert all(len(code) == digits and code.isdigit() for code in codes)
    assert len(codes) > 190  # random, not a counter or a constant


@pytest.mark.parametrize("digits", [0, 5, 9])
def test_new_code_refuses_other_lengths(digits: int) -> None:
    with pytest.raises(ValueError, match="6-8 digits"):
        pc.new_code(digits)


def test_hash_never_contains_the_code_and_is_salted() -> None:
    first, second = pc.hash_code("482913"), pc.hash_code("482913")
    assert first != second  # fresh salt each time
    for stored in (first, second):
        assert "482913" not in stored
        assert stored.startswith(f"scrypt${pc.SCRYPT_N}${pc.SCRYPT_R}${pc.SCRYPT_P}$")
        assert pc.is_code_hash(stored)


def test_verify_accepts_only_the_right_code() -> None:
    stored = pc.hash_code("00482913")
    assert pc.verify_code("00482913", stored)
    assert pc.verify_code(" 0048 2913 ", stored)  # typed with spaces
    assert not pc.verify_code("482913", stored)  # leading zeros matter
    assert not pc.verify_code("00482914", stored)
    assert not pc.verify_code("abc", stored)


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "plain482913",
        "bcrypt$8192$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "scrypt$1000$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",  # n not 2^k
        "scrypt$1048576$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",  # too costly
        "scrypt$8192$8$1$!!$AAAA",
    ],
)
def test_malformed_hashes_verify_false_without_raising(stored: str) -> None:
    assert not pc.is_code_hash(stored)
    assert not pc.verify_code("482913", stored)


def test_hashing_is_slow_enough_but_fast_enough() -> None:
    start = time.perf_counter()
    stored = pc.hash_code("482913")
    assert pc.verify_code("482913", stored)
    elapsed = (time.perf_counter() - start) / 2
    assert 0.002 < elapsed < 0.25  # ~15 ms on an idle core; generous bounds for a busy CI box


def test_lookup_key_is_keyed_per_bank_and_code() -> None:
    key = pc.lookup_key(SECRET, "locker-1", "482913")
    assert len(key) == 64
    assert "482913" not in key
    assert pc.lookup_key(SECRET, "locker-1", "48 29 13") == key
    assert pc.lookup_key(SECRET, "locker-2", "482913") != key
    assert pc.lookup_key(SECRET, "locker-1", "482914") != key
    assert pc.lookup_key(SECRET + b"x", "locker-1", "482913") != key
    with pytest.raises(ValueError, match="16 bytes"):
        pc.lookup_key(b"short", "locker-1", "482913")


@pytest.mark.parametrize("text", ["12345", "123456789", "12345a", "١٢٣٤٥٦", ""])
def test_normalise_refuses_what_is_not_a_code(text: str) -> None:
    with pytest.raises(pc.CodeFormatError):
        pc.normalise_code(text)


def test_qr_payload_is_the_code() -> None:
    assert pc.qr_payload("482913") == "482913"
