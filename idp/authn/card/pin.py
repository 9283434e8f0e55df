"""The card app's PIN: policy and keyed hash (docs/design/card-app.md § PIN).

The PIN is the knowledge factor; its defence is the device's attempt counter (3 wrong, blocked)
and the device key, not a slow hash. It is stored as an HMAC with the server's token key (in the
environment, not in the database) over a per-device salt and the PIN: a database dump alone
allows no offline search of the 10^4..10^8 possible PINs, and two devices with the same PIN do
not share a hash.
"""

from __future__ import annotations

import secrets
from itertools import pairwise

from idp.core import hashing

MIN_LENGTH = 4
MAX_LENGTH = 8
_PURPOSE = "card_pin"


class WeakPin(ValueError):
    """The PIN breaks the policy; ``reason`` says which rule (for the error message)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def check_policy(pin: str) -> None:
    """4 to 8 ASCII digits, not trivially guessable; raises :class:`WeakPin`.

    Refused: one repeated digit (0000), a run up or down (1234, 9876, 7890 wraps are allowed),
    a repeated group (1212, 123123, 12341234).
    """
    if not isinstance(pin, str) or not (pin.isascii() and pin.isdigit()):
        raise WeakPin("digits")
    if not MIN_LENGTH <= len(pin) <= MAX_LENGTH:
        raise WeakPin("length")
    steps = {int(b) - int(a) for a, b in pairwise(pin)}
    if steps in ({0}, {1}, {-1}):
        raise WeakPin("sequence")
    for size in range(1, len(pin) // 2 + 1):
        if len(pin) % size == 0 and pin == pin[:size] * (len(pin) // size):
            raise WeakPin("repetition")


def new_salt() -> str:
    return secrets.token_urlsafe(16)


def hash_pin(pin: str, salt: str) -> str:
    """The stored form of a PIN (keyed SHA-256, architecture habit 5)."""
    return hashing.keyed_hash(f"{salt}:{pin}", purpose=_PURPOSE)


#: What :func:`presented_hash` gives for what cannot be a PIN: never equal to a stored hash
#: (those are hexadecimal), so the attempt counts as a wrong PIN.
NOT_A_PIN = "-"


def presented_hash(pin: object, salt: str) -> str:
    """The stored form of a presented PIN, for a comparison made by the database."""
    # A PIN is ASCII digits; anything else (a lone surrogate could not even be encoded) is a
    # wrong PIN, counted as one.
    if not isinstance(pin, str) or len(pin) > MAX_LENGTH * 4 or not pin.isascii():
        return NOT_A_PIN
    return hash_pin(pin, salt)
