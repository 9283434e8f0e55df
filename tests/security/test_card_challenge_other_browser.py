"""Attack: another browser (who learnt the challenge id: a shoulder, a log, a shared link) polls
or completes someone's approved challenge. The challenge is bound to the browser that started it."""

from __future__ import annotations

import pytest
from django.test import Client as BrowserClient

from tests.accounts.factories import make_professional, rpps
from tests.authn.card import login_flow as flow
from tests.authn.card.helpers import PIN, enrol
from tests.oidc.factories import make_client
from tests.oidc.flows import state_snapshot

pytestmark = pytest.mark.django_db


def test_another_browser_can_neither_poll_nor_complete(client):
    victim = make_professional("8" + rpps(311))
    _device, phone = enrol(victim)
    rp = make_client()[0]
    browser = BrowserClient()
    body = flow.start_push(browser, flow.begin(browser, rp), victim.id_nat).json()
    flow.approve(client, phone, body["challenge"], body["number"], PIN)

    attacker = BrowserClient()
    own_login = flow.begin(attacker, rp)  # a valid transaction of the attacker's own
    state, snapshot = flow.card_state(), state_snapshot()
    # The victim's URLs, with the attacker's cookie: the transaction is not theirs.
    assert attacker.get(body["status_url"]).status_code in (400, 404)
    assert attacker.post(body["status_url"]).status_code == 404  # the poll that completes
    assert attacker.post(body["complete_url"]).status_code == 400
    # The victim's challenge under the attacker's own transaction: not this browser's.
    status = attacker.get(f"{own_login}/card/{body['challenge']}/status")
    assert (status.status_code, status.json()["error"]) == (404, "challenge_not_found")
    polled = attacker.post(f"{own_login}/card/{body['challenge']}/status")
    assert (polled.status_code, polled.json()["error"]) == (404, "challenge_not_found")
    complete = attacker.post(f"{own_login}/card/{body['challenge']}/complete")
    assert complete.status_code == 404
    # Even with the victim's caducee_txn cookie name but a guessed value.
    attacker.cookies["caducee_txn"] = "A" * 43
    assert attacker.post(body["complete_url"]).status_code == 400
    assert flow.card_state() == state
    assert state_snapshot() == snapshot
    # The victim still completes.
    assert browser.post(body["complete_url"]).status_code == 302
