"""Token endpoint, authorization_code grant (RFC 6749 §4.1.3, OIDC Core §3.1.3), through HTTP."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from idp.audit.models import AuditEvent
from idp.audit.tags import EventTag
from idp.oidc import jwt
from idp.oidc.models import AuthorizationCode, RefreshToken, SessionClient
from relying_parties.models import Client
from tests.oidc.factories import make_client, make_doctor_with_two_activities
from tests.oidc.grant_helpers import (
    NONCE,
    basic,
    db_state,
    exchange,
    jwt_claims,
    jwt_header,
    make_code,
    make_session,
    post_token,
)
from tests.redis_round_trips import redis_round_trips

pytestmark = pytest.mark.django_db

PSC_KEYS = [
    "access_token",
    "expires_in",
    "refresh_expires_in",
    "refresh_token",
    "token_type",
    "id_token",
    "not-before-policy",
    "session_state",
    "scope",
]


@pytest.fixture
def rp():
    return make_client()


@pytest.fixture
def doctor():
    return make_doctor_with_two_activities()


@pytest.fixture
def session(doctor):
    return make_session(doctor)


def test_code_exchange_gives_a_psc_shaped_response(client, rp, doctor, session):
    model, secret = rp
    code = make_code(model.client_id, session)
    response = exchange(client, model.client_id, secret, code)
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    assert response["Pragma"] == "no-cache"
    body = response.json()
    assert list(body) == PSC_KEYS
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 120
    assert body["refresh_expires_in"] == 1800
    assert body["not-before-policy"] == 0
    assert body["session_state"] == session.sid
    assert body["scope"] == "openid scope_all"

    access = jwt.verify(body["access_token"])
    assert jwt_header(body["access_token"])["typ"] == "JWT"
    assert access["typ"] == "Bearer"
    assert access["sub"] == doctor.sub
    assert access["aud"] == access["azp"] == access["client_id"] == model.client_id
    assert access["sid"] == session.sid
    assert access["gid"] == code.row.grant_id
    assert access["preferred_username"] == access["SubjectNameID"] == doctor.id_nat
    assert access["authMode"] == "CARD"
    assert access["acr"] == "eidas1"
    assert access["otherIds"] == [
        {"identifiant": doctor.id_nat, "origine": "RPPS", "qualite": 1},
        {"identifiant": "0012600631", "origine": "ADELI", "qualite": 1},
    ]
    assert access["exp"] - access["iat"] == 120
    assert "cnf" not in access

    id_token = jwt.verify(body["id_token"])
    assert id_token["typ"] == "ID"
    assert id_token["aud"] == model.client_id
    assert id_token["nonce"] == NONCE
    assert id_token["sid"] == session.sid
    assert id_token["amr"] == ["pop", "pin"]
    assert id_token["auth_time"] == int(session.auth_time.timestamp())
    assert id_token["at_hash"] == jwt.at_hash(body["access_token"])
    assert (id_token["given_name"], id_token["family_name"]) == ("JEAN", "MARTIN")
    assert id_token["SubjectNameID"] == doctor.id_nat

    code.row.refresh_from_db()
    assert code.row.consumed_at is not None
    stored = RefreshToken.objects.get()
    assert stored.grant_id == code.row.grant_id
    assert body["refresh_token"] not in stored.token_hash
    assert SessionClient.objects.filter(session=session, client_id=model.client_id).exists()
    event = AuditEvent.objects.filter(tag=EventTag.OIDC_TOKEN_ISSUED).get()
    assert event.data["grant_type"] == "authorization_code"
    assert event.data["client_id"] == model.client_id
    assert body["access_token"] not in str(event.data)
    assert body["refresh_token"] not in str(event.data)


def test_client_secret_post_works_for_a_post_client(client, doctor, session):
    model, secret = make_client(token_endpoint_auth_method=Client.AuthMethod.CLIENT_SECRET_POST)
    code = make_code(model.client_id, session)
    response = post_token(
        client,
        {
            "grant_type": "authorization_code",
            "code": code.value,
            "redirect_uri": code.row.redirect_uri,
            "code_verifier": code.verifier,
            "client_id": model.client_id,
            "client_secret": secret,
        },
    )
    assert response.status_code == 200, response.content


def test_token_algorithms_follow_the_client(client, doctor, session):
    model, secret = make_client(
        id_token_signed_response_alg="ES256", access_token_signed_response_alg="ES256"
    )
    code = make_code(model.client_id, session)
    body = exchange(client, model.client_id, secret, code).json()
    assert jwt_header(body["access_token"])["alg"] == "ES256"
    assert jwt_header(body["id_token"])["alg"] == "ES256"
    other, other_secret = make_client(id_token_signed_response_alg="RS256")
    body = exchange(
        client, other.client_id, other_secret, make_code(other.client_id, session)
    ).json()
    assert jwt_header(body["access_token"])["alg"] == "RS256"
    assert jwt_header(body["id_token"])["alg"] == "RS256"


def test_lifetimes_follow_the_client_and_the_session(client, doctor):
    model, secret = make_client(access_token_lifetime=300, refresh_token_lifetime=7200)
    session = make_session(doctor, expires_at=timezone.now() + timedelta(seconds=900))
    body = exchange(client, model.client_id, secret, make_code(model.client_id, session)).json()
    assert body["expires_in"] == 300
    # The refresh token never outlives the SSO session.
    assert 890 <= body["refresh_expires_in"] <= 900
    claims = jwt_claims(body["access_token"])
    assert claims["exp"] - claims["iat"] == 300


def test_without_openid_scope_there_is_no_id_token(client, rp, session):
    model, secret = rp
    body = exchange(
        client, model.client_id, secret, make_code(model.client_id, session, scope="scope_all")
    ).json()
    assert "id_token" not in body
    assert body["scope"] == "scope_all"


def test_no_refresh_token_for_a_client_without_the_grant(client, session):
    model, secret = make_client(grant_types=["authorization_code"])
    body = exchange(client, model.client_id, secret, make_code(model.client_id, session)).json()
    assert "refresh_token" not in body
    assert body["refresh_expires_in"] == 0
    assert not RefreshToken.objects.exists()


def test_public_client_with_pkce(client, session):
    model, _ = make_client(token_endpoint_auth_method=Client.AuthMethod.NONE)
    code = make_code(model.client_id, session)
    response = post_token(
        client,
        {
            "grant_type": "authorization_code",
            "code": code.value,
            "redirect_uri": code.row.redirect_uri,
            "code_verifier": code.verifier,
            "client_id": model.client_id,
        },
    )
    assert response.status_code == 200, response.content


# --- error paths: exact code and status, nothing else changed ---------------------------------


def _assert_refused(response, error: str, status: int = 400) -> None:
    assert response.status_code == status, response.content
    assert response.json()["error"] == error
    assert response["Cache-Control"] == "no-store"


def test_expired_code(client, rp, session):
    model, secret = rp
    code = make_code(model.client_id, session, expires_in=-1)
    before = db_state()
    _assert_refused(exchange(client, model.client_id, secret, code), "invalid_grant")
    assert db_state() == before


def test_unknown_code(client, rp, session):
    model, secret = rp
    code = make_code(model.client_id, session)
    code.value = "not-a-code"
    before = db_state()
    _assert_refused(exchange(client, model.client_id, secret, code), "invalid_grant")
    assert db_state() == before


def test_wrong_verifier(client, rp, session):
    model, secret = rp
    code = make_code(model.client_id, session)
    before = db_state()
    response = exchange(client, model.client_id, secret, code, code_verifier="x" * 43)
    _assert_refused(response, "invalid_grant")
    assert db_state() == before


def test_missing_verifier(client, rp, session):
    model, secret = rp
    code = make_code(model.client_id, session)
    before = db_state()
    response = exchange(client, model.client_id, secret, code, code_verifier=None)
    _assert_refused(response, "invalid_grant")
    assert db_state() == before


def test_verifier_without_challenge_is_a_downgrade(client, session):
    model, secret = make_client(require_pkce=False)
    code = make_code(model.client_id, session, verifier=None)
    before = db_state()
    response = exchange(client, model.client_id, secret, code, code_verifier="y" * 43)
    _assert_refused(response, "invalid_grant")
    assert db_state() == before


def test_wrong_redirect_uri(client, rp, session):
    model, secret = rp
    code = make_code(model.client_id, session)
    before = db_state()
    response = exchange(
        client, model.client_id, secret, code, redirect_uri="https://rp.example.fr/other"
    )
    _assert_refused(response, "invalid_grant")
    assert db_state() == before


def test_missing_redirect_uri_and_code(client, rp, session):
    model, secret = rp
    code = make_code(model.client_id, session)
    before = db_state()
    _assert_refused(
        post_token(
            client,
            {"grant_type": "authorization_code", "code": code.value},
            auth=basic(model.client_id, secret),
        ),
        "invalid_request",
    )
    _assert_refused(
        post_token(
            client,
            {"grant_type": "authorization_code", "redirect_uri": code.row.redirect_uri},
            auth=basic(model.client_id, secret),
        ),
        "invalid_request",
    )
    assert db_state() == before


def test_ended_session(client, rp, session):
    model, secret = rp
    code = make_code(model.client_id, session)
    session.ended_at = timezone.now()
    session.save(update_fields=["ended_at"])
    before = db_state()
    _assert_refused(exchange(client, model.client_id, secret, code), "invalid_grant")
    assert db_state() == before


def test_suspended_professional(client, rp, doctor, session):
    model, secret = rp
    code = make_code(model.client_id, session)
    doctor.suspended_at = timezone.now()
    doctor.suspended_by = "admin:alice"
    doctor.suspension_reason = "test"
    # Bypass any session-ending hook: the token endpoint must check on its own.
    type(doctor).objects.filter(pk=doctor.pk).update(
        suspended_at=doctor.suspended_at,
        suspended_by="admin:alice",
        suspension_reason="test",
        status="suspended",
    )
    before = db_state()
    _assert_refused(exchange(client, model.client_id, secret, code), "invalid_grant")
    assert db_state() == before


def test_grant_not_allowed_for_client(client, session):
    model, secret = make_client(grant_types=["client_credentials"])
    code = make_code(model.client_id, session)
    before = db_state()
    _assert_refused(exchange(client, model.client_id, secret, code), "unauthorized_client")
    assert db_state() == before
    assert AuthorizationCode.objects.get().consumed_at is None


def test_a_warm_code_exchange_is_one_redis_round_trip(client, rp, doctor, session):
    """The professional's cached claims are read, and the grant's UserInfo claim names written,
    in one pipeline; cold, the professional's claims and document follow in a second one."""
    from django.core.cache import cache

    model, secret = rp
    with redis_round_trips() as cold:
        response = exchange(client, model.client_id, secret, make_code(model.client_id, session))
    assert response.status_code == 200, response.content
    assert cold.names == [["GET", "SET"], ["MULTI", "MSET", "EXPIRE", "EXPIRE", "EXEC"]]
    code = make_code(model.client_id, session)
    AuthorizationCode.objects.filter(pk=code.row.pk).update(claims={"userinfo": {"email": None}})
    with redis_round_trips() as warm:
        response = exchange(client, model.client_id, secret, code)
    assert response.status_code == 200, response.content
    assert warm.names == [["GET", "SET"]]
    assert cache.get(f"oidc:userinfo:claims:v1:{code.row.grant_id}") == ["email"]
