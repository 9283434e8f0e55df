"""Attack: one login page, two challenges (the idNat of one professional, then another's, or the
same twice), both approved; the first completes the login, then the second is completed too,
through the page's poll or its form, hoping for a second session, or at least to end the first
one (a second professional on the same browser ends the previous professional's session, which
is announced outside the database: access tokens refused, back-channel logout).

The login transaction is used up before any session is touched (interaction.complete_login): the
second completion fails there, and nothing changes, the first session included.
"""

from __future__ import annotations

import pytest
from django.test import Client as BrowserClient

from idp.audit.models import AuditEvent
from idp.oidc import revocation, sessions
from idp.oidc.models import SsoSession
from tests.accounts.factories import make_professional, rpps
from tests.authn.card import login_flow as flow
from tests.authn.card.helpers import PIN, enrol
from tests.oidc.factories import make_client
from tests.oidc.flows import state_snapshot

pytestmark = pytest.mark.django_db


def _everything() -> dict:
    return {**flow.card_state(), **state_snapshot(), "events": AuditEvent.objects.count()}


@pytest.mark.parametrize("second_by", ["poll", "form"])
def test_a_second_approved_challenge_of_a_used_login_changes_nothing(client, second_by):
    first_pro = make_professional("8" + rpps(331))
    second_pro = make_professional("8" + rpps(332))
    first_phone, second_phone = enrol(first_pro)[1], enrol(second_pro)[1]
    browser = BrowserClient()
    login = flow.begin(browser, make_client()[0])
    first = flow.start_push(browser, login, first_pro.id_nat).json()
    second = flow.start_push(browser, login, second_pro.id_nat).json()
    flow.approve(client, first_phone, first["challenge"], first["number"], PIN)
    flow.approve(client, second_phone, second["challenge"], second["number"], PIN)

    assert browser.post(first["status_url"], **flow.JSON).json()["location"]
    session = SsoSession.objects.get()
    assert browser.cookies[sessions.COOKIE_NAME].value
    before = _everything()

    if second_by == "poll":
        answer = browser.post(second["status_url"], **flow.JSON)
        assert answer.json() == {"status": "approved"}  # no location: nothing completed
    else:
        answer = browser.post(second["complete_url"])
        assert answer.status_code == 400
    assert _everything() == before
    session.refresh_from_db()
    assert session.ended_at is None
    assert not revocation.is_revoked(sid=session.sid)
    assert SsoSession.objects.count() == 1
