"""The card app's records: enrolled devices, pending activations, approval challenges.

Imported by ``idp/authn/models.py`` (Django finds an app's models there). Design and field
meanings: docs/design/card-app.md § Data.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from idp.authn.totp import EncryptedTOTPMixin
from idp.core import hashing


def new_public_id() -> str:
    """An opaque, unguessable identifier for URLs and the app (256 bits)."""
    return hashing.new_secret()


class ActivationMethod(models.TextChoices):
    SELF_SERVICE = "self_service", _("codes by email and SMS")
    SESSION_QR = "session_qr", _("QR code from an authenticated session")
    ADMIN = "admin", _("administrator, in person")


class CardDevice(EncryptedTOTPMixin, models.Model):
    """One enrolled card app: a P-256 public key (possession) and a PIN (knowledge).

    The private key never leaves the phone; the server keeps the public JWK and the RFC 7638
    thumbprint (``kid``) the app names itself with. The PIN is stored as a keyed hash with a
    per-device salt (idp/authn/card/pin.py). The offline code's TOTP seed and its single-use
    state come from :class:`~idp.authn.totp.EncryptedTOTPMixin`.
    """

    professional = models.ForeignKey(
        "accounts.Professional", on_delete=models.CASCADE, related_name="card_devices"
    )
    name = models.CharField(_("name"), max_length=64)
    kid = models.CharField(_("key id (RFC 7638 thumbprint)"), max_length=64, unique=True)
    public_jwk = models.JSONField(_("public key (JWK)"))
    pin_salt = models.CharField(max_length=64, editable=False)
    pin_hash = models.CharField(max_length=64, editable=False)
    pin_failures = models.PositiveSmallIntegerField(_("consecutive wrong PINs"), default=0)
    blocked_at = models.DateTimeField(_("blocked at"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revoked_reason = models.CharField(_("revocation reason"), max_length=40, blank=True)
    expires_at = models.DateTimeField(_("expires at"))
    push = models.JSONField(_("push subscription"), null=True, blank=True)
    activated_by = models.CharField(
        _("activated by"), max_length=20, choices=ActivationMethod.choices
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)

    class Meta:
        verbose_name = _("card app device")
        verbose_name_plural = _("card app devices")
        indexes = [models.Index(fields=["professional", "revoked_at"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.kid[:8]}…)"

    @property
    def status(self) -> str:
        """``active``, ``blocked``, ``revoked`` or ``expired`` (the first that applies)."""
        if self.revoked_at is not None:
            return "revoked"
        if self.blocked_at is not None:
            return "blocked"
        if self.expires_at <= timezone.now():
            return "expired"
        return "active"


class CardActivation(models.Model):
    """A pending enrolment: the secrets a new device must present to register (single use).

    Self service holds the hashes of a code sent by email and one sent by SMS; the session QR and
    the administrator's in-person activation hold the hash of one activation code.
    """

    public_id = models.CharField(max_length=64, unique=True, default=new_public_id, editable=False)
    professional = models.ForeignKey(
        "accounts.Professional", on_delete=models.CASCADE, related_name="card_activations"
    )
    method = models.CharField(_("method"), max_length=20, choices=ActivationMethod.choices)
    email_code_hash = models.CharField(max_length=64, blank=True, editable=False)
    sms_code_hash = models.CharField(max_length=64, blank=True, editable=False)
    code_hash = models.CharField(max_length=64, blank=True, editable=False, db_index=True)
    attempts = models.PositiveSmallIntegerField(_("failed attempts"), default=0)
    created_by = models.CharField(_("created by"), max_length=120)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"))
    consumed_at = models.DateTimeField(_("used at"), null=True, blank=True)
    device = models.ForeignKey(
        CardDevice, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("card app activation")
        verbose_name_plural = _("card app activations")

    def __str__(self) -> str:
        return f"activation {self.public_id[:8]}… ({self.method})"


class ChallengePurpose(models.TextChoices):
    LOGIN = "login", _("login (push and number matching)")
    QR = "qr", _("login (QR code)")
    CIBA = "ciba", _("backchannel request (CIBA)")


class ChallengeStatus(models.TextChoices):
    PENDING = "pending", _("pending")
    APPROVED = "approved", _("approved")
    DENIED = "denied", _("denied")
    FAILED = "failed", _("failed")
    EXPIRED = "expired", _("expired")


class CardChallenge(models.Model):
    """One approval request shown on the holder's phone (docs/design/card-app.md § Data)."""

    public_id = models.CharField(max_length=64, unique=True, default=new_public_id, editable=False)
    purpose = models.CharField(max_length=10, choices=ChallengePurpose.choices)
    professional = models.ForeignKey(
        "accounts.Professional",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="card_challenges",
    )
    number = models.CharField(max_length=2)
    choices = models.JSONField(default=list)
    qr_secret_hash = models.CharField(max_length=64, blank=True)
    client_id = models.CharField(max_length=100, blank=True)
    client_name = models.CharField(max_length=200, blank=True)
    binding_message = models.CharField(max_length=64, blank=True)
    browser = models.CharField(max_length=200, blank=True)
    browser_hash = models.CharField(max_length=64, blank=True)
    reference = models.CharField(max_length=128, blank=True, db_index=True)
    acr = models.CharField(max_length=20, default="eidas2")
    status = models.CharField(
        max_length=10, choices=ChallengeStatus.choices, default=ChallengeStatus.PENDING
    )
    failure = models.CharField(max_length=40, blank=True)
    device = models.ForeignKey(
        CardDevice, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    answered_at = models.DateTimeField(null=True, blank=True)
    consumed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("card app challenge")
        verbose_name_plural = _("card app challenges")
        indexes = [models.Index(fields=["professional", "status", "expires_at"])]

    def __str__(self) -> str:
        return f"{self.purpose} challenge {self.public_id[:8]}… ({self.status})"
