"""Authorize in a browser (real authorization endpoint, test login), then use the token endpoint.

Engineer B's flow helper drives the login; everything after the callback is the token endpoint's.
"""

from __future__ import annotations

import pytest
from django.test import Client as BrowserClient

from idp.oidc import jwt, tokens
from idp.oidc.models import SsoSession
from tests.oidc.factories import REDIRECT_URI, make_client, make_doctor_with_two_activities
from tests.oidc.flows import authorize_and_get_code
from tests.oidc.grant_helpers import VERIFIER, basic, post_token, refresh

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _test_login(settings):
    settings.IDP_TEST_LOGIN = True


def test_login_code_tokens_refresh(client):
    model, secret = make_client()
    doctor = make_doctor_with_two_activities()
    browser = BrowserClient()
    code, _, _ = authorize_and_get_code(
        browser, model, doctor, nonce="abc123", code_verifier=VERIFIER
    )
    response = post_token(
        client,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": VERIFIER,
        },
        auth=basic(model.client_id, secret),
    )
    assert response.status_code == 200, response.content
    body = response.json()
    session = SsoSession.objects.get()
    id_token = jwt.verify(body["id_token"])
    assert id_token["nonce"] == "abc123"
    assert id_token["sub"] == doctor.sub
    assert id_token["sid"] == session.sid == body["session_state"]
    assert id_token["acr"] == session.acr
    access = tokens.validate_access_token(body["access_token"])
    assert access.sid == session.sid
    assert access.claims["authMode"] == session.auth_mode

    again = post_token(
        client,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": VERIFIER,
        },
        auth=basic(model.client_id, secret),
    )
    assert (again.status_code, again.json()["error"]) == (400, "invalid_grant")
    assert refresh(client, model.client_id, secret, body["refresh_token"]).status_code == 400


def test_ending_the_session_kills_access_and_refresh_tokens(client):
    from idp.oidc import sessions

    model, secret = make_client()
    doctor = make_doctor_with_two_activities()
    code, _, _ = authorize_and_get_code(BrowserClient(), model, doctor, code_verifier=VERIFIER)
    body = post_token(
        client,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": VERIFIER,
        },
        auth=basic(model.client_id, secret),
    ).json()
    tokens.validate_access_token(body["access_token"])
    sessions.end(SsoSession.objects.get(), "test")
    with pytest.raises(tokens.InvalidToken):
        tokens.validate_access_token(body["access_token"])
    response = refresh(client, model.client_id, secret, body["refresh_token"])
    assert (response.status_code, response.json()["error"]) == (400, "invalid_grant")
