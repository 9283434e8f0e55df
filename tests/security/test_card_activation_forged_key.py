"""Attack: registering a public key the attacker does not hold (or no signature at all).

The registration request of ``activation/complete`` names the new key by ``jwk`` and must be
signed by it (proof of possession, docs/design/card-app.md): a signature by another key, an
unsigned token or an ``alg`` other than ES256 is refused, and the activation stays unused.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time

import pytest
from django.conf import settings

from idp.authn.card import activation
from idp.authn.card.models import ActivationMethod, CardActivation, CardDevice
from tests.authn.card.helpers import API, FakePhone
from tests.authn.card.test_activation import COMPLETE, holder, new_device

pytestmark = pytest.mark.django_db

URL = API + COMPLETE


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.fixture
def issued():
    return activation.issue_code(holder(), ActivationMethod.ADMIN, actor="admin:alice")


def assert_nothing_changed(issued) -> None:
    assert not CardDevice.objects.exists()
    stored = CardActivation.objects.get(pk=issued.activation.pk)
    assert stored.consumed_at is None and stored.device_id is None


def test_a_signature_by_another_key_than_the_jwk(client, issued):
    victim_key, attacker = FakePhone(), FakePhone()
    attacker.public_jwk = victim_key.public_jwk  # header names the victim's key...
    body = json.dumps(new_device(activation_code=issued.code)).encode()
    header = attacker.authorization("POST", URL, body, registration=True)  # ...signed by ours
    response = client.post(
        URL, body, content_type="application/json", secure=True, HTTP_AUTHORIZATION=header
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_signature"
    assert_nothing_changed(issued)
    # The code is still good for the real holder's phone.
    phone = FakePhone()
    assert phone.call(client, "POST", COMPLETE, new_device(activation_code=issued.code),
                      registration=True).status_code == 201  # fmt: skip


@pytest.mark.parametrize("alg", ["none", "HS256", "ES384", "RS256"])
def test_unsigned_or_other_algorithms(client, issued, alg):
    phone = FakePhone()
    body = json.dumps(new_device(activation_code=issued.code)).encode()
    header = {"alg": alg, "typ": "card-request+jwt", "jwk": phone.public_jwk}
    payload = {
        "htm": "POST",
        "htu": settings.IDP_BASE_URL + URL,
        "iat": int(time.time()),
        "jti": "j" * 24,
        "bsh": base64.urlsafe_b64encode(hashlib.sha256(body).digest()).rstrip(b"=").decode(),
    }
    token = f"{_b64(header)}.{_b64(payload)}.{'' if alg == 'none' else 'c2lnbmF0dXJl'}"
    response = client.post(
        URL,
        body,
        content_type="application/json",
        secure=True,
        HTTP_AUTHORIZATION=f"CardDevice {token}",
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_signature"
    assert_nothing_changed(issued)


def test_a_jwk_carrying_a_private_key_is_refused(client, issued):
    phone = FakePhone()
    phone.public_jwk = phone.key.as_dict(private=True)
    response = phone.call(
        client, "POST", COMPLETE, new_device(activation_code=issued.code), registration=True
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert_nothing_changed(issued)
