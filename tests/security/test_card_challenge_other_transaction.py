"""Attack: using an approval obtained for one login transaction to complete another one in the
same browser (for instance a request for another client started in a second tab by a malicious
page). A challenge completes the transaction it was made for (its jti) only."""

from __future__ import annotations

import pytest
from django.test import Client as BrowserClient

from tests.accounts.factories import make_professional, rpps
from tests.authn.card import login_flow as flow
from tests.authn.card.helpers import PIN, enrol
from tests.oidc.factories import make_client
from tests.oidc.flows import state_snapshot

pytestmark = pytest.mark.django_db


def test_an_approval_completes_its_own_transaction_only(client):
    pro = make_professional("8" + rpps(395))
    _device, phone = enrol(pro)
    browser = BrowserClient()
    first_login = flow.begin(browser, make_client()[0])
    body = flow.start_push(browser, first_login, pro.id_nat).json()
    flow.approve(client, phone, body["challenge"], body["number"], PIN)
    other_rp, _ = make_client(client_id="other", name="Other service")
    other_login = flow.begin(browser, other_rp)
    state, snapshot = flow.card_state(), state_snapshot()
    status = browser.get(f"{other_login}/card/{body['challenge']}/status")
    assert status.status_code == 404
    complete = browser.post(f"{other_login}/card/{body['challenge']}/complete")
    assert complete.status_code == 404
    assert flow.card_state() == state
    assert state_snapshot() == snapshot
    assert browser.post(body["complete_url"]).status_code == 302
