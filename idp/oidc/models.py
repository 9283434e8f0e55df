"""What the OpenID provider must remember: SSO sessions, codes, refresh tokens, revocations.

Access tokens are signed JWTs and are never stored (a token-shaped request with a write costs about
twice one without: performance.md); what can invalidate one before it expires is stored instead:
a revoked ``jti``, a revoked grant (``gid``), an ended session (``sid``).

Every secret value (code, refresh token) is stored as a keyed hash (idp.core.hashing), never in
clear. Single-use artifacts are consumed with a conditional UPDATE (architecture.md habit 4).
"""

from __future__ import annotations

import secrets

from django.db import models
from django.utils.translation import gettext_lazy as _

# Labels of the keyed hashes under which codes and refresh tokens are stored (idp.core.hashing):
# one place, so that the writer and every reader agree.
CODE_HASH_PURPOSE = "code"
REFRESH_HASH_PURPOSE = "refresh_token"


def new_opaque_id() -> str:
    """A random identifier for sessions and grants (128 bits, URL-safe)."""
    return secrets.token_urlsafe(16)


class SsoSession(models.Model):
    """A professional's single sign-on session (OIDC Session Management: the ``sid``).

    Lives ``IDP_SSO_SESSION_MAX_SECONDS`` at most, and ends after ``IDP_SSO_SESSION_IDLE_SECONDS``
    without use. The browser holds only a reference to it; ending it here ends it everywhere.
    """

    sid = models.CharField(max_length=64, unique=True, default=new_opaque_id, editable=False)
    professional = models.ForeignKey(
        "accounts.Professional", on_delete=models.PROTECT, related_name="sso_sessions"
    )
    # What actually happened at login (OIDC Core §2: auth_time, acr, amr) and PSC's authMode.
    auth_time = models.DateTimeField()
    acr = models.CharField(max_length=20)
    amr = models.JSONField(default=list)
    auth_mode = models.CharField(max_length=20)
    created_at = models.DateTimeField(auto_now_add=True)
    last_active_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=40, blank=True, default="")
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=256, blank=True, default="")

    class Meta:
        verbose_name = _("SSO session")
        verbose_name_plural = _("SSO sessions")
        indexes = [models.Index(fields=["professional", "ended_at"])]

    def __str__(self) -> str:
        return f"session {self.sid[:8]}… of {self.professional_id}"


class SessionClient(models.Model):
    """A relying party that received tokens in a session: who to notify at logout."""

    session = models.ForeignKey(SsoSession, on_delete=models.CASCADE, related_name="clients")
    client_id = models.CharField(max_length=100)
    first_seen_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["session", "client_id"], name="oidc_session_client")
        ]

    def __str__(self) -> str:
        return f"{self.client_id} in {self.session_id}"


class AuthorizationCode(models.Model):
    """RFC 6749 §4.1.2: single use, short-lived, bound to client, redirect URI and PKCE."""

    code_hash = models.CharField(max_length=64, unique=True)
    # Every token issued from this code carries this grant id, so a replay can revoke them all
    # (RFC 6749 §4.1.2: "SHOULD revoke all tokens previously issued based on that code").
    grant_id = models.CharField(max_length=64, unique=True, default=new_opaque_id)
    client_id = models.CharField(max_length=100)
    session = models.ForeignKey(SsoSession, on_delete=models.CASCADE, related_name="codes")
    professional = models.ForeignKey("accounts.Professional", on_delete=models.CASCADE)
    redirect_uri = models.TextField()
    scope = models.TextField()
    nonce = models.CharField(max_length=512, blank=True, default="")
    code_challenge = models.CharField(max_length=128, blank=True, default="")
    code_challenge_method = models.CharField(max_length=10, blank=True, default="")
    # OIDC Core §5.5: claims requested individually.
    claims = models.JSONField(null=True, blank=True)
    acr = models.CharField(max_length=20)
    amr = models.JSONField(default=list)
    auth_time = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    consumed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"code for {self.client_id} (grant {self.grant_id[:8]}…)"


class RefreshToken(models.Model):
    """A refresh token; rotated on every use, its family being the grant (``grant_id``).

    Using a token marks it ``rotated_at`` and issues its successor; presenting an already-rotated
    token again means it leaked: the whole family is revoked (OAuth 2.0 Security BCP §4.14).
    """

    token_hash = models.CharField(max_length=64, unique=True)
    grant_id = models.CharField(max_length=64, db_index=True)
    parent = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="successor"
    )
    client_id = models.CharField(max_length=100)
    professional = models.ForeignKey("accounts.Professional", on_delete=models.CASCADE)
    session = models.ForeignKey(
        SsoSession, null=True, blank=True, on_delete=models.CASCADE, related_name="refresh_tokens"
    )
    scope = models.TextField()
    claims = models.JSONField(null=True, blank=True)
    acr = models.CharField(max_length=20)
    amr = models.JSONField(default=list)
    auth_time = models.DateTimeField()
    # The certificate thumbprint the tokens are bound to (RFC 8705 §3), if any.
    cnf_x5t_s256 = models.CharField(max_length=64, blank=True, default="")
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    rotated_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"refresh token for {self.client_id} (grant {self.grant_id[:8]}…)"


