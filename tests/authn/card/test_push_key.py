"""``GET /api/card/v1/push-key``: the VAPID public key an app subscribes to push with."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization

from idp.authn.card.api import config
from tests.authn.card.helpers import use_vapid_key

URL = "/api/card/v1/push-key"


@pytest.fixture
def vapid(settings, tmp_path):
    settings.IDP_CARD_PUSH_BACKEND = "webpush"
    return use_vapid_key(settings, tmp_path)


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
