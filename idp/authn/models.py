"""Second-factor devices.

``StaffTOTPDevice`` is the administrators' TOTP authenticator (administrators are Django users;
professionals are not, and get their own methods in this package: the card app's models live in
``idp/authn/card/models.py`` and are imported below so that Django finds them). The TOTP logic
shared with the card app's offline codes is :class:`idp.authn.totp.EncryptedTOTPMixin`.
"""

from __future__ import annotations

from base64 import b32encode
from urllib.parse import quote, urlencode

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django_otp.models import Device, TimestampMixin

from idp.authn.card.models import CardActivation, CardChallenge, CardDevice
from idp.authn.totp import MIN_SEED_BYTES, SEED_BYTES, EncryptedTOTPMixin, new_encrypted_seed

__all__ = [
    "MIN_SEED_BYTES",
    "SEED_BYTES",
    "CardActivation",
    "CardChallenge",
    "CardDevice",
    "StaffTOTPDevice",
    "new_encrypted_seed",
]


class StaffTOTPDevice(TimestampMixin, EncryptedTOTPMixin, Device):
    """An administrator's TOTP authenticator (RFC 6238), seed encrypted at rest.

    Fields mirror the parameters of RFC 6238 §4: ``step`` is X (30 s, the value §5.2 recommends),
    ``t0`` is T0, ``digits`` the code length (RFC 4226 §5.3, 6 or 8). ``tolerance`` is how many
    steps either side of ours a code may come from (§5.2: at most one step of network delay);
    ``drift`` remembers how far the authenticator's clock was found to be (§6 resynchronisation).
    ``last_t`` is the time step of the last accepted code: §5.2 "the verifier MUST NOT accept the
    second attempt of the OTP after the successful validation has been issued for the first OTP".
    """

    # Unlike django-otp's default, a new device is unusable until a first code proves that the
    # authenticator app holds the seed (`manage.py admin_totp --confirm`).
    confirmed = models.BooleanField(_("confirmed"), default=False)

    class Meta(Device.Meta):
        verbose_name = _("administrator TOTP device")
        verbose_name_plural = _("administrator TOTP devices")
        constraints = [
            # One authenticator per administrator: the login page then needs no device choice,
            # and "reset" has a single meaning.
            models.UniqueConstraint(fields=["user"], name="authn_staff_totp_one_per_user"),
        ]

    # --- provisioning -----------------------------------------------------------------------------
    @property
    def config_url(self) -> str:
        """The ``otpauth://`` URI an authenticator app scans (Google's Key Uri Format).

        The label is ``<issuer>:<username>``; the issuer comes from ``settings.OTP_TOTP_ISSUER``.
        Contains the seed: show it once, to the person enrolling, never log it.
        """
        issuer = str(getattr(settings, "OTP_TOTP_ISSUER", "") or "Caducée").replace(":", "")
        label = f"{issuer}:{self.user.get_username()}"
        params = {
            # Base32 without padding (RFC 4648 §6; the Key Uri Format omits the '=').
            "secret": b32encode(self.bin_key).decode("ascii").rstrip("="),
            "issuer": issuer,
            "algorithm": "SHA1",
            "digits": self.digits,
            "period": self.step,
        }
        return f"otpauth://totp/{quote(label)}?{urlencode(params, quote_via=quote)}"
