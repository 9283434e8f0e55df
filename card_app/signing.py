"""Signed app requests: the ``Authorization: CardDevice <compact JWS>`` header.

Every app API request except ``activation/start`` carries an ES256 JWS (RFC 7515 §7.1 compact
serialization; ES256 is ECDSA P-256 with SHA-256, RFC 7518 §3.4) whose protected header is::

    {"alg": "ES256", "typ": "card-request+jwt", "kid": <device kid>}

or, for the registration request of ``activation/complete``, ``"jwk": <public JWK>`` (RFC 7515
§4.1.3) instead of ``kid``: the signature then proves possession of the key being registered.
The payload binds the signature to one request, in the manner of DPoP (RFC 9449 §4.2)::

    {"htm": <method>, "htu": <URL without query>, "iat": <Unix time>, "jti": <random>,
     "bsh": <base64url (RFC 4648 §5, no padding) of SHA-256 of the exact body bytes>}

The device ``kid`` is the RFC 7638 JWK thumbprint (SHA-256) of the public key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jws
from joserfc.jwk import ECKey

ALGORITHM = "ES256"
TYP = "card-request+jwt"
SCHEME = "CardDevice"
_PUBLIC_MEMBERS = ("kty", "crv", "x", "y")


def b64url(data: bytes) -> str:
    """Base64url without padding (RFC 7515 §2, RFC 4648 §5)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def generate_device_key() -> ECKey:
    """A fresh P-256 key pair (the curve ES256 requires, RFC 7518 §3.4)."""
    return ECKey.import_key(ec.generate_private_key(ec.SECP256R1()))


def key_from_pem(pem: str | bytes) -> ECKey:
    """Load the device's private key from PKCS #8 PEM, refusing anything but a P-256 key."""
    raw = serialization.load_pem_private_key(
        pem.encode("ascii") if isinstance(pem, str) else pem, password=None
    )
    if not isinstance(raw, ec.EllipticCurvePrivateKey) or not isinstance(raw.curve, ec.SECP256R1):
        raise ValueError("The device key must be an EC P-256 private key.")
    return ECKey.import_key(raw)


def key_to_pem(key: ECKey) -> str:
    """The private key as unencrypted PKCS #8 PEM (the state file protects it by its mode)."""
    private = key.private_key
    if private is None:
        raise ValueError("Not a private key.")
    return private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def public_jwk(key: ECKey) -> dict[str, str]:
    """The public JWK (RFC 7517 §4, RFC 7518 §6.2.1): ``kty``, ``crv``, ``x``, ``y``; no ``d``."""
    data = key.as_dict(private=False)
    return {name: str(data[name]) for name in _PUBLIC_MEMBERS}


def device_kid(key: ECKey) -> str:
    """The RFC 7638 §3 thumbprint (SHA-256, base64url) of the public key: the device's id."""
    return key.thumbprint()


def body_hash(body: bytes) -> str:
    """``bsh``: base64url (no padding) of SHA-256 over the exact body bytes sent."""
    return b64url(hashlib.sha256(body).digest())


def request_claims(
    method: str,
    url: str,
    body: bytes = b"",
    *,
    now: int | None = None,
    jti: str | None = None,
) -> dict[str, Any]:
    """The claims binding a signature to one request: htm, htu, iat, jti, bsh."""
    return {
        "htm": method.upper(),
        "htu": url,
        "iat": int(time.time()) if now is None else int(now),
        "jti": jti or secrets.token_urlsafe(24),
        "bsh": body_hash(body),
    }


def sign_request(
    key: ECKey,
    method: str,
    url: str,
    body: bytes = b"",
    *,
    kid: str | None = None,
    embed_jwk: bool = False,
    now: int | None = None,
    jti: str | None = None,
) -> str:
    """The compact JWS for one request, identified by ``kid`` or (registration) by ``jwk``.

    ``url`` is the full request URL without query or fragment, exactly as the server rebuilds it
    from its configured base URL and the request path.
    """
    if embed_jwk == (kid is not None):
        raise ValueError("Give exactly one of kid= or embed_jwk=True.")
    header: dict[str, Any] = {"alg": ALGORITHM, "typ": TYP}
    if embed_jwk:
        header["jwk"] = public_jwk(key)
    else:
        header["kid"] = kid
    claims = request_claims(method, url, body, now=now, jti=jti)
    payload = json.dumps(claims, separators=(",", ":")).encode("utf-8")
    return jws.serialize_compact(header, payload, key, algorithms=[ALGORITHM])


def authorization_header(
    key: ECKey,
    method: str,
    url: str,
    body: bytes = b"",
    *,
    kid: str | None = None,
    embed_jwk: bool = False,
    now: int | None = None,
    jti: str | None = None,
) -> str:
    """``CardDevice <compact JWS>``, the value of the ``Authorization`` header."""
    token = sign_request(key, method, url, body, kid=kid, embed_jwk=embed_jwk, now=now, jti=jti)
    return f"{SCHEME} {token}"
