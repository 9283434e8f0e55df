"""Offline codes: TOTP (RFC 6238) over HOTP (RFC 4226), computed on the device.

This is the one-time-password algorithm over the standard library's HMAC, not a new cryptographic
primitive. It supports the three hash functions RFC 6238 §1.2 allows (SHA-1, the server's default,
SHA-256, SHA-512) and is checked against the RFC 6238 Appendix B test vectors.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Any

_ALGORITHMS = {"SHA1": hashlib.sha1, "SHA256": hashlib.sha256, "SHA512": hashlib.sha512}


def decode_secret(secret: str) -> bytes:
    """The shared secret from its base32 form (RFC 4648 §6), spaces and missing padding allowed."""
    cleaned = "".join(secret.split()).upper()
    cleaned += "=" * (-len(cleaned) % 8)
    try:
        return base64.b32decode(cleaned, casefold=False)
    except ValueError as exc:
        raise ValueError("The TOTP secret is not valid base32.") from exc


def _digest(algorithm: str) -> Callable[..., Any]:
    name = algorithm.upper().replace("-", "")
    try:
        return _ALGORITHMS[name]
    except KeyError:
        raise ValueError(f"Unsupported TOTP algorithm: {algorithm!r}.") from None


def hotp(key: bytes, counter: int, digits: int = 6, algorithm: str = "SHA1") -> str:
    """HOTP(K, C) = Truncate(HMAC(K, C)) mod 10^digits, zero-padded (RFC 4226 §5.3).

    ``counter`` is the 8-byte big-endian moving factor; dynamic truncation takes the low four
    bits of the last byte as an offset and reads 31 bits from there.
    """
    if not 6 <= digits <= 10:
        raise ValueError("HOTP values have 6 to 10 digits (RFC 4226 §5.3).")
    if counter < 0:
        raise ValueError("The HOTP counter is non-negative.")
    mac = hmac.new(key, counter.to_bytes(8, "big"), _digest(algorithm)).digest()
    offset = mac[-1] & 0x0F
    binary = int.from_bytes(mac[offset : offset + 4], "big") & 0x7FFFFFFF
    return str(binary % 10**digits).zfill(digits)


def time_step(at: float, period: int = 30, t0: int = 0) -> int:
    """T = floor((Unix time - T0) / X) (RFC 6238 §4.2)."""
    if period <= 0:
        raise ValueError("The TOTP period is positive.")
    return int((int(at) - t0) // period)


def totp(
    key: bytes,
    at: float | None = None,
    *,
    period: int = 30,
    digits: int = 6,
    algorithm: str = "SHA1",
    t0: int = 0,
) -> str:
    """TOTP = HOTP(K, T) for the time step containing ``at`` (now by default) (RFC 6238 §4.2)."""
    moment = time.time() if at is None else at
    return hotp(key, time_step(moment, period, t0), digits, algorithm)
