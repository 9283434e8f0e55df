"""Attack: a man in the middle rewrites a signed registration (another PIN, another code).

The signature covers the body through ``bsh`` (SHA-256 of the exact bytes) and the URL through
``htu``: a changed body or a request sent elsewhere is refused, the activation stays unused.
"""

from __future__ import annotations

import json

import pytest

from idp.authn.card import activation
from idp.authn.card.models import ActivationMethod, CardActivation, CardDevice
from tests.authn.card.helpers import API, FakePhone
from tests.authn.card.test_activation import COMPLETE, holder, new_device

pytestmark = pytest.mark.django_db

URL = API + COMPLETE


def assert_nothing_changed(issued) -> None:
    assert not CardDevice.objects.exists()
    stored = CardActivation.objects.get(pk=issued.activation.pk)
    assert stored.consumed_at is None and stored.device_id is None and stored.attempts == 0


def test_a_rewritten_pin_is_refused(client):
    issued = activation.issue_code(holder(), ActivationMethod.ADMIN, actor="admin:alice")
    phone = FakePhone()
    signed_body = json.dumps(new_device(activation_code=issued.code, pin="4826")).encode()
    header = phone.authorization("POST", URL, signed_body, registration=True)
    tampered = json.dumps(new_device(activation_code=issued.code, pin="7391")).encode()
    response = client.post(
        URL, tampered, content_type="application/json", secure=True, HTTP_AUTHORIZATION=header
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_signature"
    assert_nothing_changed(issued)


def test_a_signature_for_another_url_is_refused(client):
    issued = activation.issue_code(holder(), ActivationMethod.ADMIN, actor="admin:alice")
    response = FakePhone().call(
        client,
        "POST",
        COMPLETE,
        new_device(activation_code=issued.code),
        registration=True,
        htu="https://evil.example/api/card/v1/activation/complete",
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_signature"
    assert_nothing_changed(issued)
