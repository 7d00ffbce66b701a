"""Locker pickup codes: CSPRNG digits, salted scrypt hashes, constant-time checks and HMAC lookup keys."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass

logger = logging.getLogger(__name__)

MIN_DIGITS = 6
MAX_DIGITS = 8
SCHEME = "scrypt"
# n=2**13, r=8 costs ~8 MiB and ~15 ms on one idle core: slow enough that a stolen manifest cannot be
# brute-forced over all 10**6 codes per order in seconds, fast enough for a < 100 ms code -> open.
SCRYPT_N = 2**13
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
HASH_BYTES = 32
# Stored strings come from the database or the wire; bounded so a forged hash cannot make us burn memory.
_MAX_N = 2**16
_MAX_R = 16
_MAX_P = 4


class CodeFormatError(ValueError):
    """Text that is not a 6-8 digit pickup code."""


@dataclass(frozen=True, slots=True)
class ScryptParams:
    n: int = SCRYPT_N
    r: int = SCRYPT_R
    p: int = SCRYPT_P


DEFAULT_PARAMS = ScryptParams()


def new_code(digits: int = MIN_DIGITS) -> str:
    """A uniformly random code of `digits` digits (leading zeros allowed) from the OS CSPRNG."""
    if not MIN_DIGITS <= digits <= MAX_DIGITS:
        raise ValueError(f"a pickup code has {MIN_DIGITS}-{MAX_DIGITS} digits, not {digits}")
    return f"{secrets.randbelow(10**digits):0{digits}d}"


def normalise_code(text: str) -> str:
    """The code a person typed or a QR scanner sent: spaces and dashes dropped, 6-8 ASCII digits."""
    code = text.strip().replace(" ", "").replace("-", "")
    if not (MIN_DIGITS <= len(code) <= MAX_DIGITS and code.isascii() and code.isdigit()):
        raise CodeFormatError(f"a pickup code is {MIN_DIGITS}-{MAX_DIGITS} digits")
    return code


def qr_payload(code: str) -> str:
    """What the customer's QR code encodes: the code itself, so a scanner acting as a keyboard types it."""
    return normalise_code(code)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(code: str, salt: bytes, params: ScryptParams, dklen: int) -> bytes:
    return hashlib.scrypt(
        code.encode(),
        salt=salt,
        n=params.n,
        r=params.r,
        p=params.p,
        maxmem=256 * params.r * params.n + 2**20,
        dklen=dklen,
    )


def hash_code(code: str, params: ScryptParams = DEFAULT_PARAMS) -> str:
    """`scrypt$n$r$p$salt$hash` (urlsafe base64, no padding) with a fresh 16-byte random salt."""
    code = normalise_code(code)
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(code, salt, params, HASH_BYTES)
    return f"{SCHEME}${params.n}${params.r}${params.p}${_b64(salt)}${_b64(digest)}"


def _parse(stored: str) -> tuple[ScryptParams, bytes, bytes] | None:
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != SCHEME:
        return None
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, digest = _unb64(parts[4]), _unb64(parts[5])
    except (ValueError, binascii.Error):
        return None
    power_of_two = n > 1 and n & (n - 1) == 0
    if not (power_of_two and n <= _MAX_N and 1 <= r <= _MAX_R and 1 <= p <= _MAX_P):
        return None
    if len(salt) < 8 or not 16 <= len(digest) <= 64:
        return None
    return ScryptParams(n, r, p), salt, digest


def is_code_hash(stored: str) -> bool:
    return _parse(stored) is not None


def verify_code(code: str, stored: str) -> bool:
    """Whether `code` matches the stored hash; False (never an exception) for malformed input."""
    parsed = _parse(stored)
    if parsed is None:
        logger.warning("pickup code hash in an unknown format")
        return False
    try:
        code = normalise_code(code)
    except CodeFormatError:
        return False
    params, salt, digest = parsed
    return hmac.compare_digest(_scrypt(code, salt, params, len(digest)), digest)


def lookup_key(secret: bytes, locker_bank: str, code: str) -> str:
    """HMAC-SHA256(secret, "{locker_bank}|{code}") in hex: finds a live order by code in one indexed query.

    Keyed, so the database alone does not reveal codes; the scrypt hash is still checked afterwards.
    """
    if len(secret) < 16:
        raise ValueError("the lookup secret must be at least 16 bytes")
    message = f"{locker_bank}|{normalise_code(code)}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()
