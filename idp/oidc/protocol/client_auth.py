"""Client authentication at the token, introspection, revocation and CIBA endpoints.

Methods (the one a client registered is the only one it may use: no downgrade):

* ``client_secret_basic`` — RFC 6749 §2.3.1, HTTP Basic whose two parts are form-urlencoded
  (``application/x-www-form-urlencoded``) before base64, so both are form-urldecoded here;
* ``client_secret_post`` — RFC 6749 §2.3.1, ``client_id`` and ``client_secret`` in the body;
* ``private_key_jwt`` — OpenID Connect Core 1.0 §9 and RFC 7523 §2.2/§3, a JWT signed with a key
  of the client's registered ``jwks`` (``jwks_uri`` is not fetched yet: such clients must register
  inline keys);
* ``tls_client_auth`` — RFC 8705 §2.1, the certificate the reverse proxy verified and forwarded in
  ``settings.IDP_TLS_CLIENT_CERT_HEADER`` (URL-encoded PEM); its subject DN must be the registered
  one. Tokens issued to such a client are bound to the certificate (RFC 8705 §3.1, ``x5t#S256``);
* ``none`` — public clients (RFC 6749 §2.1), only a ``client_id``; the grants require PKCE.

Protocol code: plain mappings in, a :class:`ClientAuthentication` out, errors from
:mod:`idp.oidc.protocol.errors`. Every failure is journaled (``oidc:client:auth_failed``) with the
client id attempted and the method, never a credential.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote, unquote_plus

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from django.conf import settings
from django.db import IntegrityError, transaction
from joserfc import jwt as jose_jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry, extract_compact

from idp.audit import journal
from idp.audit.tags import EventTag
from idp.oidc.models import UsedClientAssertion
from idp.oidc.protocol.errors import InvalidClient, InvalidRequest
from relying_parties.registry import RegisteredClient, get_client

logger = logging.getLogger(__name__)

BASIC = "client_secret_basic"
POST = "client_secret_post"
PRIVATE_KEY_JWT = "private_key_jwt"
TLS_CLIENT_AUTH = "tls_client_auth"
NONE = "none"

#: RFC 7523 §2.2.
JWT_BEARER_ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: Algorithms a client key may sign an assertion with; never ``none`` nor HMAC (a client secret
#: would then be a signing key we must hold in clear).
ASSERTION_ALGORITHMS = frozenset({"RS256", "ES256", "PS256"})
#: An assertion valid for longer than this is refused: its jti would have to be remembered longer.
ASSERTION_MAX_LIFETIME_SECONDS = 300
CLOCK_LEEWAY_SECONDS = 30
MAX_ASSERTION_LENGTH = 8192

#: Endpoint name -> path under the issuer, for the audiences an assertion may name (RFC 7523 §3).
ENDPOINT_PATHS = {
    "token": "protocol/openid-connect/token",
    "introspection": "protocol/openid-connect/token/introspect",
    "revocation": "protocol/openid-connect/revoke",
    "ciba": "protocol/openid-connect/ext/ciba/auth",
}

_ASSERTION_REGISTRY = JWSRegistry(algorithms=sorted(ASSERTION_ALGORITHMS))


@dataclass(frozen=True, slots=True)
class ClientAuthentication:
    """Who the client is, how it proved it, and the certificate thumbprint when mTLS was used."""

    client: RegisteredClient
    method: str
    #: base64url(SHA-256(DER certificate)) for tls_client_auth (RFC 8705 §3.1), else "".
    x5t_s256: str = ""


class _Failure(Exception):
    """Internal: an authentication failure, journaled then raised as InvalidClient."""

    def __init__(self, client_id: str, method: str, reason: str) -> None:
        super().__init__(reason)
        self.client_id = client_id
        self.method = method
        self.reason = reason


def authenticate_client(
    request_data: Mapping[str, str],
    headers: Mapping[str, str],
    *,
    endpoint: str,
    request: Any = None,
) -> RegisteredClient:
    """The authenticated client of a request (RFC 6749 §2.3), or :class:`InvalidClient`.

    ``request_data`` holds the form parameters (one value each), ``headers`` the HTTP headers
    (any case). ``endpoint`` is ``"token"``, ``"introspection"``, ``"revocation"`` or ``"ciba"``.
    ``request`` is optional and only handed to the journal (client address, user agent).
    """
    return authenticate(request_data, headers, endpoint=endpoint, request=request).client


def authenticate(
    request_data: Mapping[str, str],
    headers: Mapping[str, str],
    *,
    endpoint: str,
    request: Any = None,
) -> ClientAuthentication:
    """Like :func:`authenticate_client`, also returning the method and certificate thumbprint."""
    try:
        return _authenticate(request_data, _lower(headers), endpoint)
    except _Failure as failure:
        _journal_failure(failure, endpoint, request)
        raise InvalidClient(detail=failure.reason) from None


def certificate_thumbprint(pem: str) -> str:
    """``x5t#S256`` of a PEM certificate: base64url(SHA-256(DER)), no padding (RFC 8705 §3.1)."""
    cert = x509.load_pem_x509_certificate(pem.encode())
    return _thumbprint(cert)


