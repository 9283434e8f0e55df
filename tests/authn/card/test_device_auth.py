"""The device signature (idp/authn/card/device_auth.py), through a real view of the API."""

from __future__ import annotations

import json
import time

import pytest
from django.conf import settings
from django.urls import path
from joserfc import jws

from idp.audit.models import AuditEvent
from idp.authn.card.api.base import endpoint
from idp.authn.card.device_auth import body_hash
from tests.accounts.factories import make_professional
from tests.authn.card.helpers import FakePhone, enrol

pytestmark = pytest.mark.django_db

PATH = "/api/card/v1/_probe"


@endpoint("GET", "POST")
def probe(request):
    return {"kid": request.card.kid, "body": request.card_json}


urlpatterns = [path("api/card/v1/_probe", probe)]


@pytest.fixture(autouse=True)
def _urls(settings):
    settings.ROOT_URLCONF = __name__


@pytest.fixture
def device_and_phone():
    return enrol(make_professional())


def test_a_signed_request_names_its_device(client, device_and_phone):
    device, phone = device_and_phone
    response = phone.call(client, "POST", PATH, {"a": 1})
    assert response.status_code == 200, response.content
    assert response.json() == {"kid": device.kid, "body": {"a": 1}}
    assert response["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("sign", "code"),
    [
        ({"iat": time.time() - 600}, "stale_request"),
        ({"htu": "https://evil.example/api/card/v1/_probe"}, "invalid_signature"),
        ({"bsh": "AAAA"}, "invalid_signature"),
        ({"jti": "short"}, "invalid_signature"),
    ],
)
def test_bad_signatures_are_refused(client, device_and_phone, sign, code):
    _device, phone = device_and_phone
    response = phone.call(client, "POST", PATH, {"a": 1}, **sign)
    assert response.status_code == 401
    assert response.json()["error"] == code
    assert response.json()["message_fr"]


def test_a_nan_iat_is_no_fresh_request(client, device_and_phone):
    """json.loads accepts NaN; abs(now - NaN) > skew is false, so NaN passed as fresh and the
    request was replayable once its jti left the replay cache."""
    _device, phone = device_and_phone
    htu = settings.IDP_BASE_URL.rstrip("/") + PATH
    payload = json.dumps({"htm": "GET", "htu": htu, "iat": "@", "jti": "nan-iat-0123456789",
                          "bsh": body_hash(b"")}).replace('"@"', "NaN")  # fmt: skip
    token = jws.serialize_compact(
        {"alg": "ES256", "typ": "card-request+jwt", "kid": phone.kid}, payload.encode(), phone.key
    )
    response = client.get(PATH, secure=True, HTTP_AUTHORIZATION=f"CardDevice {token}")
    assert (response.status_code, response.json()["error"]) == (401, "invalid_signature")


def test_a_replayed_request_is_refused_and_journaled(client, device_and_phone):
    _device, phone = device_and_phone
    header = phone.authorization("GET", PATH)
    first = client.get(PATH, secure=True, HTTP_AUTHORIZATION=header)
    again = client.get(PATH, secure=True, HTTP_AUTHORIZATION=header)
    assert first.status_code == 200
    assert again.status_code == 401
    assert again.json()["error"] == "replayed_request"
    assert AuditEvent.objects.filter(tag="authn:card:request_refused").count() == 1


def test_a_key_that_is_not_enrolled_is_unknown(client):
    response = FakePhone().call(client, "GET", PATH)
    assert response.status_code == 401
    assert response.json()["error"] == "unknown_device"


def test_revoked_device_is_refused(client, device_and_phone):
    device, phone = device_and_phone
    device.revoked_at = device.created_at
    device.save()
    response = phone.call(client, "GET", PATH)
    assert response.status_code == 403
    assert response.json()["error"] == "device_revoked"
