"""Playing the phone in server tests: a real P-256 key, real ES256 signatures (never mocked).

``FakePhone`` signs requests exactly as docs/design/card-app.md says; :func:`enrol` puts a device
in the database directly (for tests of what comes after activation); the activation tests enrol
through the API instead. The reference app (``card_app``) is tested end to end elsewhere.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.utils import timezone
from joserfc import jws
from joserfc.jwk import ECKey

from idp.accounts.models import Professional
from idp.authn.card import challenges
from idp.authn.card import pin as pins
from idp.authn.card.models import ActivationMethod, CardDevice

API = "/api/card/v1/"
PIN = "4826"


class FakePhone:
    """A device key and the signing of requests to the card app API."""

    def __init__(self) -> None:
        self.key = ECKey.import_key(ec.generate_private_key(ec.SECP256R1()))
        self.public_jwk = self.key.as_dict(private=False)
        self.kid = self.key.thumbprint()

    def authorization(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        *,
        registration: bool = False,
        iat: float | None = None,
        jti: str | None = None,
        htu: str | None = None,
        bsh: str | None = None,
        alg: str = "ES256",
    ) -> str:
        header: dict[str, Any] = {"alg": alg, "typ": "card-request+jwt"}
        if registration:
            header["jwk"] = self.public_jwk
        else:
            header["kid"] = self.kid
        digest = base64.urlsafe_b64encode(hashlib.sha256(body).digest()).rstrip(b"=").decode()
        payload = {
            "htm": method,
            "htu": htu or settings.IDP_BASE_URL.rstrip("/") + path,
            "iat": int(time.time() if iat is None else iat),
            "jti": jti or secrets.token_urlsafe(16),
            "bsh": digest if bsh is None else bsh,
        }
        token = jws.serialize_compact(header, json.dumps(payload).encode(), self.key)
        return f"CardDevice {token}"

    def call(
        self,
        client: Any,
        method: str,
        path: str,
        data: dict[str, Any] | None = None,
        *,
        registration: bool = False,
        **sign: Any,
    ) -> Any:
        """One signed request through the test client; ``path`` is relative to the API root."""
        full = path if path.startswith("/") else API + path
        body = json.dumps(data).encode() if data is not None else b""
        headers = {"HTTP_AUTHORIZATION": self.authorization(method, full, body, **sign)}
        if registration:
            headers["HTTP_AUTHORIZATION"] = self.authorization(
                method, full, body, registration=True, **sign
            )
        return client.generic(
            method,
            full,
            body,
            content_type="application/json" if body else "",
            secure=True,
            **headers,
        )


def login_challenge(professional: Professional, **fields: Any) -> Any:
    """A pending login challenge for ``professional``, as the login page's ``POST card`` makes
    it (their devices must be enrolled)."""
    challenge, _secret = challenges.create(
        "login",
        professional=professional,
        client_id="dmp",
        client_name="DMP",
        browser="Firefox",
        **fields,
    )
    return challenge


def enrol(
    professional: Professional,
    phone: FakePhone | None = None,
    *,
    pin: str = PIN,
    name: str = "Phone",
    days: int | None = None,
) -> tuple[CardDevice, FakePhone]:
    """A usable device of ``professional`` with ``phone``'s key (directly in the database)."""
    phone = phone or FakePhone()
    salt = pins.new_salt()
    device = CardDevice.objects.create(
        professional=professional,
        name=name,
        kid=phone.kid,
        public_jwk=phone.public_jwk,
        pin_salt=salt,
        pin_hash=pins.hash_pin(pin, salt),
        expires_at=timezone.now()
        + timedelta(days=settings.IDP_CARD_CREDENTIAL_DAYS if days is None else days),
        activated_by=ActivationMethod.ADMIN,
    )
    return device, phone


def use_vapid_key(settings_fixture: Any, directory: Path) -> ec.EllipticCurvePrivateKey:
    """A new VAPID key (P-256) in a PEM file under ``directory``, named by
    ``IDP_CARD_VAPID_PRIVATE_KEY`` as deploy/ does, the server's cached public key forgotten."""
    from idp.authn.card.api import config

    key = ec.generate_private_key(ec.SECP256R1())
    pem = directory / "vapid.pem"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    settings_fixture.IDP_CARD_VAPID_PRIVATE_KEY = str(pem)
    config.vapid_public_key.cache_clear()
    return key


def push_subscription(
    endpoint: str,
    phone_key: ec.EllipticCurvePrivateKey | None = None,
    auth_secret: bytes = b"0123456789abcdef",
) -> dict[str, Any]:
    """A Web Push subscription as a phone's PushSubscription.toJSON() gives it: its endpoint, the
    phone's P-256 public key (a new one unless given) and the shared auth secret (RFC 8291 §3)."""
    phone_key = phone_key or ec.generate_private_key(ec.SECP256R1())
    p256dh = phone_key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return {
        "endpoint": endpoint,
        "keys": {
            "p256dh": base64.urlsafe_b64encode(p256dh).rstrip(b"=").decode(),
            "auth": base64.urlsafe_b64encode(auth_secret).rstrip(b"=").decode(),
        },
    }
