"""PIN format checks done on the device before anything is sent.

The server is the authority: it checks the PIN of every approval against its keyed hash and
counts failures (3 consecutive wrong PINs block the device), and refuses weak PINs at activation
(``weak_pin``). The app checks the format (4 to 8 ASCII digits) everywhere, and at activation
also the weak patterns of ``docs/design/card-app.md`` so that a weak choice is caught before the
one-time activation codes are spent. The offline code has no server-side PIN check at all: the
app only asks for a well-formed PIN before computing it (see ``docs/card-app.md``).
"""

from __future__ import annotations

import itertools
import re

from card_app.errors import CardAppError

_PIN = re.compile(r"[0-9]{4,8}")


class PinError(CardAppError):
    """The PIN is malformed, or too easy to guess."""


def check_format(pin: str) -> str:
    """Return ``pin`` if it is 4 to 8 ASCII digits, else raise :class:`PinError`."""
    if not isinstance(pin, str) or not _PIN.fullmatch(pin):
        raise PinError("The PIN is 4 to 8 digits. / Le code PIN comporte 4 à 8 chiffres.")
    return pin


def weakness(pin: str) -> str | None:
    """Why the server would refuse ``pin`` as too easy, or ``None``.

    Refused: one repeated digit (0000), an ascending or descending run (1234, 9876, 0123), a
    repeated group (1212, 123123). ``19xx``/``20xx`` (years) are allowed.
    """
    check_format(pin)
    digits = [int(c) for c in pin]
    steps = {b - a for a, b in itertools.pairwise(digits)}
    if steps == {0}:
        return "one repeated digit / un seul chiffre répété"
    if steps in ({1}, {-1}):
        return "a run of consecutive digits / une suite de chiffres consécutifs"
    for period in range(2, len(pin) // 2 + 1):
        if len(pin) % period == 0 and pin == pin[:period] * (len(pin) // period):
            return "a repeated group of digits / un groupe de chiffres répété"
    return None


def check_new_pin(pin: str) -> str:
    """Format and weakness checks for a PIN being chosen; returns it or raises PinError."""
    reason = weakness(pin)
    if reason:
        raise PinError(f"PIN too easy to guess / code PIN trop facile : {reason}.")
    return pin