class RevokedGrant(models.Model):
    """Every token carrying this grant id is invalid (code replay, family reuse, revocation)."""

    grant_id = models.CharField(max_length=64, unique=True)
    reason = models.CharField(max_length=40)
    revoked_at = models.DateTimeField(auto_now_add=True)
    # After this, no token of the grant can still be valid: the row may be purged.
    purge_after = models.DateTimeField()

    def __str__(self) -> str:
        return f"revoked grant {self.grant_id[:8]}… ({self.reason})"


class RevokedAccessToken(models.Model):
    """An access token revoked before it expired (RFC 7009), by its ``jti``."""

    jti = models.CharField(max_length=64, unique=True)
    revoked_at = models.DateTimeField(auto_now_add=True)
    purge_after = models.DateTimeField()

    def __str__(self) -> str:
        return f"revoked access token {self.jti[:8]}…"


class UsedClientAssertion(models.Model):
    """``jti`` of private_key_jwt assertions already used (RFC 7523 §3 item 7: refuse replays)."""

    client_id = models.CharField(max_length=100)
    jti = models.CharField(max_length=256)
    purge_after = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["client_id", "jti"], name="oidc_assertion_jti")
        ]

    def __str__(self) -> str:
        return f"assertion {self.jti[:16]} of {self.client_id}"


class LogoutDelivery(models.Model):
    """A back-channel logout token to deliver (OIDC Back-Channel Logout 1.0 §2.5), with retries."""

    client_id = models.CharField(max_length=100)
    uri = models.URLField(max_length=1000)
    sid = models.CharField(max_length=64)
    sub = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)
    abandoned_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        indexes = [models.Index(fields=["delivered_at", "abandoned_at", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"logout of {self.sid[:8]}… to {self.client_id}"


#: Label of the keyed hash under which an ``auth_req_id`` is stored (and its card challenge's
#: ``reference``): OpenID CIBA Core 1.0 §7.3, the identifier is a bearer-like handle.
AUTH_REQ_ID_HASH_PURPOSE = "ciba_auth_req_id"


class CibaRequest(models.Model):
    """A backchannel authentication request (OpenID CIBA Core 1.0 §7) answered on the card app.

    The ``auth_req_id`` is found by its keyed hash. In ping mode the notification (§10.2) must
    carry the ``auth_req_id`` and the client's ``client_notification_token`` in clear, so those
    two are kept encrypted (idp.core.crypto) in ``ping_secrets_encrypted`` until the ping is
    delivered or abandoned, then wiped; a poll-mode row holds no secret at all. The delivery
    state lives on the row: one notification per request, retried with backoff by the worker.
    """

    class Mode(models.TextChoices):
        POLL = "poll"
        PING = "ping"

    auth_req_id_hash = models.CharField(max_length=64, unique=True)
    # Every token issued for this request carries this grant id (revocation of the whole grant).
    grant_id = models.CharField(max_length=64, unique=True, default=new_opaque_id)
    client_id = models.CharField(max_length=100)
    professional = models.ForeignKey("accounts.Professional", on_delete=models.CASCADE)
    challenge = models.OneToOneField(
        "authn.CardChallenge", on_delete=models.CASCADE, related_name="ciba_request"
    )
    scope = models.TextField()
    acr = models.CharField(max_length=20)
    mode = models.CharField(max_length=10, choices=Mode.choices)
    ping_secrets_encrypted = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    # §7.3 interval; grows by 5 s at each slow_down (§11).
    interval = models.PositiveSmallIntegerField(default=5)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    # Tokens were issued: the auth_req_id is spent (§11 invalid_grant afterwards).
    issued_at = models.DateTimeField(null=True, blank=True)
    # Ping delivery (§10.2): due when ping_next_attempt_at is set and neither done nor abandoned.
    ping_attempts = models.PositiveSmallIntegerField(default=0)
    ping_next_attempt_at = models.DateTimeField(null=True, blank=True)
    ping_delivered_at = models.DateTimeField(null=True, blank=True)
    ping_abandoned_at = models.DateTimeField(null=True, blank=True)
    ping_last_error = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        verbose_name = "CIBA request"
        verbose_name_plural = "CIBA requests"
        indexes = [
            models.Index(
                fields=["ping_next_attempt_at"],
                name="oidc_ciba_ping_due",
                condition=models.Q(
                    ping_next_attempt_at__isnull=False,
                    ping_delivered_at__isnull=True,
                    ping_abandoned_at__isnull=True,
                ),
            )
        ]

    def __str__(self) -> str:
        return f"CIBA request of {self.client_id} ({self.mode}, grant {self.grant_id[:8]}…)"
