"""Authentication of the app's requests by a signature of the device key.

Every request of an enrolled app carries ``Authorization: CardDevice <compact JWS>`` (RFC 7515),
ES256 only, whose payload binds the signature to this request: ``htm`` (method), ``htu`` (URL),
``bsh`` (SHA-256 of the body), ``iat`` (freshness) and ``jti`` (single use). The shape follows
DPoP (RFC 9449 §4.2), with the body hash added so that a tampered payload fails too. The
activation request names its new key with ``jwk`` instead of ``kid``: its signature is the proof
of possession of the key being registered. Checks in the order of docs/design/card-app.md.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import time
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest
from django.utils import timezone
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from idp.accounts.models import Professional
from idp.authn.card import limits
from idp.authn.card.errors import CardError
from idp.authn.card.models import CardDevice
from idp.core import rows
from idp.core.ratelimit import FailureLimiter, add_unless_blocked

SCHEME = "CardDevice"
TYP = "card-request+jwt"
ALGORITHM = "ES256"
_MAX_HEADER = 4096
_LAST_USED_INTERVAL = timedelta(minutes=1)
#: The codes :func:`authenticate` and :func:`consume` raise (the API journals or counts them).
SIGNATURE_ERRORS = frozenset(
    {
        "invalid_signature",
        "stale_request",
        "replayed_request",
        "unknown_device",
        "device_revoked",
        "device_blocked",
        "device_expired",
        "account_inactive",
    }
)


@dataclass(frozen=True)
class SignedRequest:
    """A verified request: the device (enrolled), or the new public key (registration).

    ``joined``: the rows of the view's :class:`JoinedRead`, if it asked for one (else None).
    """

    device: CardDevice | None
    jwk: dict[str, Any] | None
    kid: str
    jti: str
    joined: list[tuple[Any, ...]] | None = None


@dataclass(frozen=True)
class JoinedRead:
    """What a view reads first, read with the device in the same statement (one round trip).

    ``join`` is a ``LEFT JOIN`` clause on the device row (alias ``d``) whose ``%s`` take
    ``params``, ``columns`` what it selects, ``order`` an optional ``ORDER BY`` list, and
    ``key`` the position in ``columns`` of a column that is never NULL in a joined row (rows
    whose ``key`` is NULL are the LEFT JOIN's "nothing matched" and are dropped). The rows are
    handed to the view only once the signature is verified; until then they are unread, as if
    the view had not queried yet.
    """

    join: str
    columns: str
    params: tuple[Any, ...] = ()
    order: str = ""
    key: int = 0


def body_hash(body: bytes) -> str:
    """``bsh``: base64url (no padding) of SHA-256 over the exact body bytes."""
    digest = hashlib.sha256(body).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def expected_htu(request: HttpRequest) -> str:
    """The URL the app must have signed: from IDP_BASE_URL, never from the Host header."""
    return settings.IDP_BASE_URL.rstrip("/") + request.get_full_path()


def public_jwk(jwk: Any) -> dict[str, Any]:
    """An EC P-256 public JWK, private members refused (a leaked ``d`` is no registration)."""
    if not isinstance(jwk, dict) or jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        raise CardError("invalid_signature", "registration key is not an EC P-256 JWK")
    if "d" in jwk:
        raise CardError("invalid_request", "registration JWK carries a private key")
    return {"kty": "EC", "crv": "P-256", "x": jwk.get("x"), "y": jwk.get("y")}


def import_public_key(jwk: dict[str, Any]) -> ECKey:
    key = public_jwk(jwk)
    try:
        return _import(key["x"], key["y"])
    except (JoseError, ValueError, TypeError) as exc:
        raise CardError("invalid_signature", f"unusable JWK: {exc}") from exc


@lru_cache(maxsize=4096)
def _import(x: Any, y: Any) -> ECKey:
    """A public key is its coordinates: the parsed key is reused (immutable, no secret)."""
    return ECKey.import_key({"kty": "EC", "crv": "P-256", "x": x, "y": y})


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 thumbprint of the public key: the device's ``kid``."""
    return import_public_key(jwk).thumbprint()


def _token(request: HttpRequest) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme != SCHEME or not token or len(header) > _MAX_HEADER:
        raise CardError("invalid_signature", "missing or malformed Authorization header")
    return token.strip()


def _unverified_header(token: str) -> dict[str, Any]:
    try:
        segment = token.split(".")[0]
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # "[[[[…": too deep
        raise CardError("invalid_signature", "unreadable JWS header") from exc
    if not isinstance(header, dict):
        raise CardError("invalid_signature", "JWS header is not an object")
    # The algorithm is pinned here, never taken from the header (architecture habit 6).
    if header.get("alg") != ALGORITHM:
        raise CardError("invalid_signature", f"alg {header.get('alg')!r} refused")
    if header.get("typ") != TYP:
        raise CardError("invalid_signature", f"typ {header.get('typ')!r} refused")
    return header


#: Every column of the device and what the API reads of its professional (the rest is deferred).
DEVICE = rows.Columns(CardDevice, "d")
PROFESSIONAL = rows.Columns(
    Professional, "p", ("id", "sub", "id_nat", "status", "suspended_at", "deactivated_at")
)
_DEVICE_COLUMNS = f"{DEVICE.sql}, {PROFESSIONAL.sql}"
_DEVICE_FROM = (
    f"FROM {CardDevice._meta.db_table} d "
    f"JOIN {Professional._meta.db_table} p ON p.id = d.professional_id"
)
_DEVICE_SQL = f"SELECT {_DEVICE_COLUMNS} {_DEVICE_FROM} WHERE d.kid = %s"
_TOUCH_SQL = f"UPDATE {CardDevice._meta.db_table} SET last_used_at = %s WHERE id = %s"  # noqa: S608


_JOINED_WIDTH = DEVICE.width + PROFESSIONAL.width


def load_device(kid: str) -> CardDevice | None:
    """The device with this key id and its professional, in one statement (never cached: a
    revocation or a block takes effect on the next request)."""
    device, _joined = _load(kid, None)
    return device


def _load(
    kid: str, joined: JoinedRead | None
) -> tuple[CardDevice | None, list[tuple[Any, ...]] | None]:
    """The device, its professional and, with ``joined``, that read's rows: one statement."""
    if joined is None:
        sql, params = _DEVICE_SQL, [kid]
    else:
        order = f" ORDER BY {joined.order}" if joined.order else ""
        sql = (
            f"SELECT {_DEVICE_COLUMNS}, {joined.columns} {_DEVICE_FROM} {joined.join}"
            f" WHERE d.kid = %s{order}"
        )
        params = [*joined.params, kid]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = cursor.fetchall()
    if not found:
        return None, None
    row = found[0]
    device = DEVICE.instance(row)
    device.professional = PROFESSIONAL.instance(row, DEVICE.width)
    if joined is None:
        return device, None
    key = _JOINED_WIDTH + joined.key
    return device, [r[_JOINED_WIDTH:] for r in found if r[key] is not None]


def usable_device(kid: str) -> CardDevice:
    """The enrolled device with this key id, if it may still act; raises :class:`CardError`."""
    return _usable(kid, None)[0]


def _usable(kid: str, joined: JoinedRead | None) -> tuple[CardDevice, list[tuple[Any, ...]] | None]:
    device, rows_found = _load(kid, joined)
    if device is None:
        raise CardError("unknown_device", f"kid {kid[:16]!r}")
    status = device.status
    if status != "active":
        raise CardError(f"device_{status}", f"device {device.pk}")
    if not device.professional.is_active:
        raise CardError("account_inactive", f"professional {device.professional_id}")
    return device, rows_found


def authenticate(
    request: HttpRequest, *, registration: bool = False, joined: JoinedRead | None = None
) -> SignedRequest:
    """Verify the request's device signature and claims; raises :class:`CardError` (401/403).

    Nothing is recorded yet: :func:`consume` then makes the ``jti`` single use. Split so that
    only a verified signature can record a ``jti`` (nobody burns a device's next request) and
    so that the caller can read its rate limit in the same round trip as the ``jti``.
    ``joined``: a read of the view's made with the device's (:class:`JoinedRead`).
    """
    token = _token(request)
    header = _unverified_header(token)
    device: CardDevice | None = None
    jwk: dict[str, Any] | None = None
    rows_found: list[tuple[Any, ...]] | None = None
    if registration:
        if "kid" in header or "jwk" not in header:
            raise CardError("invalid_signature", "registration must carry jwk, not kid")
        jwk = public_jwk(header["jwk"])
        key = import_public_key(jwk)
        kid = key.thumbprint()
    else:
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid or "jwk" in header:
            raise CardError("invalid_signature", "kid missing")
        device, rows_found = _usable(kid, joined)
        key = import_public_key(device.public_jwk)
    try:
        signed = jws.deserialize_compact(token, key, algorithms=[ALGORITHM])
        claims = json.loads(signed.payload)
    except (JoseError, ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise CardError("invalid_signature", f"signature: {exc}") from exc
    if not isinstance(claims, dict):
        raise CardError("invalid_signature", "payload is not an object")
    _check_claims(request, claims)
    return SignedRequest(device=device, jwk=jwk, kid=kid, jti=claims["jti"], joined=rows_found)


def consume(signed: SignedRequest, *, unless_blocked: tuple[FailureLimiter, str]) -> None:
    """Record the ``jti`` of an :func:`authenticate`-d request (single use), unless the
    ``(limiter, key)`` pair is blocked; raises ``rate_limited`` (as ``limits.check`` does:
    nothing recorded) or ``replayed_request``.

    One cache round trip on Redis for both (:func:`idp.core.ratelimit.add_unless_blocked`). The
    jti is remembered for the freshness window on both sides of now (after it, ``iat`` refuses
    the request anyway).
    """
    limiter, key = unless_blocked
    timeout = 2 * settings.IDP_CARD_REQUEST_SKEW_SECONDS + 5
    retry, added = add_unless_blocked(limiter, key, f"card:jti:{signed.kid}:{signed.jti}", timeout)
    if retry:
        raise limits.rate_limited(limiter, key, retry)
    if not added:
        raise CardError("replayed_request", f"jti {signed.jti[:16]!r}")
    if signed.device is not None:
        _touch(signed.device)


def _check_claims(request: HttpRequest, claims: dict[str, Any]) -> None:
    if claims.get("htm") != request.method:
        raise CardError("invalid_signature", "htm differs from the method")
    htu = claims.get("htu")
    if not isinstance(htu, str) or not hmac.compare_digest(
        htu.encode(), expected_htu(request).encode()
    ):
        raise CardError("invalid_signature", "htu differs from the URL")
    iat = claims.get("iat")
    if not isinstance(iat, int | float) or isinstance(iat, bool) or not math.isfinite(iat):
        # json.loads reads NaN, and no NaN is ever "too old": such a request stayed replayable
        # forever once its jti left the replay cache.
        raise CardError("invalid_signature", "iat missing")
    if abs(time.time() - iat) > settings.IDP_CARD_REQUEST_SKEW_SECONDS:
        raise CardError("stale_request", f"iat {iat}")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not 16 <= len(jti) <= 128:
        raise CardError("invalid_signature", "jti missing or of a bad length")
    bsh = claims.get("bsh")
    if not isinstance(bsh, str) or not hmac.compare_digest(
        bsh.encode(), body_hash(request.body).encode()
    ):
        raise CardError("invalid_signature", "bsh differs from the body (tampered payload)")


def _touch(device: CardDevice) -> None:
    """Remember when the device was last used, at most once a minute (keeps the row cool)."""
    now = timezone.now()
    if device.last_used_at is None or now - device.last_used_at >= _LAST_USED_INTERVAL:
        with connection.cursor() as cursor:
            cursor.execute(_TOUCH_SQL, [rows.db_value(CardDevice, "last_used_at", now), device.pk])
        device.last_used_at = now
