"""RFC 6749 §3.1: "Parameters sent without a value MUST be treated as if they were omitted from
the request." Empty token-endpoint parameters are absent ones, through HTTP."""

from __future__ import annotations

import pytest

from tests.oidc.factories import make_client, make_doctor_with_two_activities
from tests.oidc.grant_helpers import exchange, make_code, make_session, refresh

pytestmark = pytest.mark.django_db


@pytest.fixture
def rp():
    return make_client()


@pytest.fixture
def session():
    return make_session(make_doctor_with_two_activities())


def test_empty_scope_at_refresh_keeps_the_granted_scope(client, rp, session):
    model, secret = rp
    first = exchange(client, model.client_id, secret, make_code(model.client_id, session)).json()
    response = refresh(client, model.client_id, secret, first["refresh_token"], scope="")
    assert response.status_code == 200, response.content
    assert response.json()["scope"] == "openid scope_all"


def test_empty_code_verifier_without_pkce_is_no_verifier(client, session):
    model, secret = make_client(require_pkce=False)
    code = make_code(model.client_id, session, verifier=None)
    response = exchange(client, model.client_id, secret, code, code_verifier="")
    assert response.status_code == 200, response.content


def test_empty_code_verifier_with_pkce_is_still_refused(client, rp, session):
    model, secret = rp
    code = make_code(model.client_id, session)
    response = exchange(client, model.client_id, secret, code, code_verifier="")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