def normalise_dn(dn: str) -> str:
    """An RFC 4514 DN in one canonical spelling, so that registered and presented DNs compare."""
    return x509.Name.from_rfc4514_string(dn).rfc4514_string()


# --- dispatch -------------------------------------------------------------------------------------


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {str(k).lower(): v for k, v in headers.items()}


def _authenticate(
    data: Mapping[str, str], headers: dict[str, str], endpoint: str
) -> ClientAuthentication:
    authorization = headers.get("authorization", "")
    used: list[str] = []
    if authorization[:6].lower() == "basic ":
        used.append(BASIC)
    if "client_secret" in data:
        used.append(POST)
    if "client_assertion" in data or "client_assertion_type" in data:
        used.append(PRIVATE_KEY_JWT)
    body_client_id = data.get("client_id", "")
    if len(used) > 1:
        # RFC 6749 §2.3: "The client MUST NOT use more than one authentication method in each
        # request." Journaled as a failure: it is either a broken client or a probe.
        _journal_failure(
            _Failure(body_client_id, "+".join(used), "several methods"), endpoint, None
        )
        raise InvalidRequest("More than one client authentication method was used.")

    method = used[0] if used else ""
    if method == BASIC:
        client_id, secret = _parse_basic(authorization, body_client_id)
        client = _client(client_id, BASIC)
        _check_secret(client, secret, BASIC)
        return ClientAuthentication(client, BASIC)
    if method == POST:
        client = _client(body_client_id, POST)
        _check_secret(client, data.get("client_secret", ""), POST)
        return ClientAuthentication(client, POST)
    if method == PRIVATE_KEY_JWT:
        return ClientAuthentication(_private_key_jwt(data, endpoint), PRIVATE_KEY_JWT)

    # No credential in the request: mTLS if a certificate came with it, else a public client.
    client = _client(body_client_id, NONE)
    if client.token_endpoint_auth_method == TLS_CLIENT_AUTH:
        return ClientAuthentication(client, TLS_CLIENT_AUTH, _tls_client_auth(client, headers))
    if client.token_endpoint_auth_method != NONE:
        raise _Failure(client.client_id, NONE, f"registered {client.token_endpoint_auth_method}")
    return ClientAuthentication(client, NONE)


def _client(client_id: str, method: str) -> RegisteredClient:
    if not client_id:
        raise _Failure("", method, "no client_id")
    client = get_client(client_id)
    if client is None:
        raise _Failure(client_id, method, "unknown or inactive client")
    if client.token_endpoint_auth_method != method and not (
        method == NONE and client.token_endpoint_auth_method == TLS_CLIENT_AUTH
    ):
        # OIDC Dynamic Client Registration §2 token_endpoint_auth_method: the registered method
        # is the one to use; accepting another would let a stolen secret bypass a key or mTLS.
        raise _Failure(client_id, method, f"registered {client.token_endpoint_auth_method}")
    return client


# --- client_secret_basic / client_secret_post -----------------------------------------------------


def _parse_basic(authorization: str, body_client_id: str) -> tuple[str, str]:
    """RFC 7617 §2 credentials, each part form-urldecoded (RFC 6749 §2.3.1)."""
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _Failure(body_client_id, BASIC, "malformed Basic credentials") from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise _Failure(body_client_id, BASIC, "malformed Basic credentials")
    client_id, secret = unquote_plus(client_id), unquote_plus(secret)
    if body_client_id and body_client_id != client_id:
        raise _Failure(client_id, BASIC, "client_id in body differs from Basic credentials")
    return client_id, secret


