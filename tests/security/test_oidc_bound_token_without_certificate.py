"""Attack: replay a certificate-bound access token (RFC 8705 §3) at UserInfo without the
client's certificate (a token stolen from logs or a compromised resource server).

The token carries ``cnf.x5t#S256``; UserInfo must refuse it unless the request presents that
certificate through the trusted proxy. Nothing is changed by the attempt.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from django.conf import settings

from idp.oidc import tokens
from relying_parties.registry import get_client
from tests.oidc.factories import make_client, make_professional
from tests.oidc.grant_helpers import db_state
from tests.oidc.issued import open_session
from tests.oidc.test_client_auth import CERT_HEADER, self_signed

pytestmark = pytest.mark.django_db

USERINFO = f"/auth/realms/{settings.IDP_REALM}/protocol/openid-connect/userinfo"


@pytest.fixture
def bound(settings):
    settings.IDP_TLS_CLIENT_CERT_HEADER = CERT_HEADER
    pem, thumb = self_signed()
    model, _ = make_client()
    professional = make_professional()
    session = open_session(professional)
    access = tokens.issue_access_token(
        client=get_client(model.client_id),
        scope="openid scope_all",
        professional=tokens.load_professional(professional.pk),
        gid="g-bound",
        sid=session.sid,
        auth_time=session.auth_time,
        acr="eidas1",
        auth_mode="CARD",
        x5t_s256=thumb,
    )
    return access.value, pem


def _get(client, token: str, **headers):
    return client.get(USERINFO, HTTP_AUTHORIZATION=f"Bearer {token}", **headers)


def test_bound_token_without_certificate_is_refused(client, bound):
    token, _pem = bound
    before = db_state()
    response = _get(client, token)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert response["Cache-Control"] == "no-store"
    assert db_state() == before


def test_bound_token_with_another_certificate_is_refused(client, bound):
    token, _pem = bound
    other, _ = self_signed()
    response = _get(client, token, HTTP_X_SSL_CLIENT_CERT=quote(other))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


def test_bound_token_with_garbage_certificate_is_refused(client, bound):
    token, _pem = bound
    response = _get(client, token, HTTP_X_SSL_CLIENT_CERT="not-a-certificate")
    assert response.status_code == 401


def test_bound_token_with_its_certificate_is_accepted(client, bound):
    token, pem = bound
    response = _get(client, token, HTTP_X_SSL_CLIENT_CERT=quote(pem))
    assert response.status_code == 200, response.content
    assert response.json()["sub"]


def test_bound_token_certificate_not_believed_from_untrusted_peer(client, bound, settings):
    token, pem = bound
    settings.IDP_TRUSTED_PROXIES = ["10.9.9.9/32"]
    response = _get(client, token, HTTP_X_SSL_CLIENT_CERT=quote(pem))
    assert response.status_code == 401
