"""``GET /api/card/v1/push-key``: the VAPID public key an app subscribes to push with."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from idp.authn.card.api import config

URL = "/api/card/v1/push-key"


@pytest.fixture
def vapid(settings, tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    pem = tmp_path / "vapid.pem"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    settings.IDP_CARD_PUSH_BACKEND = "webpush"
    settings.IDP_CARD_VAPID_PRIVATE_KEY = str(pem)
    config.vapid_public_key.cache_clear()
    return key


def test_the_key_is_the_public_point_of_the_vapid_key(client, vapid):
    response = client.get(URL, secure=True)
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    encoded = response.json()["vapid_public_key"]
    point = base64.urlsafe_b64decode(encoded + "=")
    assert point == vapid.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    assert len(encoded) == 87 and "=" not in encoded


def test_no_push_configured_is_a_stable_error(client, settings):
    settings.IDP_CARD_PUSH_BACKEND = "none"
    response = client.get(URL, secure=True)
    assert response.status_code == 404
    assert response.json()["error"] == "push_unavailable"
    assert response.json()["message_fr"]


def test_an_unusable_key_file_is_an_error_not_a_500(client, settings, tmp_path):
    bad = tmp_path / "rsa.pem"
    bad.write_bytes(b"not a key")
    settings.IDP_CARD_PUSH_BACKEND = "webpush"
    settings.IDP_CARD_VAPID_PRIVATE_KEY = str(bad)
    config.vapid_public_key.cache_clear()
    response = client.get(URL, secure=True)
    assert response.status_code == 404
    assert response.json()["error"] == "push_unavailable"


def test_only_get(client, vapid):
    assert client.post(URL, secure=True).status_code == 405