def _check_secret(client: RegisteredClient, secret: str, method: str) -> None:
    if not client.check_secret(secret):
        raise _Failure(client.client_id, method, "wrong secret")


# --- private_key_jwt (RFC 7523) -------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _keyset(jwks_json: str) -> KeySet:
    return KeySet.import_key_set(json.loads(jwks_json))


def _audiences(endpoint: str) -> frozenset[str]:
    issuer = settings.IDP_ISSUER
    paths = {ENDPOINT_PATHS["token"], ENDPOINT_PATHS.get(endpoint, ENDPOINT_PATHS["token"])}
    return frozenset({issuer, *(f"{issuer}/{p}" for p in paths)})


def _private_key_jwt(data: Mapping[str, str], endpoint: str) -> RegisteredClient:
    """RFC 7523 §3 checks, the algorithm pinned by the client's key (never the header's)."""
    assertion = data.get("client_assertion", "")
    body_client_id = data.get("client_id", "")
    if data.get("client_assertion_type") != JWT_BEARER_ASSERTION or not assertion:
        raise _Failure(body_client_id, PRIVATE_KEY_JWT, "bad client_assertion_type or empty")
    if len(assertion) > MAX_ASSERTION_LENGTH:
        raise _Failure(body_client_id, PRIVATE_KEY_JWT, "assertion too long")
    try:
        compact = extract_compact(assertion.encode())
        header = compact.headers()
        unverified = json.loads(compact.payload)
    except (JoseError, ValueError, TypeError):
        raise _Failure(body_client_id, PRIVATE_KEY_JWT, "malformed assertion") from None
    if not isinstance(unverified, dict) or not isinstance(unverified.get("sub"), str):
        raise _Failure(body_client_id, PRIVATE_KEY_JWT, "assertion without sub")
    client_id = unverified["sub"]
    # RFC 7521 §4.2: client_id, when sent, must identify the same client as the assertion.
    if body_client_id and body_client_id != client_id:
        raise _Failure(body_client_id, PRIVATE_KEY_JWT, "client_id differs from assertion sub")
    client = _client(client_id, PRIVATE_KEY_JWT)
    if not client.jwks:
        raise _Failure(client_id, PRIVATE_KEY_JWT, "no registered jwks (jwks_uri unsupported)")

    key, alg = _assertion_key(client, header)
    try:
        token = jose_jwt.decode(assertion, key, algorithms=[alg], registry=_ASSERTION_REGISTRY)
    except JoseError as exc:
        raise _Failure(client_id, PRIVATE_KEY_JWT, f"signature: {type(exc).__name__}") from None
    claims = token.claims
    now = int(time.time())
    _check_assertion_claims(claims, client_id, endpoint, now)
    _consume_jti(client_id, claims["jti"], claims["exp"])
    return client


def _assertion_key(client: RegisteredClient, header: Mapping[str, Any]) -> tuple[Any, str]:
    """The client key named by ``kid`` (or its only key) and the algorithm that key allows."""
    try:
        keyset = _keyset(json.dumps(client.jwks, sort_keys=True))
    except (JoseError, ValueError, TypeError):
        raise _Failure(client.client_id, PRIVATE_KEY_JWT, "unusable registered jwks") from None
    kid = header.get("kid")
    candidates = [
        k for k in keyset.keys if (kid is None or k.kid == kid) and k.get("use", "sig") == "sig"
    ]
    if len(candidates) != 1:
        raise _Failure(client.client_id, PRIVATE_KEY_JWT, "no single matching key")
    key = candidates[0]
    header_alg = header.get("alg")
    key_alg = key.get("alg")
    if key_alg:
        allowed = {key_alg} & ASSERTION_ALGORITHMS
    elif key.key_type == "RSA":
        allowed = {"RS256", "PS256"}
    elif key.key_type == "EC" and key.get("crv") == "P-256":
        allowed = {"ES256"}
    else:
        allowed = set()
    if header_alg not in allowed:
        raise _Failure(client.client_id, PRIVATE_KEY_JWT, f"algorithm {header_alg!r} refused")
    return key, header_alg


