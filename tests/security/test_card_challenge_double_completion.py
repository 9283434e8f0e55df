"""Attack: completing one approved challenge twice (a replayed form POST, or two racing ones) to
open a second session. The first completion uses up the login transaction (the client is answered
at once); the approval itself is consumed once (conditional UPDATE on consumed_at), which is what
stops a second completion racing the first past the transaction check."""

from __future__ import annotations

import pytest
from django.test import Client as BrowserClient

from idp.audit.models import AuditEvent
from idp.authn.card import challenges
from idp.authn.card.models import CardChallenge
from idp.oidc.models import SsoSession
from tests.accounts.factories import make_professional, rpps
from tests.authn.card import login_flow as flow
from tests.authn.card.helpers import PIN, enrol
from tests.oidc.factories import make_client
from tests.oidc.flows import state_snapshot

pytestmark = pytest.mark.django_db


def test_an_approval_completes_one_login_only(client):
    pro = make_professional("8" + rpps(321))
    _device, phone = enrol(pro)
    browser = BrowserClient()
    body = flow.start_push(browser, flow.begin(browser, make_client()[0]), pro.id_nat).json()
    flow.approve(client, phone, body["challenge"], body["number"], PIN)
    assert browser.post(body["complete_url"]).status_code == 302
    state, snapshot = flow.card_state(), state_snapshot()
    again = browser.post(body["complete_url"])
    assert again.status_code == 400 and b"invalid_request" in again.content
    assert flow.card_state() == state
    assert state_snapshot() == snapshot
    assert SsoSession.objects.count() == 1
    assert AuditEvent.objects.filter(tag="authn:card:login").count() == 1


def test_an_approval_consumed_by_a_racing_completion_is_not_honoured_again(client):
    """The second of two simultaneous POSTs passes the transaction check before the first one
    uses it up; the approval, consumed by the first, stops it."""
    pro = make_professional("8" + rpps(323))
    _device, phone = enrol(pro)
    browser = BrowserClient()
    body = flow.start_push(browser, flow.begin(browser, make_client()[0]), pro.id_nat).json()
    flow.approve(client, phone, body["challenge"], body["number"], PIN)
    challenge = CardChallenge.objects.get(public_id=body["challenge"])
    assert challenges.consume(challenge)  # what the racing first completion did
    state, snapshot = flow.card_state(), state_snapshot()
    again = browser.post(body["complete_url"])
    assert again.status_code == 409
    assert "déjà servi" in again.content.decode()
    assert flow.card_state() == state
    assert state_snapshot() == snapshot
    assert SsoSession.objects.count() == 0
    assert AuditEvent.objects.filter(tag="authn:card:login").count() == 0


def test_after_resume_the_transaction_itself_is_used(client):
    pro = make_professional("8" + rpps(322))
    _device, phone = enrol(pro)
    browser = BrowserClient()
    body = flow.start_push(browser, flow.begin(browser, make_client()[0]), pro.id_nat).json()
    flow.approve(client, phone, body["challenge"], body["number"], PIN)
    flow.code_from(browser, browser.post(body["complete_url"]))
    snapshot = state_snapshot()
    assert browser.post(body["complete_url"]).status_code == 400
    assert state_snapshot() == snapshot


def test_an_approval_of_a_professional_suspended_meanwhile_opens_nothing(client):
    """Suspended between the approval and the completion: refused, and the refused completion
    leaves everything as it was (the approval unused, no session, no code, no journal event)."""
    from idp.accounts import services

    pro = make_professional("8" + rpps(324))
    _device, phone = enrol(pro)
    browser = BrowserClient()
    body = flow.start_push(browser, flow.begin(browser, make_client()[0]), pro.id_nat).json()
    flow.approve(client, phone, body["challenge"], body["number"], PIN)
    services.suspend(pro, by="admin:alice", reason="licence withdrawn")
    state, snapshot = flow.card_state(), state_snapshot()
    refused = browser.post(body["complete_url"])
    assert refused.status_code in (400, 403) and "Location" not in refused
    assert flow.card_state() == state
    assert state_snapshot() == snapshot
    assert SsoSession.objects.count() == 0
    assert AuditEvent.objects.filter(tag="authn:card:login").count() == 0
