"""Token introspection (RFC 7662) through HTTP, with PSC's response fields."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from idp.accounts import services
from idp.audit.models import AuditEvent
from idp.oidc import revocation, sessions, tokens
from idp.oidc.models import SsoSession
from relying_parties.models import Client
from relying_parties.registry import get_client
from tests.oidc.factories import make_client, make_doctor_with_two_activities
from tests.oidc.grant_helpers import form_post, refresh
from tests.oidc.issued import basic, issue

pytestmark = pytest.mark.django_db

URL = "/auth/realms/esante-wallet/protocol/openid-connect/token/introspect"
INACTIVE = {"active": False}


@pytest.fixture
def doctor():
    return make_doctor_with_two_activities()


@pytest.fixture
def rp():
    return make_client(client_id="dmp")


@pytest.fixture
def api():
    """A resource server: a confidential client of its own."""
    return make_client(client_id="api-dmp", grant_types=["client_credentials"])


def _introspect(client, credentials, token, **extra):
    client_id, secret = credentials[0].client_id, credentials[1]
    return form_post(
        client, URL, {"token": token, **extra}, HTTP_AUTHORIZATION=basic(client_id, secret)
    )


def test_active_access_token_has_exactly_the_psc_fields(client, doctor, rp):
    issued = issue(rp[0], doctor, auth_mode="CARD")
    response = _introspect(client, rp, issued.access_token)
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    psc = {
        "active", "client_id", "username", "scope", "exp", "iat", "sub", "acr",
        "SubjectNameID", "authMode", "otherIds",
    }  # fmt: skip
    assert psc <= set(body)
    assert set(body) - psc <= {"token_type", "iss", "aud", "jti", "sid", "auth_time", "cnf"}
    assert body["active"] is True
    assert body["client_id"] == "dmp"
    assert body["username"] == body["SubjectNameID"] == doctor.id_nat
    assert body["sub"] == doctor.sub
    assert body["scope"] == "openid scope_all"
    assert body["acr"] == "eidas1"
    assert body["authMode"] == "CARD"
    assert {"identifiant": doctor.id_nat, "origine": "RPPS", "qualite": 1} in body["otherIds"]
    assert body["sid"] == issued.session.sid


def test_resource_server_may_introspect_another_clients_access_token(client, doctor, rp, api):
    issued = issue(rp[0], doctor)
    body = _introspect(client, api, issued.access_token).json()
    assert body["active"] is True
    assert body["client_id"] == "dmp"


def test_public_client_cannot_introspect_another_clients_token(client, doctor, rp):
    make_client(client_id="public-app", token_endpoint_auth_method=Client.AuthMethod.NONE)
    issued = issue(rp[0], doctor)
    response = form_post(client, URL, {"token": issued.access_token, "client_id": "public-app"})
    # Either refused as a client (no credentials) or told nothing.
    assert response.status_code in (200, 401)
    if response.status_code == 200:
        assert response.json() == INACTIVE
    else:
        assert response.json()["error"] == "invalid_client"


def test_active_refresh_token(client, doctor, rp):
    issued = issue(rp[0], doctor)
    body = _introspect(client, rp, issued.refresh_token, token_type_hint="refresh_token").json()
    assert body["active"] is True
    assert body["client_id"] == "dmp"
    assert body["username"] == doctor.id_nat
    assert body["sub"] == doctor.sub
    assert body["token_type"] == "refresh_token"


def test_hint_is_only_a_hint(client, doctor, rp):
    issued = issue(rp[0], doctor)
    wrong_hint = _introspect(client, rp, issued.access_token, token_type_hint="refresh_token")
    assert wrong_hint.json()["active"] is True
    other_hint = _introspect(client, rp, issued.refresh_token, token_type_hint="access_token")
    assert other_hint.json()["active"] is True
    unknown_hint = _introspect(client, rp, issued.access_token, token_type_hint="banana")
    assert unknown_hint.json()["active"] is True


def test_refresh_token_of_another_client_is_inactive(client, doctor, rp, api):
    issued = issue(rp[0], doctor)
    assert _introspect(client, api, issued.refresh_token).json() == INACTIVE


@pytest.mark.parametrize("token", ["unknown", "a.b.c", "x" * 5000])
def test_unknown_token_is_exactly_inactive(client, rp, token):
    assert _introspect(client, rp, token).json() == INACTIVE


def test_revoked_grant_is_inactive(client, doctor, rp):
    issued = issue(rp[0], doctor)
    revocation.revoke_grant(issued.grant_id, "test")
    assert _introspect(client, rp, issued.access_token).json() == INACTIVE
    assert _introspect(client, rp, issued.refresh_token).json() == INACTIVE


def test_ended_session_is_inactive(client, doctor, rp):
    issued = issue(rp[0], doctor)
    sessions.end(issued.session, "logout")
    assert _introspect(client, rp, issued.refresh_token).json() == INACTIVE


def test_refresh_token_of_an_idle_session_is_inactive(client, doctor, rp, settings):
    # The token endpoint refuses it (idle limit passed): introspection must not call it active.
    issued = issue(rp[0], doctor)
    idle = timedelta(seconds=settings.IDP_SSO_SESSION_IDLE_SECONDS + 60)
    SsoSession.objects.filter(pk=issued.session.pk).update(last_active_at=timezone.now() - idle)
    assert _introspect(client, rp, issued.refresh_token).json() == INACTIVE
    response = refresh(client, "dmp", rp[1], issued.refresh_token)
    assert response.json()["error"] == "invalid_grant"


def test_expired_access_token_is_inactive(client, doctor, rp):
    issued = issue(rp[0], doctor)
    old = tokens.issue_access_token(
        client=get_client("dmp"),
        scope="openid",
        professional=tokens.load_professional(doctor.pk),
        gid=issued.grant_id,
        sid=issued.session.sid,
        now=int(time.time()) - 3600,
    )
    assert _introspect(client, rp, old.value).json() == INACTIVE


def test_suspended_professionals_refresh_token_is_inactive(client, doctor, rp):
    issued = issue(rp[0], doctor)
    services.suspend(doctor, by="admin:alice", reason="Enquête")
    assert _introspect(client, rp, issued.refresh_token).json() == INACTIVE


def test_id_token_is_not_an_access_token(client, doctor, rp):
    issued = issue(rp[0], doctor)
    assert _introspect(client, rp, issued.id_token).json() == INACTIVE


def test_wrong_secret_is_invalid_client(client, doctor, rp):
    issued = issue(rp[0], doctor)
    before = AuditEvent.objects.exclude(tag="oidc:client:auth_failed").count()
    response = form_post(
        client, URL, {"token": issued.access_token}, HTTP_AUTHORIZATION=basic("dmp", "wrong")
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert "active" not in response.json()
    assert AuditEvent.objects.exclude(tag="oidc:client:auth_failed").count() == before


def test_no_client_authentication_is_invalid_client(client, doctor, rp):
    issued = issue(rp[0], doctor)
    response = form_post(client, URL, {"token": issued.access_token})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_missing_token_is_invalid_request(client, rp):
    response = form_post(client, URL, {}, HTTP_AUTHORIZATION=basic("dmp", rp[1]))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_get_is_not_allowed(client):
    assert client.get(URL).status_code == 405


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("token=a&token=b", "application/x-www-form-urlencoded"),  # RFC 6749 §3.2: once each
        ('{"token": "a"}', "application/json"),
        ("token=" + "a" * 20_000, "application/x-www-form-urlencoded"),
    ],
)
def test_malformed_bodies_are_invalid_request(client, rp, body, content_type):
    model, secret = rp
    response = client.post(
        URL, body, content_type=content_type, HTTP_AUTHORIZATION=basic(model.client_id, secret)
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
