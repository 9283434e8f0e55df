"""Token introspection (RFC 7662) and token revocation (RFC 7009): the token management endpoints.

Both are called by an authenticated client (``client_auth.authenticate_client``, done by the view)
and accept access tokens (our signed JWTs) and refresh tokens (opaque, found by keyed hash).
``token_type_hint`` only decides which kind is looked up first (RFC 7662 §2.1, RFC 7009 §2.1:
"If the server is unable to locate the token using the given hint, it MUST extend its search").
An unknown hint value is ignored the same way: we support both token types, so
``unsupported_token_type`` (RFC 7009 §2.2.1) never applies.

Who may introspect what (RFC 7662 §2.1 leaves it to the server; §4 asks to limit it):

* access tokens: any *confidential* client. In Pro Santé Connect, resource servers (APIs) are
  clients of their own and introspect tokens issued to the applications that call them. Each such
  cross-client introspection is logged. A public client sees only its own tokens.
* refresh tokens: only the client they were issued to (a resource server never receives them).

Anything else is exactly ``{"active": false}`` (RFC 7662 §2.2), whatever the reason: unknown,
expired, revoked, of another client, a suspended professional's — the answer leaks nothing.

Revocation (RFC 7009 §2.1): the token must belong to the requesting client, otherwise nothing is
revoked and the answer is still 200, like for an unknown token (§2.2). A refresh token revokes its
whole grant (every refresh and access token of that family); an access token is revoked by its
``jti`` until it expires.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone

from idp.core import hashing
from idp.oidc import revocation, sessions, tokens
from idp.oidc.models import REFRESH_HASH_PURPOSE, RefreshToken
from idp.oidc.protocol.errors import InvalidToken
from relying_parties.registry import RegisteredClient, get_client

logger = logging.getLogger(__name__)

INACTIVE: dict[str, Any] = {"active": False}

#: psc-compat.md § Introspection, then the RFC 7662 §2.2 members we can add.
PSC_FIELDS = (
    "client_id",
    "username",
    "scope",
    "exp",
    "iat",
    "sub",
    "acr",
    "SubjectNameID",
    "authMode",
    "otherIds",
)
EXTRA_FIELDS = ("iss", "aud", "jti", "sid", "auth_time", "cnf")


def _hint_order(hint: str | None) -> tuple[str, str]:
    if hint == "refresh_token":
        return ("refresh_token", "access_token")
    return ("access_token", "refresh_token")


def _access_claims(token: str) -> dict[str, Any] | None:
    """The claims of a currently valid access token, or None."""
    if token.count(".") != 2:  # not a compact JWS: skip the verification attempt
        return None
    try:
        return dict(tokens.validate_access_token(token).claims)
    except InvalidToken:
        return None


def _refresh_row(token: str) -> RefreshToken | None:
    if not token or token.count(".") == 2:
        return None
    return (
        RefreshToken.objects.select_related("professional", "session")
        .filter(token_hash=hashing.keyed_hash(token, purpose=REFRESH_HASH_PURPOSE))
        .first()
    )


def _refresh_is_active(row: RefreshToken, now: datetime) -> bool:
    return (
        row.rotated_at is None
        and row.revoked_at is None
        and row.expires_at > now
        and row.professional.is_active
        # The token endpoint's rule: a session past its idle or absolute limit refreshes nothing.
        and (row.session is None or sessions.is_live(row.session, now=now))
        and not revocation.is_revoked(gid=row.grant_id)
    )


def introspect(
    token: str, token_type_hint: str | None, *, client: RegisteredClient
) -> dict[str, Any]:
    """RFC 7662 §2.2 response for ``token`` as seen by the authenticated ``client``."""
    for kind in _hint_order(token_type_hint):
        if kind == "access_token":
            claims = _access_claims(token)
            if claims is None:
                continue
            owner = str(claims.get("client_id") or claims.get("azp") or "")
            if get_client(owner) is None:
                # A deactivated client's tokens stop working (UserInfo refuses them too).
                return dict(INACTIVE)
            if owner != client.client_id:
                if client.is_public:
                    return dict(INACTIVE)
                logger.info(
                    "client %s introspected an access token of client %s", client.client_id, owner
                )
            return _access_response(claims, owner)
        row = _refresh_row(token)
        if row is None:
            continue
        if row.client_id != client.client_id or not _refresh_is_active(row, timezone.now()):
            return dict(INACTIVE)
        return _refresh_response(row)
    return dict(INACTIVE)


def _access_response(claims: dict[str, Any], owner: str) -> dict[str, Any]:
    response: dict[str, Any] = {"active": True, "token_type": "Bearer"}
    response["client_id"] = owner
    response["username"] = claims.get("preferred_username") or claims.get("SubjectNameID") or ""
    for name in PSC_FIELDS[2:]:
        if name in claims:
            response[name] = claims[name]
    for name in EXTRA_FIELDS:
        if name in claims:
            response[name] = claims[name]
    return response


def _refresh_response(row: RefreshToken) -> dict[str, Any]:
    response: dict[str, Any] = {
        "active": True,
        "token_type": "refresh_token",
        "client_id": row.client_id,
        "username": row.professional.id_nat,
        "scope": row.scope,
        "exp": int(row.expires_at.timestamp()),
        "iat": int(row.issued_at.timestamp()),
        "sub": row.professional.sub,
        "acr": row.acr,
        "SubjectNameID": row.professional.id_nat,
        "iss": settings.IDP_ISSUER,
    }
    if row.session is not None:
        response["authMode"] = row.session.auth_mode
        response["sid"] = row.session.sid
    return response


def revoke(token: str, token_type_hint: str | None, *, client: RegisteredClient) -> str | None:
    """Revoke ``token`` if it belongs to ``client`` (RFC 7009 §2.1); return what was revoked.

    Returns ``"refresh_token"``, ``"access_token"`` or None (unknown, already invalid, or another
    client's token: nothing is revoked, and the endpoint still answers 200, RFC 7009 §2.2).
    """
    for kind in _hint_order(token_type_hint):
        if kind == "access_token":
            claims = _access_claims(token)
            if claims is None:
                continue
            owner = str(claims.get("client_id") or claims.get("azp") or "")
            if owner != client.client_id:
                logger.warning(
                    "client %s tried to revoke an access token of client %s",
                    client.client_id,
                    owner,
                )
                return None
            revocation.revoke_access_token(str(claims["jti"]), int(claims["exp"]))
            return "access_token"
        row = _refresh_row(token)
        if row is None:
            continue
        if row.client_id != client.client_id:
            logger.warning(
                "client %s tried to revoke a refresh token of client %s",
                client.client_id,
                row.client_id,
            )
            return None
        if row.revoked_at is None:
            revocation.revoke_grant(row.grant_id, "client_revocation")
        return "refresh_token"
    return None
