"""Attack: crashing the card app API with input no phone sends: JSON nested deeper than Python's
stack (in the body, unauthenticated, or in the JWS header), NUL characters (which PostgreSQL text
cannot hold) in the body or the path, a QR code urlsplit cannot parse. Each is a 4xx with a
stable error code, never a 500, and nothing is enrolled, answered or changed."""

from __future__ import annotations

import base64
import json

import pytest
from django.conf import settings

from idp.authn.card.models import CardActivation, CardDevice
from tests.accounts.factories import make_professional, rpps
from tests.authn.card import login_flow as flow
from tests.authn.card.helpers import API, PIN, enrol

pytestmark = pytest.mark.django_db


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _state():
    return flow.card_state(), list(CardActivation.objects.values_list("pk", flat=True))


def test_deeply_nested_json_is_a_malformed_request(client):
    pro = make_professional("8" + rpps(941))
    state = _state()
    for body in (b"[" * 5000, b'{"a":' * 3000):
        response = client.post(API + "activation/start", body, content_type="application/json",
                               secure=True)  # fmt: skip
        assert (response.status_code, response.json()["error"]) == (400, "invalid_request")
    header = "CardDevice " + _b64(b"[" * 2500) + ".e30.sig"
    response = client.get(API + "device", HTTP_AUTHORIZATION=header, secure=True)
    assert (response.status_code, response.json()["error"]) == (401, "invalid_signature")
    assert _state() == state
    assert pro.card_activations.count() == 0


def test_nul_characters_are_refused_before_any_query(client):
    pro = make_professional("8" + rpps(942))
    device, phone = enrol(pro)
    state = _state()
    start = client.post(API + "activation/start", json.dumps({"id_nat": pro.id_nat + "\x00"}),
                        content_type="application/json", secure=True)  # fmt: skip
    assert (start.status_code, start.json()["error"]) == (400, "invalid_request")
    renamed = phone.call(client, "PATCH", "device", {"name": "Phone\x00"})
    assert (renamed.status_code, renamed.json()["error"]) == (400, "invalid_request")
    for method, path, body in (
        ("DELETE", "devices/a%00b", None),
        ("POST", "challenges/a%00b/approve", {"number": "12", "pin": PIN}),
        ("DELETE", "sessions/a%00b", None),
    ):
        response = phone.call(client, method, path, body)
        assert (response.status_code, response.json()["error"]) == (400, "invalid_request")
    assert _state() == state
    device.refresh_from_db()
    assert device.name == "Phone"


def test_a_qr_code_urlsplit_refuses_is_a_malformed_request(client):
    pro = make_professional("8" + rpps(943))
    _device, phone = enrol(pro)
    state = _state()
    for qr in ("http://[::1", f"caducee-card://login?c=a%00&s=b&iss={settings.IDP_ISSUER}"):
        response = phone.call(client, "POST", "challenges/scan", {"qr": qr})
        assert response.status_code in (400, 404), response.content
        assert response.json()["error"] in ("invalid_request", "challenge_not_found")
    assert _state() == state
    assert CardDevice.objects.get().revoked_at is None
