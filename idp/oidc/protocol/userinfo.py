"""The UserInfo endpoint's rules (OpenID Connect Core 1.0 §5.3, RFC 6750).

``userinfo(token)`` validates the bearer access token and returns the claims the client may see:

* the token must be a valid access token of ours (``tokens.validate_access_token``: signature,
  ``iss``, ``exp``, revoked ``jti``/``gid``/ended ``sid``; an ID token or a refresh token is not
  one) → otherwise ``invalid_token`` (RFC 6750 §3.1);
* it must carry ``openid`` (Core §5.3: UserInfo is an OpenID resource) → otherwise
  ``insufficient_scope`` (403);
* the client must still be active, the professional too (a suspended or deactivated professional's
  tokens are ``invalid_token`` even before their sessions are swept);
* claims: ``scope_all`` gives the whole Pro Santé Connect document
  (``idp.accounts.userinfo.render_userinfo``, psc-compat.md § UserInfo); ``profile`` and
  ``email`` give the standard claims of Core §5.4 only; ``sub`` always (Core §5.3.2). Only
  scopes the client is still allowed (``allowed_scopes``) count.
* the ``claims`` request parameter (Core §5.5): its ``userinfo`` member, stored with the grant's
  authorization code, *narrows* nothing and *adds* standard claims only when the scope that
  carries them is also allowed to the client: a claim request never widens what the client was
  registered for. (The code exchange caches the names by the grant id ``gid``
  (:func:`professional_at_code_exchange`); past that entry the code row is read by ``gid``; once
  codes are purged, the scope alone decides.)

The PSC document is the hot path (every relying party calls UserInfo after each login): it is
cached per professional in Django's cache for ``CACHE_SECONDS`` and dropped when the professional,
an exercice, an activity or an identifier is saved or deleted (signals below; bulk writes of the
registry sync send no signals, the short lifetime bounds their staleness).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache, caches
from django.db.models.signals import post_delete, post_save

from idp.accounts import loading
from idp.accounts.models import Activity, Exercice, OtherId, Professional
from idp.accounts.userinfo import palier_authentification, render_userinfo
from idp.core.redis_cache import PersistentRedisCache
from idp.oidc import tokens
from idp.oidc.models import AuthorizationCode
from idp.oidc.protocol.errors import InsufficientScope, InvalidToken
from relying_parties.registry import RegisteredClient, get_client

CACHE_SECONDS = 60
_CACHE_VERSION = "v1"

SCOPE_OPENID = "openid"
SCOPE_PSC = "scope_all"
# OpenID Connect Core 1.0 §5.4: the standard claims each scope requests; those we can fill.
PROFILE_CLAIMS = ("name", "given_name", "family_name", "preferred_username", "updated_at")
EMAIL_CLAIMS = ("email", "email_verified")
SCOPE_CLAIMS: dict[str, tuple[str, ...]] = {"profile": PROFILE_CLAIMS, "email": EMAIL_CLAIMS}


@dataclass(frozen=True)
class UserInfoResponse:
    """What the view renders: the claims, and how (signed JWT when ``signing_alg``)."""

    claims: dict[str, Any]
    client_id: str
    signing_alg: str


def userinfo(token: str, *, certificate_thumbprint: str = "") -> UserInfoResponse:
    """Validate a bearer access token and assemble its UserInfo claims (Core §5.3).

    ``certificate_thumbprint``: x5t#S256 of the TLS client certificate the request came with
    (from a trusted proxy), or "". RFC 8705 §3: a certificate-bound token is refused without
    the very certificate it is bound to.
    """
    if not token:
        raise InvalidToken("No access token.")
    # One cache round trip: the revocation markers, this professional's cached document and the
    # grant's requested claim names.
    validated, found = tokens.validate_access_token_and_read(token, _cache_keys)
    if validated.x5t_s256 and not hmac.compare_digest(
        validated.x5t_s256.encode(), certificate_thumbprint.encode()
    ):
        raise InvalidToken(detail="certificate-bound token without its certificate")
    access = validated.claims
    scopes = set(str(access.get("scope", "")).split())
    if SCOPE_OPENID not in scopes:
        raise InsufficientScope("The access token lacks the openid scope.")
    client_id = str(access.get("client_id") or access.get("azp") or "")
    client = get_client(client_id)
    if client is None:
        raise InvalidToken(detail=f"client {client_id!r} is no longer active")
    sub = str(access.get("sub", ""))
    granted = scopes & set(client.allowed_scopes)

    grant_id = str(access.get("gid") or "")
    requested = _requested_claims(grant_id, cached=found.get(_claims_key(grant_id)))
    needs_psc = SCOPE_PSC in granted
    document = psc_document(sub, cached=found.get(_cache_key(sub)))
    if document is None:
        raise InvalidToken(detail="professional unknown or no longer active")

    claims: dict[str, Any] = {"sub": sub}
    if needs_psc:
        claims.update(document)
        claims["authMode"] = str(access.get("authMode") or "")
        claims["Palier_Authentification"] = palier_authentification(access.get("acr"))
    standard = document["_standard"]
    wanted = set()
    for scope, names in SCOPE_CLAIMS.items():
        if scope in granted:
            wanted.update(names)
    for name in requested:
        if any(
            name in names and scope in client.allowed_scopes
            for scope, names in SCOPE_CLAIMS.items()
        ):
            wanted.add(name)
    for name in sorted(wanted):
        if name in standard:
            claims[name] = standard[name]
    claims.pop("_standard", None)
    return UserInfoResponse(
        claims=claims, client_id=client.client_id, signing_alg=_signing_alg(client)
    )


def _cache_keys(access: dict[str, Any]) -> list[str]:
    """The cache keys UserInfo reads for a token with these claims: document, claim names."""
    grant_id = str(access.get("gid") or "")
    keys = [_cache_key(str(access.get("sub", "")))]
    return [*keys, _claims_key(grant_id)] if grant_id else keys


def _signing_alg(client: RegisteredClient) -> str:
    return client.userinfo_signed_response_alg or ""


def _claims_key(grant_id: str) -> str:
    return f"oidc:userinfo:claims:{_CACHE_VERSION}:{grant_id}"


def _userinfo_claim_names(claims: Any) -> list[str]:
    """The names a ``claims`` request parameter (Core §5.5) asks for in its ``userinfo`` member."""
    if isinstance(claims, dict) and isinstance(claims.get("userinfo"), dict):
        return [str(n) for n in claims["userinfo"]]
    return []


def professional_at_code_exchange(
    pk: int, *, grant_id: str, claims: Any
) -> tokens.ProfessionalClaims | None:
    """The professional's token claims (:func:`tokens.cached_professional`), for the token
    endpoint's authorization_code grant, with what the UserInfo call that follows will need.

    In the same cache round trips: the claim names the grant requested at UserInfo (``claims``
    parameter of the code), so that UserInfo does not query the code row; and, when the token
    claims are not cached, the professional is loaded once with everything their UserInfo document
    needs, and both are cached (the same keys, lifetimes and invalidation as
    :func:`tokens.cached_professional` and :func:`psc_document`).
    """
    claims_key = tokens.claims_cache_key(pk)
    timeout = min(CACHE_SECONDS, tokens.CLAIMS_CACHE_SECONDS)
    names = _userinfo_claim_names(claims)
    # Warm (the professional's claims cached): one round trip, the read and the write together.
    backend = caches["default"]
    if isinstance(backend, PersistentRedisCache):
        found = backend.get_and_set(claims_key, _claims_key(grant_id), names, timeout)
    else:
        found = cache.get(claims_key)
        cache.set(_claims_key(grant_id), names, timeout)
    if found is None:
        professional = loading.professional_with_userinfo(pk=pk)
        if professional is not None:
            found = tokens.professional_claims(professional)
            entries: dict[str, Any] = {claims_key: found}
            if professional.is_active:
                entries[_cache_key(professional.sub)] = _render_document(professional)
            cache.set_many(entries, timeout)
    return found


def _requested_claims(grant_id: str, *, cached: list[str] | None = None) -> list[str]:
    """Claim names the grant's ``claims`` parameter asked for at UserInfo (Core §5.5)."""
    if not grant_id:
        return []
    key = _claims_key(grant_id)
    if cached is not None:
        return list(cached)
    stored = (
        AuthorizationCode.objects.filter(grant_id=grant_id).values_list("claims", flat=True).first()
    )
    names = _userinfo_claim_names(stored)
    cache.set(key, names, CACHE_SECONDS)
    return names


