"""Encrypted TOTP devices (RFC 6238), shared by the administrators' authenticator and the card app.

Follows ``django_otp.plugins.otp_totp.models.TOTPDevice`` and verifies with django-otp's
``TOTP``, with two differences:

* the seed is encrypted at rest with :mod:`idp.core.crypto` (a database dump or a backup does not
  give away anyone's second factor);
* a code is consumed with a conditional UPDATE, so two concurrent logins cannot both use the same
  time step, whatever the database's locking.

Fields mirror the parameters of RFC 6238 §4: ``step`` is X (30 s, the value §5.2 recommends),
``t0`` is T0, ``digits`` the code length (RFC 4226 §5.3, 6 or 8). ``tolerance`` is how many
steps either side of ours a code may come from (§5.2: at most one step of network delay);
``drift`` remembers how far the authenticator's clock was found to be (§6 resynchronisation).
``last_t`` is the time step of the last accepted code: §5.2 "the verifier MUST NOT accept the
second attempt of the OTP after the successful validation has been issued for the first OTP".
"""

from __future__ import annotations

import secrets
import time

from django.conf import settings
from django.db import models
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_otp.models import ThrottlingMixin
from django_otp.oath import TOTP

from idp.core import crypto

# RFC 4226 §4 R6: the shared secret is at least 128 bits, 160 bits recommended (the HMAC-SHA1 output
# size); authenticator apps expect 20 bytes.
SEED_BYTES = 20
MIN_SEED_BYTES = 16


def new_encrypted_seed() -> str:
    """A fresh random seed (RFC 4226 §7.5: from a cryptographically strong source), encrypted."""
    return crypto.encrypt(secrets.token_bytes(SEED_BYTES))


class _AlwaysAllowed(models.Model):
    """The end of ThrottlingMixin's ``verify_is_allowed`` chain for models that are not
    django-otp ``Device``s (a card app device belongs to a professional, not a Django user)."""

    class Meta:
        abstract = True

    def verify_is_allowed(self) -> tuple[bool, dict | None]:
        return True, None


class EncryptedTOTPMixin(ThrottlingMixin, _AlwaysAllowed):
    """Seed, RFC 6238 parameters, throttled single-use verification."""

    encrypted_seed = models.CharField(
        _("encrypted seed"),
        max_length=255,
        default=new_encrypted_seed,
        editable=False,
        help_text=_("Fernet token of the TOTP seed; never displayed."),
    )
    step = models.PositiveSmallIntegerField(_("time step (seconds)"), default=30)
    t0 = models.BigIntegerField(_("T0 (Unix time)"), default=0)
    digits = models.PositiveSmallIntegerField(_("digits"), choices=[(6, "6"), (8, "8")], default=6)
    tolerance = models.PositiveSmallIntegerField(_("tolerance (steps)"), default=1)
    drift = models.SmallIntegerField(_("drift (steps)"), default=0)
    last_t = models.BigIntegerField(
        _("last accepted time step"),
        default=-1,
        help_text=_("A code is accepted only from a later time step (one use per step)."),
    )

    class Meta:
        abstract = True

    # --- the seed ---------------------------------------------------------------------------------
    @property
    def bin_key(self) -> bytes:
        """The decrypted seed (the name django-otp uses for TOTPDevice)."""
        return crypto.decrypt(self.encrypted_seed)

    def set_seed(self, seed: bytes) -> None:
        """Replace the seed (not saved). RFC 4226 §4 R6: at least 128 bits."""
        if len(seed) < MIN_SEED_BYTES:
            raise ValueError(f"a TOTP seed must be at least {MIN_SEED_BYTES} bytes")
        self.encrypted_seed = crypto.encrypt(seed)

    def reencrypt_seed(self) -> None:
        """Re-encrypt the seed under the newest field-encryption key (not saved)."""
        self.encrypted_seed = crypto.rotate(self.encrypted_seed)

    # --- verification -----------------------------------------------------------------------------
    def get_throttle_factor(self) -> int:
        # django-otp's TOTP plugin knob: after n failures, wait factor * 2^(n-1) seconds.
        return getattr(settings, "OTP_TOTP_THROTTLE_FACTOR", 1)

    def _normalise(self, token: str | int) -> int | None:
        if isinstance(token, int):
            token = f"{token:0{self.digits}d}"
        # Authenticator apps display "123 456"; people paste it as is.
        token = str(token).replace(" ", "").strip()
        # Exactly `digits` ASCII digits: int() alone would also accept "+12345", "1_2345" or a
        # code with its leading zero dropped.
        if len(token) != self.digits or not (token.isascii() and token.isdigit()):
            return None
        return int(token)

    def verify_token(self, token: str | int, *, now: float | None = None) -> bool:
        """Verify a TOTP code (RFC 6238 §4, HOTP of RFC 4226 §5.3 over the time-step counter).

        Accepts codes from ``tolerance`` steps either side of the current one, shifted by the known
        ``drift``, but never from a step at or before ``last_t`` (RFC 6238 §5.2, one use per step).
        Throttled as django-otp's ThrottlingMixin says; a throttled attempt is refused without
        being checked. ``now`` (Unix time) is for tests with the RFC 6238 Appendix B vectors.
        """
        allowed, _extra = self.verify_is_allowed()
        if not allowed:
            return False

        code = self._normalise(token)
        verified = False
        if code is not None:
            totp = TOTP(self.bin_key, self.step, self.t0, self.digits, self.drift)
            totp.time = time.time() if now is None else now
            if totp.verify(code, self.tolerance, self.last_t + 1):
                verified = self._consume(totp.t(), totp.drift)

        if not verified:
            self._count_failure()
        return verified

    def _consume(self, t: int, drift: int) -> bool:
        # The conditional UPDATE is the single-use guarantee: of two requests racing with the same
        # code, only one sees last_t < t (architecture habit 4). The in-memory check above only
        # spares a write for the common case.
        values: dict[str, object] = {
            "last_t": t,
            "throttling_failure_count": 0,
            "throttling_failure_timestamp": None,
            "last_used_at": timezone.now(),
        }
        if getattr(settings, "OTP_TOTP_SYNC", True):
            values["drift"] = drift
        consumed = type(self).objects.filter(pk=self.pk, last_t__lt=t).update(**values) == 1
        if consumed:
            for name, value in values.items():
                setattr(self, name, value)
        return consumed

    def _count_failure(self) -> None:
        # F() so that parallel wrong guesses all count (a read-modify-write would lose some).
        type(self).objects.filter(pk=self.pk).update(
            throttling_failure_count=F("throttling_failure_count") + 1,
            throttling_failure_timestamp=timezone.now(),
        )
        self.refresh_from_db(fields=["throttling_failure_count", "throttling_failure_timestamp"])
