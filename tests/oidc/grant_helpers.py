"""Codes, sessions and token requests for the token endpoint's tests (real rows, real secrets).

Codes are created as the authorization endpoint creates them (an ``AuthorizationCode`` row holding
the keyed hash), so the token endpoint is exercised without a browser journey.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import quote_plus, urlencode

from django.conf import settings
from django.test import Client as HttpClient
from django.utils import timezone

from idp.accounts.models import Professional
from idp.core import hashing
from idp.oidc.models import AuthorizationCode, RefreshToken, SsoSession
from tests.oidc.factories import REDIRECT_URI

TOKEN_URL = f"/auth/realms/{settings.IDP_REALM}/protocol/openid-connect/token"
VERIFIER = "dBjftJeZ4CVP-mJ92K9CCFvZ0TqGX4bX2Pj4lqu1y6ZfGhAkXj"  # 50 unreserved characters
NONCE = "n-0S6_WzA2Mj"
FORM = "application/x-www-form-urlencoded"


def token_url() -> str:
    return TOKEN_URL


def basic(client_id: str, secret: str) -> str:
    """RFC 6749 §2.3.1: both parts form-urlencoded, then RFC 7617 Basic."""
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def make_session(professional: Professional, **fields: Any) -> SsoSession:
    now = timezone.now()
    values: dict[str, Any] = {
        "professional": professional,
        "auth_time": now,
        "acr": "eidas1",
        "amr": ["pop", "pin"],
        "auth_mode": "CARD",
        "last_active_at": now,
        "expires_at": now + timedelta(seconds=settings.IDP_SSO_SESSION_MAX_SECONDS),
    }
    values.update(fields)
    return SsoSession.objects.create(**values)


@dataclass
class Code:
    value: str
    row: AuthorizationCode
    verifier: str


def make_code(
    client_id: str,
    session: SsoSession,
    *,
    scope: str = "openid scope_all",
    redirect_uri: str = REDIRECT_URI,
    verifier: str | None = VERIFIER,
    nonce: str = NONCE,
    expires_in: int = 60,
) -> Code:
    value = hashing.new_secret()
    row = AuthorizationCode.objects.create(
        code_hash=hashing.keyed_hash(value, purpose="code"),
        client_id=client_id,
        session=session,
        professional=session.professional,
        redirect_uri=redirect_uri,
        scope=scope,
        nonce=nonce,
        code_challenge=hashing.s256(verifier) if verifier else "",
        code_challenge_method="S256" if verifier else "",
        acr=session.acr,
        amr=list(session.amr),
        auth_time=session.auth_time,
        expires_at=timezone.now() + timedelta(seconds=expires_in),
    )
    return Code(value, row, verifier or "")


def post_token(http: HttpClient, data: dict[str, str], *, auth: str | None = None, **extra: Any):
    headers = {"HTTP_AUTHORIZATION": auth} if auth else {}
    headers.update(extra)
    return http.post(TOKEN_URL, urlencode(data), content_type=FORM, **headers)


def exchange(http: HttpClient, client_id: str, secret: str, code: Code, **overrides: str) -> Any:
    data = {
        "grant_type": "authorization_code",
        "code": code.value,
        "redirect_uri": code.row.redirect_uri,
        "code_verifier": code.verifier,
    }
    data.update(overrides)
    data = {k: v for k, v in data.items() if v is not None}
    return post_token(http, data, auth=basic(client_id, secret))


def refresh(http: HttpClient, client_id: str, secret: str, token: str, **extra: str) -> Any:
    data = {"grant_type": "refresh_token", "refresh_token": token, **extra}
    return post_token(http, data, auth=basic(client_id, secret))


def jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, unverified (tests verify with idp.oidc.jwt where it matters)."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def jwt_header(token: str) -> dict[str, Any]:
    head = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))


def refresh_row(token: str) -> RefreshToken:
    return RefreshToken.objects.get(token_hash=hashing.keyed_hash(token, purpose="refresh_token"))


def db_state() -> dict[str, Any]:
    """A fingerprint of everything a token request may change, to assert "nothing else changed"."""
    from idp.oidc.models import RevokedAccessToken, RevokedGrant, UsedClientAssertion

    return {
        "codes": sorted(
            AuthorizationCode.objects.values_list("code_hash", "consumed_at").order_by("pk")
        ),
        "refresh": sorted(
            RefreshToken.objects.values_list("token_hash", "rotated_at", "revoked_at")
        ),
        "revoked_grants": sorted(RevokedGrant.objects.values_list("grant_id", flat=True)),
        "revoked_jti": sorted(RevokedAccessToken.objects.values_list("jti", flat=True)),
        "assertions": UsedClientAssertion.objects.count(),
        "sessions": sorted(SsoSession.objects.values_list("sid", "ended_at")),
    }


def form_post(http: HttpClient, url: str, data: dict[str, str] | None = None, **extra: Any) -> Any:
    """POST ``data`` as application/x-www-form-urlencoded, as OAuth clients do (RFC 6749 §3.2)."""
    return http.post(
        url, urlencode(data or {}), content_type="application/x-www-form-urlencoded", **extra
    )