def _cache_key(sub: str) -> str:
    return f"oidc:userinfo:doc:{_CACHE_VERSION}:{sub}"


def psc_document(sub: str, *, cached: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The professional's PSC document (without token-dependent fields), or None if inactive.

    The document carries a private ``_standard`` member: the Core §5.4 claims of the person.
    ``cached``: what the caller already read from the cache under this professional's key.
    """
    key = _cache_key(sub)
    if cached is not None:
        return cached
    professional = loading.professional_with_userinfo(sub=sub)
    if professional is None or not professional.is_active:
        return None
    document = _render_document(professional)
    cache.set(key, document, CACHE_SECONDS)
    return document


def _render_document(professional: Professional) -> dict[str, Any]:
    """:func:`psc_document` of a professional loaded ``with_userinfo()`` (no further query)."""
    # authMode and Palier_Authentification depend on the token; filled in per request.
    document = render_userinfo(professional, auth_mode="", acr=None)
    full_name = f"{document['given_name']} {document['family_name']}".strip()
    document["_standard"] = {
        "name": full_name,
        "given_name": document["given_name"],
        "family_name": document["family_name"],
        "preferred_username": professional.id_nat,
        "updated_at": int(professional.updated_at.timestamp()),
        "email": professional.email,
        # The correspondence address comes from the registry; the provider never verified it.
        "email_verified": False,
    }
    if not professional.email:
        del document["_standard"]["email"]
        del document["_standard"]["email_verified"]
    return document


def forget_professional(sub: str) -> None:
    """Drop the cached document of a professional (any change to their data or status)."""
    cache.delete(_cache_key(sub))


def _on_professional_change(sender: Any, instance: Professional, **kwargs: Any) -> None:
    forget_professional(instance.sub)
    cache.delete(tokens.claims_cache_key(instance.pk))


def _on_related_change(sender: Any, instance: Any, **kwargs: Any) -> None:
    if sender is Activity:
        professional_id = (
            Exercice.objects.filter(pk=instance.exercice_id)
            .values_list("professional_id", flat=True)
            .first()
        )
    else:
        professional_id = instance.professional_id
    cache.delete(tokens.claims_cache_key(professional_id))
    sub = Professional.objects.filter(pk=professional_id).values_list("sub", flat=True).first()
    if sub:
        forget_professional(sub)


for _signal in (post_save, post_delete):
    _signal.connect(
        _on_professional_change, sender=Professional, dispatch_uid=f"oidc-ui-pro-{_signal}"
    )
    for _model in (Exercice, Activity, OtherId):
        _signal.connect(
            _on_related_change, sender=_model, dispatch_uid=f"oidc-ui-{_model.__name__}-{_signal}"
        )
