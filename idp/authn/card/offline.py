"""Offline codes: the card app's RFC 6238 TOTP, for a phone without network.

The app derives a 6-digit code every 30 s from the seed it received at activation; the login page
checks it here (docs/design/card-app.md § Login page endpoints). An offline code proves
possession of the enrolled phone only (no PIN is checked by the server): it yields ``eidas1``
with ``amr`` ``["otp"]``, never the card app's ``eidas2``.

A professional may hold several devices, each with its own seed: the code is compared with each
usable one *without* counting a failure on the siblings (otherwise a holder using their second
phone would throttle the first one a little more each time), then consumed on the device it
matches through :meth:`~idp.authn.totp.EncryptedTOTPMixin.verify_token` (one use per time step,
conditional UPDATE). When no device matches, each checked device counts a failure (django-otp's
throttling: a code guesser slows down on every device). Rate limits per idNat and per address
are the caller's (:mod:`idp.authn.card.limits`).
"""

from __future__ import annotations

import time

from django_otp.oath import TOTP

from idp.accounts.models import Professional
from idp.authn.card import devices
from idp.authn.card.errors import CardError
from idp.authn.card.models import CardDevice

AMR = ("otp",)
ACR = "eidas1"
AUTH_MODE = "MOBILE"


def _clean(code: object, digits: int) -> int | None:
    """``digits`` ASCII digits (spaces allowed, as apps display "123 456"), or None."""
    if not isinstance(code, str):
        return None
    code = code.replace(" ", "").strip()
    if len(code) != digits or not (code.isascii() and code.isdigit()):
        return None
    return int(code)


def _matches(device: CardDevice, code: str, now: float) -> bool:
    """Would ``device`` accept ``code`` (same window and single-use rule as verify_token)?"""
    value = _clean(code, device.digits)
    if value is None:
        return False
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = now
    return totp.verify(value, device.tolerance, device.last_t + 1)


def verify(professional: Professional | None, code: object) -> CardDevice:
    """The usable device of ``professional`` whose current offline code is ``code`` (now used).

    Raises :class:`CardError`: ``no_device`` (no active professional or no usable device),
    ``invalid_code`` (wrong, malformed, already used in this time step, or throttled).
    """
    if professional is None or not professional.is_active:
        raise CardError("no_device", "no active professional")
    candidates = devices.usable(professional)
    if not candidates:
        raise CardError("no_device", f"professional {professional.pk}")
    if not isinstance(code, str) or len(code) > 16:
        raise CardError("invalid_code", "malformed code")
    # A throttled device is not even compared (django-otp ThrottlingMixin semantics).
    allowed = [d for d in candidates if d.verify_is_allowed()[0]]
    now = time.time()
    for device in allowed:
        if _matches(device, code, now):
            # Consumes the time step with a conditional UPDATE; False if a concurrent login won.
            if device.verify_token(code, now=now):
                return device
            raise CardError("invalid_code", f"code of device {device.pk} already used")
    for device in allowed:
        device.verify_token(code, now=now)  # counts the failure (throttling)
    raise CardError("invalid_code", f"no device of professional {professional.pk} matches")
