"""Attack: approving a challenge with a key that is not the enrolled one (naming the victim's
device kid), or with alg none / HS256. Only the enrolled key's ES256 signature counts."""

from __future__ import annotations

import base64
import json

import pytest
from django.test import Client as BrowserClient

from tests.accounts.factories import make_professional, rpps
from tests.authn.card import login_flow as flow
from tests.authn.card.helpers import API, PIN, FakePhone, enrol
from tests.oidc.factories import make_client
from tests.oidc.flows import state_snapshot

pytestmark = pytest.mark.django_db


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.fixture
def started(client):
    pro = make_professional("8" + rpps(341))
    device, phone = enrol(pro)
    browser = BrowserClient()
    body = flow.start_push(browser, flow.begin(browser, make_client()[0]), pro.id_nat).json()
    return device, phone, body


def test_another_key_claiming_the_device_kid(client, started):
    device, _phone, body = started
    attacker = FakePhone()
    attacker.kid = device.kid  # the header names the victim's device; the key is the attacker's
    state, snapshot = flow.card_state(), state_snapshot()
    response = flow.approve(client, attacker, body["challenge"], body["number"], PIN)
    assert (response.status_code, response.json()["error"]) == (401, "invalid_signature")
    assert flow.card_state() == state
    assert state_snapshot()["sessions"] == snapshot["sessions"]


@pytest.mark.parametrize("alg", ["none", "HS256"])
def test_unsigned_or_symmetric_tokens(client, started, alg):
    device, _phone, body = started
    path = f"{API}challenges/{body['challenge']}/approve"
    payload = json.dumps({"number": body["number"], "pin": PIN}).encode()
    header = _b64({"alg": alg, "typ": "card-request+jwt", "kid": device.kid})
    claims = _b64({"htm": "POST", "htu": f"http://testserver{path}", "iat": 0, "jti": "x" * 20})
    token = f"{header}.{claims}."
    state = flow.card_state()
    response = client.generic("POST", path, payload, content_type="application/json",
                              secure=True, HTTP_AUTHORIZATION=f"CardDevice {token}")  # fmt: skip
    assert (response.status_code, response.json()["error"]) == (401, "invalid_signature")
    assert flow.card_state() == state