def _check_assertion_claims(
    claims: Mapping[str, Any], client_id: str, endpoint: str, now: int
) -> None:
    def fail(reason: str) -> _Failure:
        return _Failure(client_id, PRIVATE_KEY_JWT, reason)

    # RFC 7523 §3 items 1-2: iss and sub are the client_id.
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise fail("iss/sub are not the client_id")
    # Item 3: the audience is this server (its issuer or the endpoint's URL).
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if not _audiences(endpoint).intersection(a for a in audiences if isinstance(a, str)):
        raise fail("wrong audience")
    # Item 4: exp is required; we also bound it so that remembered jti stay few.
    exp = claims.get("exp")
    if not isinstance(exp, int) or isinstance(exp, bool):
        raise fail("exp missing")
    if exp + CLOCK_LEEWAY_SECONDS <= now:
        raise fail("expired")
    if exp > now + ASSERTION_MAX_LIFETIME_SECONDS + CLOCK_LEEWAY_SECONDS:
        raise fail("exp too far in the future")
    nbf = claims.get("nbf")
    if isinstance(nbf, int) and nbf > now + CLOCK_LEEWAY_SECONDS:
        raise fail("not yet valid")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti or len(jti) > 256:
        raise fail("jti missing")


def _consume_jti(client_id: str, jti: str, exp: int) -> None:
    """RFC 7523 §3 item 7: a jti is accepted once; the unique constraint decides under races."""
    purge_after = datetime.fromtimestamp(exp + CLOCK_LEEWAY_SECONDS, tz=UTC)
    try:
        with transaction.atomic():
            UsedClientAssertion.objects.create(
                client_id=client_id, jti=jti, purge_after=purge_after
            )
    except IntegrityError:
        raise _Failure(
            client_id, PRIVATE_KEY_JWT, "assertion replayed (jti already used)"
        ) from None


# --- tls_client_auth (RFC 8705) -------------------------------------------------------------------


def _thumbprint(cert: x509.Certificate) -> str:
    digest = hashlib.sha256(cert.public_bytes(Encoding.DER)).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _tls_client_auth(client: RegisteredClient, headers: dict[str, str]) -> str:
    """RFC 8705 §2.1.2: the presented certificate's subject DN is the registered one."""
    header_name = settings.IDP_TLS_CLIENT_CERT_HEADER
    if not header_name:
        raise _Failure(client.client_id, TLS_CLIENT_AUTH, "mTLS not configured")
    raw = headers.get(header_name.lower(), "")
    if not raw:
        raise _Failure(client.client_id, TLS_CLIENT_AUTH, "no client certificate")
    try:
        cert = x509.load_pem_x509_certificate(unquote(raw).encode())
    except ValueError:
        raise _Failure(client.client_id, TLS_CLIENT_AUTH, "unreadable certificate") from None
    try:
        expected = normalise_dn(client.tls_client_auth_subject_dn)
    except ValueError:
        raise _Failure(client.client_id, TLS_CLIENT_AUTH, "unusable registered DN") from None
    if not client.tls_client_auth_subject_dn or cert.subject.rfc4514_string() != expected:
        raise _Failure(client.client_id, TLS_CLIENT_AUTH, "certificate subject DN mismatch")
    # The proxy checked the chain; the validity period is checked again here (cheap, and it
    # protects against a proxy configured with optional_no_ca).
    now = datetime.now(UTC)
    if not (
        cert.not_valid_before_utc - timedelta(seconds=CLOCK_LEEWAY_SECONDS)
        <= now
        <= cert.not_valid_after_utc + timedelta(seconds=CLOCK_LEEWAY_SECONDS)
    ):
        raise _Failure(client.client_id, TLS_CLIENT_AUTH, "certificate outside its validity")
    return _thumbprint(cert)


# --- journal --------------------------------------------------------------------------------------


def _journal_failure(failure: _Failure, endpoint: str, request: Any) -> None:
    client_id = failure.client_id[:100]
    logger.info(
        "client authentication failed: client_id=%r method=%s reason=%s",
        client_id,
        failure.method,
        failure.reason,
    )
    journal.record(
        EventTag.OIDC_CLIENT_AUTH_FAILED,
        actor=f"client:{client_id}" if client_id else "client:?",
        subject=f"client:{client_id}" if client_id else "",
        request=request,
        data={
            "client_id": client_id,
            "method": failure.method,
            "endpoint": endpoint,
            "reason": failure.reason,
        },
    )
