"""Token endpoint, client_credentials grant (RFC 6749 §4.4): service accounts, no writes."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from idp.audit.models import AuditEvent
from idp.oidc import jwt, tokens
from relying_parties import registry
from relying_parties.models import Client
from tests.oidc.factories import make_client
from tests.oidc.grant_helpers import basic, jwt_header, post_token

pytestmark = pytest.mark.django_db

CC = {"grant_type": "client_credentials"}


def test_service_account_token(client):
    model, secret = make_client(allowed_scopes=["openid", "scope_all", "api:read", "api:write"])
    response = post_token(
        client, {**CC, "scope": "api:read openid bogus"}, auth=basic(model.client_id, secret)
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert list(body) == [
        "access_token",
        "expires_in",
        "refresh_expires_in",
        "token_type",
        "not-before-policy",
        "scope",
    ]
    assert body["scope"] == "api:read"  # openid and unknown scopes are dropped, not refused
    assert body["refresh_expires_in"] == 0
    claims = jwt.verify(body["access_token"])
    assert claims["sub"] == claims["client_id"] == claims["azp"] == model.client_id
    assert claims["typ"] == "Bearer"
    assert "sid" not in claims and "gid" not in claims and "SubjectNameID" not in claims
    validated = tokens.validate_access_token(body["access_token"])
    assert validated.is_service_account
    assert validated.scopes == {"api:read"}


def test_default_scope_is_what_the_client_may_have_minus_user_scopes(client):
    model, secret = make_client(allowed_scopes=["openid", "scope_all", "api:read"])
    body = post_token(client, CC, auth=basic(model.client_id, secret)).json()
    assert body["scope"] == "api:read"


def test_no_database_write_and_no_query_once_the_client_is_cached(client):
    model, secret = make_client(access_token_signed_response_alg="ES256")
    registry.get_client(model.client_id)  # warm this worker's client cache
    events = AuditEvent.objects.count()
    with CaptureQueriesContext(connection) as queries:
        response = post_token(client, CC, auth=basic(model.client_id, secret))
    assert response.status_code == 200
    assert jwt_header(response.json()["access_token"])["alg"] == "ES256"
    assert [q["sql"] for q in queries.captured_queries] == []
    assert AuditEvent.objects.count() == events


def test_public_client_is_unauthorized(client):
    model, _ = make_client(token_endpoint_auth_method=Client.AuthMethod.NONE)
    response = post_token(client, {**CC, "client_id": model.client_id})
    assert (response.status_code, response.json()["error"]) == (400, "unauthorized_client")
