"""Attack: a page on another site makes the victim's browser send the waiting page's poll
(``POST card/<id>/status``), the request that completes an approved login, hoping to complete
it for its own ends (login CSRF) or to spend the approval before the victim's page does.

The poll is a ``POST`` checked as the complete form is (Django's CSRF protection, on the lean
stack too): without the page's token, or from another origin, it is refused and nothing changes.
"""

from __future__ import annotations

import pytest
from django.test import Client as BrowserClient

from idp.audit.models import AuditEvent
from tests.accounts.factories import make_professional, rpps
from tests.authn.card import login_flow as flow
from tests.authn.card.helpers import PIN, enrol
from tests.oidc.factories import make_client
from tests.oidc.flows import state_snapshot

pytestmark = pytest.mark.django_db


def _everything() -> dict:
    return {**flow.card_state(), **state_snapshot(), "events": AuditEvent.objects.count()}


def test_a_cross_site_poll_completes_nothing(client):
    victim = make_professional("8" + rpps(312))
    _device, phone = enrol(victim)
    rp = make_client()[0]
    browser = BrowserClient(enforce_csrf_checks=True)
    login = flow.begin(browser, rp)
    token = str(browser.get(login).context["csrf_token"])
    body = flow.start_push(browser, login, victim.id_nat, HTTP_X_CSRFTOKEN=token).json()
    flow.approve(client, phone, body["challenge"], body["number"], PIN)
    before = _everything()

    # The victim's own cookies ride along (a top-level form post from the attacker's page).
    no_token = browser.post(body["status_url"], HTTP_ORIGIN="https://evil.example")
    assert no_token.status_code == 403
    other_origin = browser.post(
        body["status_url"],
        HTTP_ORIGIN="https://evil.example",
        HTTP_X_CSRFTOKEN=token,
        secure=True,
    )
    assert other_origin.status_code == 403
    assert _everything() == before

    # The victim's page still completes the login with its approval.
    polled = browser.post(body["status_url"], HTTP_X_CSRFTOKEN=token)
    assert polled.status_code == 200
    assert polled.json()["location"]
