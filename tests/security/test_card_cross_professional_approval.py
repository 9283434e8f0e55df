"""Attack: a professional (or a stolen phone of one) approves a login challenge made for someone
else. A device answers its own holder's challenges only: anything else is not found."""

from __future__ import annotations

import pytest
from django.test import Client as BrowserClient

from tests.accounts.factories import make_professional, rpps
from tests.authn.card import login_flow as flow
from tests.authn.card.helpers import PIN, enrol
from tests.oidc.factories import make_client
from tests.oidc.flows import state_snapshot

pytestmark = pytest.mark.django_db


def test_another_professionals_device_cannot_answer(client):
    victim = make_professional("8" + rpps(361))
    enrol(victim)
    _device, attacker_phone = enrol(make_professional("8" + rpps(362)))
    browser = BrowserClient()
    body = flow.start_push(browser, flow.begin(browser, make_client()[0]), victim.id_nat).json()
    state, snapshot = flow.card_state(), state_snapshot()
    assert flow.pending_on_phone(client, attacker_phone) == []
    approve = flow.approve(client, attacker_phone, body["challenge"], body["number"], PIN)
    assert (approve.status_code, approve.json()["error"]) == (404, "challenge_not_found")
    deny = attacker_phone.call(client, "POST", f"challenges/{body['challenge']}/deny", {})
    assert (deny.status_code, deny.json()["error"]) == (404, "challenge_not_found")
    assert flow.card_state() == state
    assert state_snapshot()["sessions"] == snapshot["sessions"]
    assert browser.get(body["status_url"]).json() == {"status": "pending"}
