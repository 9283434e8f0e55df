"""Attack: a man in the middle changes the body of a signed approval (another challenge's number,
another PIN guess) or its URL (another challenge). The signature covers both (bsh, htu)."""

from __future__ import annotations

import json

import pytest
from django.test import Client as BrowserClient

from tests.accounts.factories import make_professional, rpps
from tests.authn.card import login_flow as flow
from tests.authn.card.helpers import API, enrol
from tests.oidc.factories import make_client

pytestmark = pytest.mark.django_db


def test_a_tampered_body_or_url_is_refused(client):
    pro = make_professional("8" + rpps(351))
    _device, phone = enrol(pro)
    rp = make_client()[0]
    browser = BrowserClient()
    first = flow.start_push(browser, flow.begin(browser, rp), pro.id_nat).json()
    second = flow.start_push(browser, flow.begin(browser, rp), pro.id_nat).json()
    path = f"{API}challenges/{first['challenge']}/deny"
    signed = json.dumps({"reason": "not me"}).encode()
    header = phone.authorization("POST", path, signed)
    state = flow.card_state()

    tampered = json.dumps({"reason": "it was me"}).encode()
    body_changed = client.generic("POST", path, tampered, content_type="application/json",
                                  secure=True, HTTP_AUTHORIZATION=header)  # fmt: skip
    assert (body_changed.status_code, body_changed.json()["error"]) == (401, "invalid_signature")
    other = f"{API}challenges/{second['challenge']}/deny"
    url_changed = client.generic("POST", other, signed, content_type="application/json",
                                 secure=True, HTTP_AUTHORIZATION=header)  # fmt: skip
    assert (url_changed.status_code, url_changed.json()["error"]) == (401, "invalid_signature")
    assert flow.card_state() == state
    assert browser.get(first["status_url"]).json() == {"status": "pending"}
    assert browser.get(second["status_url"]).json() == {"status": "pending"}
