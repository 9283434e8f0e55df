"""Attack: replaying a captured approval request (same signed bytes) or approving an answered
challenge again. The jti is single use; a challenge is answered once."""

from __future__ import annotations

import json

import pytest
from django.test import Client as BrowserClient

from tests.accounts.factories import make_professional, rpps
from tests.authn.card import login_flow as flow
from tests.authn.card.helpers import API, PIN, enrol
from tests.oidc.factories import make_client
from tests.oidc.flows import state_snapshot

pytestmark = pytest.mark.django_db


def test_a_replayed_approval_is_refused(client):
    pro = make_professional("8" + rpps(331))
    _device, phone = enrol(pro)
    rp = make_client()[0]
    browser = BrowserClient()
    first = flow.start_push(browser, flow.begin(browser, rp), pro.id_nat).json()
    path = f"{API}challenges/{first['challenge']}/approve"
    body = json.dumps({"number": first["number"], "pin": PIN}).encode()
    header = phone.authorization("POST", path, body)
    sent = client.generic("POST", path, body, content_type="application/json", secure=True,
                          HTTP_AUTHORIZATION=header)  # fmt: skip
    assert sent.status_code == 200

    # A second login of the same professional: the captured request cannot approve it either.
    second = flow.start_push(browser, flow.begin(browser, rp), pro.id_nat).json()
    state, snapshot = flow.card_state(), state_snapshot()
    replayed = client.generic("POST", path, body, content_type="application/json", secure=True,
                              HTTP_AUTHORIZATION=header)  # fmt: skip
    assert (replayed.status_code, replayed.json()["error"]) == (401, "replayed_request")
    fresh = flow.approve(client, phone, first["challenge"], first["number"], PIN)
    assert (fresh.status_code, fresh.json()["error"]) == (409, "challenge_answered")
    assert flow.card_state() == state
    assert state_snapshot()["sessions"] == snapshot["sessions"]
    assert browser.get(second["status_url"]).json() == {"status": "pending"}
