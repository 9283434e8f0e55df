"""The test-only login method: enabled by IDP_TEST_LOGIN only, CSRF-protected, bilingual errors."""

from __future__ import annotations

import pytest
from django.test import Client as BrowserClient

from idp.accounts import services
from idp.oidc.models import SsoSession
from tests.oidc.factories import make_client, make_professional
from tests.oidc.flows import (
    AUTHORIZE_PATH,
    REDIRECT_URI,
    authorize_params,
    login_location,
    state_snapshot,
)

pytestmark = pytest.mark.django_db

VERIFIER = "dBjftJeZ4CVP-mJ92K9CCFvZ0TqGX4bX2Pj4lqu1y6ZfGhAkXj"


@pytest.fixture
def pro():
    return make_professional()


def _login_path(browser, **extra) -> str:
    rp = make_client()[0]
    params = authorize_params(rp, code_verifier=VERIFIER, extra=extra)
    return login_location(browser.get(AUTHORIZE_PATH, params))


def test_disabled_by_default_404(client, pro, settings):
    settings.IDP_TEST_LOGIN = False
    login = _login_path(client)
    page = client.get(login)
    # The card app's form has an id_nat field too: the test form is the one with an acr choice.
    assert page.status_code == 200 and b'name="acr"' not in page.content
    before = state_snapshot()
    response = client.post(login, {"id_nat": pro.id_nat, "acr": "eidas1"})
    assert response.status_code == 404
    assert state_snapshot() == before


def test_form_shown_with_login_hint(client, pro, settings):
    settings.IDP_TEST_LOGIN = True
    page = client.get(_login_path(client, login_hint=pro.id_nat))
    assert page.status_code == 200
    body = page.content.decode()
    assert f'value="{pro.id_nat}"' in body
    assert 'name="csrfmiddlewaretoken"' in body
    for acr in ("eidas1", "eidas2", "eidas3"):
        assert f'value="{acr}"' in body


def test_login_records_test_amr_and_auth_mode(client, pro, settings):
    settings.IDP_TEST_LOGIN = True
    login = _login_path(client)
    response = client.post(login, {"id_nat": pro.id_nat, "acr": "eidas3"})
    assert response.status_code == 302
    assert response["Location"].startswith(REDIRECT_URI + "?code=")  # the client, at once
    session = SsoSession.objects.get()
    assert (session.professional, session.acr, session.amr, session.auth_mode) == (
        pro,
        "eidas3",
        ["test"],
        "TEST",
    )


@pytest.mark.parametrize(
    ("id_nat", "acr", "english", "french"),
    [
        ("899999999999", "eidas1", "No active professional", "Aucun professionnel actif"),
        ("", "eidas1", "Enter a national identifier", "Saisissez un identifiant national"),
        (None, "eidas9", "Choose one of the offered", "Choisissez un niveau"),
    ],
)
def test_errors_on_the_page(client, pro, settings, id_nat, acr, english, french):
    settings.IDP_TEST_LOGIN = True
    id_nat = pro.id_nat if id_nat is None else id_nat
    for ui_locales, text in (("en", english), ("fr", french)):
        login = _login_path(client, ui_locales=ui_locales)
        before = state_snapshot()
        response = client.post(login, {"id_nat": id_nat, "acr": acr})
        assert response.status_code == 400
        assert text.encode() in response.content
        assert state_snapshot() == before


def test_inactive_professional_refused(client, pro, settings):
    settings.IDP_TEST_LOGIN = True
    services.suspend(pro, by="admin:alice", reason="x")
    login = _login_path(client, ui_locales="fr")
    before = state_snapshot()
    response = client.post(login, {"id_nat": pro.id_nat, "acr": "eidas1"})
    assert response.status_code == 400
    assert "Ce compte est suspendu ou désactivé.".encode() in response.content
    assert state_snapshot() == before


def test_csrf_protected(pro, settings):
    settings.IDP_TEST_LOGIN = True
    browser = BrowserClient(enforce_csrf_checks=True)
    login = _login_path(browser)
    before = state_snapshot()
    response = browser.post(login, {"id_nat": pro.id_nat, "acr": "eidas1"})
    assert response.status_code == 403
    assert state_snapshot() == before
    # With the token from the page it works.
    page = browser.get(login)
    token = page.context["csrf_token"]
    response = browser.post(
        login, {"id_nat": pro.id_nat, "acr": "eidas1", "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302


def test_other_methods_not_allowed(client, settings):
    settings.IDP_TEST_LOGIN = True
    assert client.put(_login_path(client)).status_code == 405


def test_acr_defaults_to_the_requested_level(client, pro, settings):
    settings.IDP_TEST_LOGIN = True
    login = _login_path(client, acr_values="eidas2")
    assert client.post(login, {"id_nat": pro.id_nat}).status_code == 302
    assert SsoSession.objects.get().acr == "eidas2"
