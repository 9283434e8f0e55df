"""The holder's card app page (/account/card/): strong session required, devices, QR activation."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.http import HttpResponse
from django.test import Client

from idp.audit.models import AuditEvent
from idp.authn.card.models import ActivationMethod, CardActivation, CardDevice
from idp.oidc import sessions
from tests.accounts.factories import make_professional, rpps
from tests.authn.card.helpers import FakePhone, enrol
from tests.authn.card.test_activation import complete_with_code

pytestmark = pytest.mark.django_db

PAGE = "/account/card/"
ACTIVATE = PAGE + "activate"


@pytest.fixture
def holder():
    return make_professional("8" + rpps(21), family_name="MOREAU", given_names="LUCIE")


def log_in(client, professional, amr=("pop", "pin", "mfa")):
    session = sessions.start(
        None, professional=professional, acr="eidas2", amr=list(amr), auth_mode="MOBILE"
    )
    response = HttpResponse()
    sessions.set_cookie(response, session)
    client.cookies[sessions.COOKIE_NAME] = response.cookies[sessions.COOKIE_NAME].value
    return session


def activation_code(page: str) -> str:
    found = re.search(r'class="activation-code">([A-Z2-7-]+)<', page)
    assert found, "no activation code on the page"
    return found.group(1)


def test_without_a_session_the_page_explains(client):
    response = client.get(PAGE, HTTP_ACCEPT_LANGUAGE="fr")
    assert response.status_code == 403
    page = unescape(response.content.decode())
    assert "connectez-vous d’abord" in page  # noqa: RUF001
    assert "application carte ou avec une clé de sécurité" in page
    assert "<svg" not in page and "activate" not in page


def test_the_explanation_in_english(client):
    response = client.get(PAGE, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 403
    assert "first sign in with the card app or with a security key" in response.content.decode()


@pytest.mark.parametrize("amr", [("otp",), ("pwd",), ("test",)])
def test_a_weak_session_cannot_use_the_page(client, holder, amr):
    log_in(client, holder, amr)
    enrol(holder)
    assert client.get(PAGE).status_code == 403
    response = client.post(ACTIVATE)
    assert response.status_code == 403
    assert not CardActivation.objects.exists()


@pytest.mark.parametrize("amr", [("pop", "pin", "mfa"), ("hwk", "user", "mfa"), ("swk",)])
def test_a_strong_session_lists_the_devices(client, holder, amr):
    log_in(client, holder, amr)
    enrol(holder, name="Téléphone pro")
    revoked, _ = enrol(holder, name="Ancien")
    CardDevice.objects.filter(pk=revoked.pk).update(revoked_at=revoked.created_at)
    enrol(make_professional("8" + rpps(22)), name="Pas le mien")
    response = client.get(PAGE, HTTP_ACCEPT_LANGUAGE="fr")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    page = unescape(response.content.decode())
    assert "Téléphone pro" in page and "Ancien" in page
    assert "Pas le mien" not in page
    assert "révoqué" in page
    assert page.count('class="danger"') == 1  # only the usable device has a revoke button
    assert "Activer un nouvel appareil" in page
    assert "csrfmiddlewaretoken" in page


def test_an_ended_session_is_not_enough(client, holder):
    session = log_in(client, holder)
    sessions.end(session, "logout")
    assert client.get(PAGE).status_code == 403


def test_the_qr_activation_end_to_end(client, holder):
    log_in(client, holder)
    response = client.post(ACTIVATE, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    page = unescape(response.content.decode())
    assert "<svg" in page and 'class="segno"' in page
    assert "<script" not in page
    assert "Scan this QR code" in page and "90 seconds" in page
    code = activation_code(page)
    stored = CardActivation.objects.get()
    assert stored.method == ActivationMethod.SESSION_QR
    assert stored.created_by == f"professional:{holder.sub}"
    event = AuditEvent.objects.filter(tag="authn:card:activation_started").last()
    assert event.data["method"] == "session_qr"
    assert code not in str(event.data)
    # The phone scans it (the code is in the QR's URI) and enrols.
    phone = FakePhone()
    done = complete_with_code(Client(), phone, code)
    assert done.status_code == 201, done.content
    assert CardDevice.objects.get(kid=phone.kid).professional == holder
    # The page now lists it.
    assert "Mon téléphone" in unescape(client.get(PAGE).content.decode())


def test_activation_needs_csrf(holder):
    browser = Client(enforce_csrf_checks=True)
    log_in(browser, holder)
    response = browser.post(ACTIVATE)
    assert response.status_code == 403
    assert not CardActivation.objects.exists()


def test_activation_is_post_only(client, holder):
    log_in(client, holder)
    assert client.get(ACTIVATE).status_code == 405
    assert not CardActivation.objects.exists()


def test_revoke_from_the_page(client, holder):
    log_in(client, holder)
    device, phone = enrol(holder, name="Perdu")
    response = client.post(f"{PAGE}devices/{device.kid}/revoke")
    assert response.status_code == 303
    assert response["Location"] == PAGE + "?done=revoked"
    device.refresh_from_db()
    assert device.revoked_at is not None and device.revoked_reason == "holder_portal"
    event = AuditEvent.objects.get(tag="authn:card:device_revoked")
    assert event.actor == f"professional:{holder.sub}"
    assert phone.call(client, "GET", "device").status_code == 403
    assert "revoked" in client.get(response["Location"], HTTP_ACCEPT_LANGUAGE="en").content.decode()


def test_another_holders_device_cannot_be_revoked(client, holder):
    log_in(client, holder)
    theirs, _ = enrol(make_professional("8" + rpps(22)))
    response = client.post(f"{PAGE}devices/{theirs.kid}/revoke")
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None
    assert not AuditEvent.objects.filter(tag="authn:card:device_revoked").exists()


def test_revoke_needs_a_strong_session(client, holder):
    device, _ = enrol(holder)
    log_in(client, holder, ("otp",))
    assert client.post(f"{PAGE}devices/{device.kid}/revoke").status_code == 403
    device.refresh_from_db()
    assert device.revoked_at is None
