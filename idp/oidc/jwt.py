"""Signing and verifying the provider's own JWTs (ID tokens, access tokens, logout tokens...).

Rules (RFC 8725, JWT Best Current Practices):

* §3.1: the algorithm is pinned by the key found by ``kid``, never taken from the header, so
  ``alg: none`` and HS256 "signed" with our public key are refused before any signature check;
* §3.11: ``typ`` is checked when the caller names the kind of token it expects;
* §3.8/§3.10: ``iss`` must be exactly ``settings.IDP_ISSUER``; ``exp``, ``iat`` and ``nbf`` are
  checked with a small leeway for clock skew (RFC 7519 §4.1.4).

Tokens above MAX_TOKEN_BYTES are refused before parsing: nothing we sign comes near it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from joserfc import jwt as jose_jwt
from joserfc.errors import JoseError
from joserfc.jwt import JWTClaimsRegistry

from idp.oidc.keys import get_keystore

MAX_TOKEN_BYTES = 16 * 1024
DEFAULT_LEEWAY_SECONDS = 30

__all__ = [
    "DEFAULT_LEEWAY_SECONDS",
    "MAX_TOKEN_BYTES",
    "InvalidJWT",
    "at_hash",
    "left_hash",
    "sign",
    "unverified_header",
    "verify",
]


class InvalidJWT(Exception):
    """The token is not one of ours, or no longer valid. The message is for logs only."""


def sign(claims: Mapping[str, Any], *, alg: str, typ: str = "JWT") -> str:
    """Sign `claims` with the active key for `alg`; the header carries ``alg``, ``kid``, ``typ``.

    RFC 7515 §4.1.4: ``kid`` lets verifiers pick the key from our JWKS during a rotation.
    """
    key = get_keystore().signing_key(alg)
    header = {"alg": alg, "kid": key.kid, "typ": typ}
    # joserfc converts datetimes in place: never hand it the caller's dict.
    return jose_jwt.encode(header, dict(claims), key, algorithms=[alg])


def _b64decode(segment: str) -> bytes:
    if "=" in segment:  # RFC 7515 §2: base64url without padding
        raise InvalidJWT("padded base64url")
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def unverified_header(token: str) -> dict[str, Any]:
    """The JOSE header of a compact JWS, NOT verified: only to choose the key."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_BYTES:
        raise InvalidJWT("not a string or too large")
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidJWT("not a compact JWS (three segments expected)")
    try:
        header = json.loads(_b64decode(parts[0]))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise InvalidJWT("unreadable header") from exc
    if not isinstance(header, dict):
        raise InvalidJWT("header is not a JSON object")
    return header


def verify(
    token: str,
    *,
    typ: str | None = None,
    verify_exp: bool = True,
    leeway: int = DEFAULT_LEEWAY_SECONDS,
) -> dict[str, Any]:
    """Verify one of our JWTs and return its claims; raise InvalidJWT otherwise.

    `verify_exp=False` accepts an expired token (OpenID Connect RP-Initiated Logout 1.0 §2:
    an expired ``id_token_hint`` still identifies the session); the signature, ``iss``, ``iat``
    and ``nbf`` are still checked.
    """
    header = unverified_header(token)
    kid = header.get("kid")
    alg = header.get("alg")
    if not isinstance(kid, str) or not isinstance(alg, str):
        raise InvalidJWT("kid or alg missing")
    key = get_keystore().verification_key(kid)
    if key is None:
        raise InvalidJWT(f"unknown kid {kid[:64]!r}")
    # RFC 8725 §3.1: the key decides the algorithm. A header naming another one (none, HS256...)
    # is a forgery attempt, refused before any cryptography runs.
    if alg != key.alg:
        raise InvalidJWT(f"alg {alg[:16]!r} does not match the key's {key.alg}")
    if typ is not None:
        # RFC 7515 §4.1.9: typ values are compared case-insensitively.
        actual = header.get("typ")
        if not isinstance(actual, str) or actual.lower() != typ.lower():
            raise InvalidJWT(f"typ {str(actual)[:32]!r} is not {typ!r}")
    try:
        decoded = jose_jwt.decode(token, key, algorithms=[key.alg])
    except JoseError as exc:
        raise InvalidJWT(f"signature or format: {exc.__class__.__name__}") from exc
    claims = decoded.claims
    options: dict[str, Any] = {"iss": {"essential": True, "value": settings.IDP_ISSUER}}
    if verify_exp:
        options["exp"] = {"essential": True}
    to_check = claims if verify_exp else {k: v for k, v in claims.items() if k != "exp"}
    try:
        JWTClaimsRegistry(leeway=leeway, **options).validate(to_check)
    except JoseError as exc:
        raise InvalidJWT(f"claims: {exc.__class__.__name__} {exc}") from exc
    return claims


def left_hash(value: str, alg: str = "RS256") -> str:
    """OpenID Connect Core 1.0 §3.1.3.6 / §3.3.2.11: base64url of the left half of the hash of
    the ASCII `value`, the hash being the one of the JWS `alg` (SHA-256 for RS256 and ES256)."""
    if alg not in ("RS256", "ES256"):
        raise ValueError(f"No left-hash rule for {alg!r}.")
    digest = hashlib.sha256(value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")


def at_hash(access_token: str, alg: str = "RS256") -> str:
    """The ID token's ``at_hash`` (OpenID Connect Core 1.0 §3.1.3.6)."""
    return left_hash(access_token, alg)
