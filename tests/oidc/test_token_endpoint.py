"""The token endpoint as an HTTP resource (RFC 6749 §3.2, §5): method, body, parameters."""

from __future__ import annotations

import pytest

from idp.oidc.models import AuthorizationCode
from tests.oidc.factories import make_client, make_doctor_with_two_activities
from tests.oidc.grant_helpers import (
    FORM,
    basic,
    db_state,
    make_code,
    make_session,
    post_token,
    token_url,
)

pytestmark = pytest.mark.django_db


def _error(response) -> tuple[int, str]:
    assert response["Cache-Control"] == "no-store"
    return response.status_code, response.json()["error"]


def test_get_is_refused(client):
    response = client.get(token_url())
    assert _error(response) == (405, "invalid_request")
    assert response["Allow"] == "POST"


def test_json_body_is_refused(client):
    model, secret = make_client()
    response = client.post(
        token_url(),
        {"grant_type": "client_credentials"},
        content_type="application/json",
        HTTP_AUTHORIZATION=basic(model.client_id, secret),
    )
    assert _error(response) == (400, "invalid_request")


def test_multipart_body_is_refused(client):
    model, secret = make_client()
    response = client.post(
        token_url(),
        {"grant_type": "client_credentials"},
        HTTP_AUTHORIZATION=basic(model.client_id, secret),
    )
    assert _error(response) == (400, "invalid_request")


def test_repeated_parameter_is_refused(client):
    model, secret = make_client()
    session = make_session(make_doctor_with_two_activities())
    code = make_code(model.client_id, session)
    body = (
        f"grant_type=authorization_code&code={code.value}&code={code.value}"
        f"&redirect_uri={code.row.redirect_uri}&code_verifier={code.verifier}"
    )
    before = db_state()
    response = client.post(
        token_url(), body, content_type=FORM, HTTP_AUTHORIZATION=basic(model.client_id, secret)
    )
    assert _error(response) == (400, "invalid_request")
    assert db_state() == before
    assert AuthorizationCode.objects.get().consumed_at is None


def test_oversized_body_is_refused(client):
    model, secret = make_client()
    response = post_token(
        client,
        {"grant_type": "client_credentials", "scope": "x" * 20_000},
        auth=basic(model.client_id, secret),
    )
    assert _error(response) == (400, "invalid_request")


def test_missing_grant_type(client):
    model, secret = make_client()
    response = post_token(client, {}, auth=basic(model.client_id, secret))
    assert _error(response) == (400, "invalid_request")


def test_unsupported_grant_type(client):
    model, secret = make_client()
    response = post_token(client, {"grant_type": "password"}, auth=basic(model.client_id, secret))
    assert _error(response) == (400, "unsupported_grant_type")


def test_grant_type_not_registered_for_the_client(client):
    model, secret = make_client(grant_types=["authorization_code"])
    response = post_token(
        client, {"grant_type": "client_credentials"}, auth=basic(model.client_id, secret)
    )
    assert _error(response) == (400, "unauthorized_client")


def test_client_authentication_comes_before_the_grant(client):
    response = post_token(client, {"grant_type": "password"}, auth=basic("nobody", "x"))
    assert _error(response) == (401, "invalid_client")
    assert response["WWW-Authenticate"].startswith("Basic realm=")


def test_clean_alias_serves_the_same_endpoint(client):
    model, secret = make_client()
    response = client.post(
        "/oidc/token",
        "grant_type=client_credentials",
        content_type=FORM,
        HTTP_AUTHORIZATION=basic(model.client_id, secret),
    )
    assert response.status_code == 200
    assert response["Pragma"] == "no-cache"
