"""``GET push-key``: what an app needs before it can subscribe to push (no device yet).

A Web Push subscription is made with the server's VAPID public key as the
``applicationServerKey`` (RFC 8292 §3.2: the push service then only accepts messages signed by
the matching private key). The key is public; the answer is the same for everyone.
"""

from __future__ import annotations

import base64
import functools
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.http import HttpRequest

from idp.authn.card.api.base import endpoint
from idp.authn.card.errors import CardError


@functools.lru_cache(maxsize=4)
def vapid_public_key(path: str) -> str:
    """The uncompressed P-256 point of the VAPID key at ``path``, base64url without padding (the
    form ``PushManager.subscribe`` takes)."""
    with open(path, "rb") as pem:
        private = serialization.load_pem_private_key(pem.read(), password=None)
    if not isinstance(private, ec.EllipticCurvePrivateKey) or private.curve.name != "secp256r1":
        raise ValueError("the VAPID key must be a P-256 (prime256v1) key")
    point = private.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return base64.urlsafe_b64encode(point).rstrip(b"=").decode("ascii")


@endpoint("GET", signed=False)
def push_key(request: HttpRequest) -> dict[str, Any]:
    """``GET push-key`` → ``{"vapid_public_key": ...}``, or ``push_unavailable`` (404) when this
    server does not push (the app then polls ``GET challenges``)."""
    path = settings.IDP_CARD_VAPID_PRIVATE_KEY
    if settings.IDP_CARD_PUSH_BACKEND != "webpush" or not path:
        raise CardError("push_unavailable", "push is not configured")
    try:
        key = vapid_public_key(path)
    except (OSError, ValueError, TypeError) as exc:
        raise CardError("push_unavailable", f"VAPID key unusable: {exc}") from exc
    return {"vapid_public_key": key}
