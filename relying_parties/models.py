"""Relying parties (OAuth clients) as the provider knows them.

Metadata names follow OpenID Connect Dynamic Client Registration 1.0 §2 and RFC 7591 §2, so that
the vendor portal and dynamic registration (a later issue) map onto them one to one.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

#: OpenID CIBA Core 1.0 §4: the grant type of the token request that redeems an ``auth_req_id``.
CIBA_GRANT_TYPE = "urn:openid:params:grant-type:ciba"


class Client(models.Model):
    class AuthMethod(models.TextChoices):
        CLIENT_SECRET_BASIC = "client_secret_basic"  # noqa: S105 (a method name)
        CLIENT_SECRET_POST = "client_secret_post"  # noqa: S105
        PRIVATE_KEY_JWT = "private_key_jwt"
        TLS_CLIENT_AUTH = "tls_client_auth"
        NONE = "none", _("none (public client, PKCE only)")

    class ApplicationType(models.TextChoices):
        WEB = "web"
        NATIVE = "native"

    class CibaMode(models.TextChoices):
        """OpenID CIBA Core 1.0 §5: how the client learns the result (push is not offered)."""

        DISABLED = "", _("disabled")
        POLL = "poll", _("poll")
        PING = "ping", _("ping")

    class SigningAlg(models.TextChoices):
        RS256 = "RS256"
        ES256 = "ES256"

    client_id = models.CharField(max_length=100, unique=True)
    name = models.CharField(_("name"), max_length=200)
    is_active = models.BooleanField(_("active"), default=True)
    application_type = models.CharField(
        max_length=10, choices=ApplicationType.choices, default=ApplicationType.WEB
    )

    # Authentication at the token, introspection, revocation (and CIBA) endpoints.
    token_endpoint_auth_method = models.CharField(
        max_length=30, choices=AuthMethod.choices, default=AuthMethod.CLIENT_SECRET_BASIC
    )
    # HMAC-SHA256 of the secret under IDP_TOKEN_HMAC_KEY (idp.core.hashing); shown once, never kept.
    secret_hash = models.CharField(max_length=64, blank=True, default="")
    secret_created_at = models.DateTimeField(null=True, blank=True)
    # private_key_jwt: the client's public keys, inline or by URL (RFC 7591 §2).
    jwks = models.JSONField(null=True, blank=True)
    jwks_uri = models.URLField(blank=True, default="")
    # tls_client_auth (RFC 8705 §2.1.2): the certificate subject DN the client must present.
    tls_client_auth_subject_dn = models.CharField(max_length=500, blank=True, default="")

    redirect_uris = models.JSONField(default=list, blank=True)
    post_logout_redirect_uris = models.JSONField(default=list, blank=True)
    backchannel_logout_uri = models.URLField(blank=True, default="")
    backchannel_logout_session_required = models.BooleanField(default=True)

    # OpenID CIBA Core 1.0 §4 (backchannel_token_delivery_mode, backchannel_client_notification_
    # endpoint): the card app approves requests the client sends without a browser.
    ciba_mode = models.CharField(
        _("CIBA token delivery mode"),
        max_length=10,
        choices=CibaMode.choices,
        blank=True,
        default=CibaMode.DISABLED,
    )
    ciba_notification_endpoint = models.URLField(
        _("CIBA client notification endpoint"), max_length=1000, blank=True, default=""
    )

    grant_types = models.JSONField(default=list, blank=True)
    response_types = models.JSONField(default=list, blank=True)
    # Scopes the client may obtain; unknown scopes in a request are dropped, not refused (PSC).
    allowed_scopes = models.JSONField(default=list, blank=True)
    require_pkce = models.BooleanField(default=True)
    allow_plain_pkce = models.BooleanField(default=False)

    id_token_signed_response_alg = models.CharField(
        max_length=10, choices=SigningAlg.choices, default=SigningAlg.RS256
    )
    access_token_signed_response_alg = models.CharField(
        max_length=10, choices=SigningAlg.choices, default=SigningAlg.RS256
    )
    # Empty: UserInfo as plain JSON; otherwise a JWT signed with this algorithm (PSC § UserInfo).
    userinfo_signed_response_alg = models.CharField(
        max_length=10, choices=SigningAlg.choices, blank=True, default=""
    )

    # Lifetimes in seconds; null means the provider's default (IDP_*_SECONDS). Capped at a day:
    # revocation markers and signing keys are kept for the longest token lifetime (revocation.py,
    # rotate_keys), and a refresh token never outlives its SSO session anyway.
    access_token_lifetime = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(10), MaxValueValidator(86_400)]
    )
    refresh_token_lifetime = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(60), MaxValueValidator(86_400)]
    )
    id_token_lifetime = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(30), MaxValueValidator(86_400)]
    )

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("relying party")
        verbose_name_plural = _("relying parties")
        ordering = ("name",)

    def __str__(self) -> str:
        return f"{self.name} ({self.client_id})"

    def clean(self) -> None:
        """A registered JWKS holds public keys only (RFC 7591 §2: the client's *public* keys);
        CIBA settings are consistent (OpenID CIBA Core 1.0 §4)."""
        super().clean()
        self._clean_ciba()
        if self.jwks:
            try:
                keyset = KeySet.import_key_set(self.jwks)
            except (TypeError, ValueError, JoseError):
                raise ValidationError({"jwks": _("This is not a JSON Web Key Set.")}) from None
            if not keyset.keys:
                raise ValidationError({"jwks": _("The key set holds no usable key.")})
            if any(key.is_private for key in keyset.keys):
                raise ValidationError(
                    {"jwks": _("The key set holds a private key: register the public keys only.")}
                )

    def _clean_ciba(self) -> None:
        """CIBA needs its grant type, a confidential client, and in ping mode an endpoint."""
        grant_types = self.grant_types if isinstance(self.grant_types, list) else []
        has_grant = CIBA_GRANT_TYPE in grant_types
        if not self.ciba_mode:
            if has_grant:
                raise ValidationError(
                    {"ciba_mode": _("The CIBA grant type is listed: choose a CIBA mode.")}
                )
            if self.ciba_notification_endpoint:
                raise ValidationError(
                    {"ciba_notification_endpoint": _("Only for the CIBA ping mode.")}
                )
            return
        if not has_grant:
            raise ValidationError(
                {"grant_types": _("CIBA needs the grant type %s.") % CIBA_GRANT_TYPE}
            )
        if self.token_endpoint_auth_method == self.AuthMethod.NONE:
            # CIBA Core §4: the client authenticates; a public client cannot.
            raise ValidationError({"ciba_mode": _("A public client cannot use CIBA.")})
        if self.ciba_mode == self.CibaMode.PING and not self.ciba_notification_endpoint:
            raise ValidationError(
                {"ciba_notification_endpoint": _("The ping mode needs a notification endpoint.")}
            )
        if self.ciba_mode == self.CibaMode.POLL and self.ciba_notification_endpoint:
            raise ValidationError({"ciba_notification_endpoint": _("Only for the CIBA ping mode.")})
