"""Attack: enrolling one's own phone through a victim's browser session that is weak or gone.

Only a live SSO session opened with a strong method (card app, security key) may show an
activation QR; anyone else (no session, an offline-code session, a forged cookie, a cross-site
form without the CSRF token) gets no code.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from idp.authn.card.models import CardActivation
from idp.oidc import sessions
from tests.accounts.factories import make_professional, rpps
from tests.authn.card.test_portal import ACTIVATE, log_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def victim():
    return make_professional("8" + rpps(51))


def test_no_session(client, victim):
    assert client.post(ACTIVATE).status_code == 403
    assert not CardActivation.objects.exists()


def test_an_offline_code_session(client, victim):
    log_in(client, victim, ("otp",))
    assert client.post(ACTIVATE).status_code == 403
    assert not CardActivation.objects.exists()


def test_a_forged_session_cookie(client, victim):
    session = log_in(Client(), victim)
    client.cookies[sessions.COOKIE_NAME] = session.sid  # the sid without the server's signature
    assert client.post(ACTIVATE).status_code == 403
    assert not CardActivation.objects.exists()


def test_a_cross_site_form_without_csrf_token(victim):
    browser = Client(enforce_csrf_checks=True)
    log_in(browser, victim)
    assert browser.post(ACTIVATE, HTTP_ORIGIN="https://evil.example").status_code == 403
    assert not CardActivation.objects.exists()


def test_a_suspended_professionals_session(client, victim):
    log_in(client, victim)
    victim.suspended_at = timezone.now()
    victim.save()
    assert client.post(ACTIVATE).status_code == 403
    assert not CardActivation.objects.exists()
