"""The waiting page's poll (``POST card/<id>/status``) completes the login once it is approved.

The page polls with ``POST`` and its CSRF token; while the holder has not answered the poll says
``pending`` and changes nothing; the poll that sees the approval completes the login as ``POST
complete`` does (the same checks, the same single use, the same journal event) and answers where
the browser goes. A ``form_post`` client, or a completion refused, gets the plain status: the page
then posts its form, which completes or shows why not (tests/authn/card/test_login_push.py).
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client as BrowserClient
from django.utils import timezone

from idp.audit.models import AuditEvent
from idp.audit.tags import EventTag
from idp.authn.card.models import CardChallenge, CardDevice
from idp.oidc import sessions
from idp.oidc.models import AuthorizationCode, SsoSession
from tests.authn.card import login_flow as flow
from tests.authn.card.helpers import PIN, enrol
from tests.oidc.factories import REDIRECT_URI, make_client, make_doctor_with_two_activities
from tests.oidc.flows import state_snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture
def rp():
    return make_client()


@pytest.fixture
def doctor():
    return make_doctor_with_two_activities()


@pytest.fixture
def phone(doctor):
    return enrol(doctor)[1]


@pytest.fixture
def browser():
    return BrowserClient(HTTP_USER_AGENT=flow.FIREFOX_WINDOWS)


def _started(browser, rp, doctor, **extra):
    login = flow.begin(browser, rp, **extra)
    body = flow.start_push(browser, login, doctor.id_nat).json()
    return login, body


def _nothing_written() -> dict:
    return {**flow.card_state(), **state_snapshot(), "events": AuditEvent.objects.count()}


def test_a_poll_before_the_approval_says_pending_and_changes_nothing(browser, rp, doctor, phone):
    _login, body = _started(browser, rp[0], doctor)
    before = _nothing_written()
    polled = browser.post(body["status_url"], **flow.JSON)
    assert polled.status_code == 200
    assert polled.json() == {"status": "pending"}
    assert "no-store" in polled["Cache-Control"]
    assert not polled.cookies.get(sessions.COOKIE_NAME)
    assert _nothing_written() == before


def test_the_poll_that_sees_the_approval_completes_the_login(client, browser, rp, doctor, phone):
    model, secret = rp
    _login, body = _started(browser, model, doctor)
    flow.approve(client, phone, body["challenge"], body["number"], PIN)

    polled = browser.post(body["status_url"], **flow.JSON)
    assert polled.status_code == 200, polled.content
    answer = polled.json()
    assert answer["status"] == "approved"
    assert answer["location"].startswith(REDIRECT_URI)
    params = {k: v[0] for k, v in parse_qs(urlsplit(answer["location"]).query).items()}
    assert params["state"] and params["iss"]
    # The SSO session's cookie comes with the answer, as with the complete form's.
    assert polled.cookies[sessions.COOKIE_NAME].value
    assert "no-store" in polled["Cache-Control"]
    assert polled["X-Frame-Options"] == "DENY"

    challenge = CardChallenge.objects.get(public_id=body["challenge"])
    assert challenge.consumed_at is not None
    session = SsoSession.objects.get()
    assert session.acr == "eidas2" and session.amr == ["pop", "pin", "mfa"]
    assert AuditEvent.objects.filter(tag=EventTag.AUTHN_CARD_LOGIN).count() == 1
    tokens = flow.exchange(client, model, secret, params["code"])
    assert tokens.status_code == 200, tokens.content
    assert tokens.json()["id_token"]


def test_the_complete_form_after_a_completing_poll_completes_nothing(
    client, browser, rp, doctor, phone
):
    _login, body = _started(browser, rp[0], doctor)
    flow.approve(client, phone, body["challenge"], body["number"], PIN)
    assert "location" in browser.post(body["status_url"], **flow.JSON).json()
    before = _nothing_written()

    again = browser.post(body["status_url"], **flow.JSON)
    assert again.json() == {"status": "approved"}  # no second login, no second code
    replay = browser.post(body["complete_url"])
    assert replay.status_code in (400, 409)
    assert _nothing_written() == before
    assert AuthorizationCode.objects.count() == 1


def test_a_form_post_client_gets_the_status_and_completes_with_the_form(
    client, browser, rp, doctor, phone
):
    _login, body = _started(browser, rp[0], doctor, response_mode="form_post")
    flow.approve(client, phone, body["challenge"], body["number"], PIN)

    polled = browser.post(body["status_url"], **flow.JSON)
    assert polled.json() == {"status": "approved"}
    assert not SsoSession.objects.exists()
    assert CardChallenge.objects.get().consumed_at is None

    done = browser.post(body["complete_url"])
    assert done.status_code == 200
    assert b'name="code"' in done.content  # the auto-submitting form to the client
    assert SsoSession.objects.count() == 1


def test_a_refused_completion_answers_the_status_and_leaves_everything(
    client, browser, rp, doctor, phone
):
    _login, body = _started(browser, rp[0], doctor)
    flow.approve(client, phone, body["challenge"], body["number"], PIN)
    CardDevice.objects.update(revoked_at=timezone.now())  # revoked after approving
    before = _nothing_written()

    polled = browser.post(body["status_url"], **flow.JSON)
    assert polled.json() == {"status": "approved"}  # the page posts its form, which says why
    assert _nothing_written() == before
    shown = browser.post(body["complete_url"])
    assert shown.status_code == 400
    assert _nothing_written() == before


def test_a_poll_from_another_browser_finds_nothing_and_completes_nothing(
    client, browser, rp, doctor, phone
):
    _login, body = _started(browser, rp[0], doctor)
    flow.approve(client, phone, body["challenge"], body["number"], PIN)
    before = _nothing_written()

    other = BrowserClient(HTTP_USER_AGENT=flow.FIREFOX_WINDOWS)
    polled = other.post(body["status_url"], **flow.JSON)
    assert polled.status_code == 404
    assert polled.json()["error"] == "challenge_not_found"
    assert _nothing_written() == before


def test_the_poll_needs_the_pages_csrf_token(client, rp, doctor, phone):
    browser = BrowserClient(enforce_csrf_checks=True, HTTP_USER_AGENT=flow.FIREFOX_WINDOWS)
    login = flow.begin(browser, rp[0])
    token = str(browser.get(login).context["csrf_token"])
    body = flow.start_push(browser, login, doctor.id_nat, HTTP_X_CSRFTOKEN=token).json()
    flow.approve(client, phone, body["challenge"], body["number"], PIN)
    before = _nothing_written()

    forged = browser.post(body["status_url"], **flow.JSON)
    assert forged.status_code == 403
    assert _nothing_written() == before

    polled = browser.post(body["status_url"], HTTP_X_CSRFTOKEN=token, **flow.JSON)
    assert polled.status_code == 200
    assert polled.json()["location"].startswith(REDIRECT_URI)
    assert SsoSession.objects.count() == 1


@pytest.mark.parametrize("answer", ["denied", "failed"])
def test_a_poll_after_a_refusal_on_the_phone_says_so(client, browser, rp, doctor, phone, answer):
    _login, body = _started(browser, rp[0], doctor)
    if answer == "denied":
        phone.call(client, "POST", f"challenges/{body['challenge']}/deny", {})
    else:
        flow.approve(client, phone, body["challenge"], body["number"], "000000"[: len(PIN)])
    before = _nothing_written()
    polled = browser.post(body["status_url"], **flow.JSON)
    assert polled.json() == {"status": answer}
    assert _nothing_written() == before


def test_the_polls_redis_round_trips(client, browser, rp, doctor, phone):
    """A poll while the holder has not answered reads no Redis; the poll that completes makes
    one round trip, the transaction's single use (SET NX), and no "already used" read first."""
    from tests.redis_round_trips import redis_round_trips

    _login, body = _started(browser, rp[0], doctor)
    with redis_round_trips() as trips:
        assert browser.post(body["status_url"], **flow.JSON).json() == {"status": "pending"}
    assert trips.sent == []
    flow.approve(client, phone, body["challenge"], body["number"], PIN)
    with redis_round_trips() as trips:
        assert "location" in browser.post(body["status_url"], **flow.JSON).json()
    assert trips.names == [["SET"]]
    assert ("NX" in trips.sent[0][0]) and ":txn-used:" in trips.sent[0][0][1]
