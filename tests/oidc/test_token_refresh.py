"""Token endpoint, refresh_token grant (RFC 6749 §6; rotation: OAuth 2.0 Security BCP §4.14)."""

from __future__ import annotations

import threading
from datetime import timedelta
from urllib.parse import quote

import pytest
from django.db import connection
from django.test import Client as HttpClient
from django.utils import timezone

from idp.audit.models import AuditEvent
from idp.audit.tags import EventTag
from idp.oidc import jwt, tokens
from idp.oidc.models import RefreshToken, RevokedGrant
from idp.oidc.protocol.errors import InvalidToken
from relying_parties.models import Client
from tests.oidc.factories import make_client, make_doctor_with_two_activities
from tests.oidc.grant_helpers import (
    basic,
    db_state,
    exchange,
    make_code,
    make_session,
    post_token,
    refresh,
    refresh_row,
)
from tests.oidc.test_client_auth import self_signed

pytestmark = pytest.mark.django_db


@pytest.fixture
def rp():
    return make_client()


@pytest.fixture
def session():
    return make_session(make_doctor_with_two_activities())


def _login(http, rp, session, **code_kwargs) -> dict:
    model, secret = rp
    response = exchange(
        http, model.client_id, secret, make_code(model.client_id, session, **code_kwargs)
    )
    assert response.status_code == 200, response.content
    return response.json()


def _valid(access_token: str) -> bool:
    try:
        tokens.validate_access_token(access_token)
    except InvalidToken:
        return False
    return True


def test_refresh_rotates_the_token(client, rp, session):
    model, secret = rp
    first = _login(client, rp, session)
    response = refresh(client, model.client_id, secret, first["refresh_token"])
    assert response.status_code == 200, response.content
    second = response.json()
    assert list(second) == list(first)
    assert second["refresh_token"] != first["refresh_token"]
    assert second["session_state"] == session.sid
    old, new = refresh_row(first["refresh_token"]), refresh_row(second["refresh_token"])
    assert old.rotated_at is not None and old.revoked_at is None
    assert new.parent_id == old.pk and new.grant_id == old.grant_id
    claims = jwt.verify(second["access_token"])
    assert claims["gid"] == old.grant_id
    id_token = jwt.verify(second["id_token"])
    assert id_token["auth_time"] == int(session.auth_time.timestamp())
    assert "nonce" not in id_token
    # Routine rotations stay out of the journal (its chain lock is off the refresh path).
    assert not AuditEvent.objects.filter(tag__startswith="oidc:refresh").exists()


def test_reuse_of_a_rotated_token_revokes_the_family(client, rp, session):
    model, secret = rp
    first = _login(client, rp, session)
    second = refresh(client, model.client_id, secret, first["refresh_token"]).json()
    assert _valid(second["access_token"])

    response = refresh(client, model.client_id, secret, first["refresh_token"])
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    grant_id = refresh_row(first["refresh_token"]).grant_id
    assert RevokedGrant.objects.filter(grant_id=grant_id, reason="refresh_reused").exists()
    assert not RefreshToken.objects.filter(grant_id=grant_id, revoked_at__isnull=True).exists()
    # The legitimate holder's current tokens die with the family.
    assert not _valid(second["access_token"])
    assert not _valid(first["access_token"])
    assert refresh(client, model.client_id, secret, second["refresh_token"]).status_code == 400
    assert AuditEvent.objects.filter(tag=EventTag.OIDC_REFRESH_REUSED).count() == 1


def test_other_families_are_untouched_by_a_reuse(client, rp, session):
    model, secret = rp
    victim = _login(client, rp, session)
    bystander = _login(client, rp, session)
    refresh(client, model.client_id, secret, victim["refresh_token"])
    refresh(client, model.client_id, secret, victim["refresh_token"])
    assert _valid(bystander["access_token"])
    assert refresh(client, model.client_id, secret, bystander["refresh_token"]).status_code == 200


def test_scope_may_be_narrowed(client, rp, session):
    model, secret = rp
    first = _login(client, rp, session)
    response = refresh(client, model.client_id, secret, first["refresh_token"], scope="scope_all")
    body = response.json()
    assert body["scope"] == "scope_all"
    assert "id_token" not in body
    assert jwt.verify(body["access_token"])["scope"] == "scope_all"
    # The successor keeps the grant's full scope (RFC 6749 §6).
    assert refresh_row(body["refresh_token"]).scope == "openid scope_all"
    again = refresh(client, model.client_id, secret, body["refresh_token"]).json()
    assert again["scope"] == "openid scope_all"


def test_scope_may_not_be_widened(client, rp, session):
    model, secret = rp
    first = _login(client, rp, session, scope="openid")
    before = db_state()
    response = refresh(
        client, model.client_id, secret, first["refresh_token"], scope="openid scope_all"
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"
    assert db_state() == before


def test_refresh_by_another_client_is_refused(client, rp, session):
    first = _login(client, rp, session)
    other, other_secret = make_client()
    before = db_state()
    response = refresh(client, other.client_id, other_secret, first["refresh_token"])
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert db_state() == before


def test_expired_refresh_token(client, rp, session):
    model, secret = rp
    first = _login(client, rp, session)
    RefreshToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    before = db_state()
    response = refresh(client, model.client_id, secret, first["refresh_token"])
    assert (response.status_code, response.json()["error"]) == (400, "invalid_grant")
    assert db_state() == before


def test_unknown_and_missing_refresh_token(client, rp, session):
    model, secret = rp
    _login(client, rp, session)
    before = db_state()
    response = refresh(client, model.client_id, secret, "nope")
    assert (response.status_code, response.json()["error"]) == (400, "invalid_grant")
    response = post_token(
        client, {"grant_type": "refresh_token"}, auth=basic(model.client_id, secret)
    )
    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")
    assert db_state() == before


def test_refresh_after_the_session_ended(client, rp, session):
    model, secret = rp
    first = _login(client, rp, session)
    session.ended_at = timezone.now()
    session.save(update_fields=["ended_at"])
    before = db_state()
    response = refresh(client, model.client_id, secret, first["refresh_token"])
    assert (response.status_code, response.json()["error"]) == (400, "invalid_grant")
    assert db_state() == before


def test_refresh_never_outlives_the_session(client, session):
    model, secret = make_client(refresh_token_lifetime=86_400)
    session.expires_at = timezone.now() + timedelta(seconds=600)
    session.save(update_fields=["expires_at"])
    first = _login(client, (model, secret), session)
    assert first["refresh_expires_in"] <= 600
    second = refresh(client, model.client_id, secret, first["refresh_token"]).json()
    assert second["refresh_expires_in"] <= 600
    assert refresh_row(second["refresh_token"]).expires_at <= session.expires_at


def test_refresh_of_a_certificate_bound_token_needs_the_same_certificate(client, settings, session):
    settings.IDP_TLS_CLIENT_CERT_HEADER = "X-SSL-Client-Cert"
    subject = "CN=DMP Service,O=Caducee Test,C=FR"
    model, _ = make_client(
        token_endpoint_auth_method=Client.AuthMethod.TLS_CLIENT_AUTH,
        tls_client_auth_subject_dn=subject,
    )
    pem, thumb = self_signed(subject)
    other_pem, _ = self_signed(subject)  # same subject, another key: another certificate
    code = make_code(model.client_id, session)
    data = {
        "grant_type": "authorization_code",
        "code": code.value,
        "redirect_uri": code.row.redirect_uri,
        "code_verifier": code.verifier,
        "client_id": model.client_id,
    }
    body = post_token(client, data, HTTP_X_SSL_CLIENT_CERT=quote(pem)).json()
    assert jwt.verify(body["access_token"])["cnf"] == {"x5t#S256": thumb}
    assert refresh_row(body["refresh_token"]).cnf_x5t_s256 == thumb

    again = {
        "grant_type": "refresh_token",
        "refresh_token": body["refresh_token"],
        "client_id": model.client_id,
    }
    before = db_state()
    refused = post_token(client, again, HTTP_X_SSL_CLIENT_CERT=quote(other_pem))
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_grant")
    assert db_state() == before
    ok = post_token(client, again, HTTP_X_SSL_CLIENT_CERT=quote(pem))
    assert ok.status_code == 200, ok.content
    assert jwt.verify(ok.json()["access_token"])["cnf"] == {"x5t#S256": thumb}


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs concurrent connections to one database: run with DATABASE_URL=postgres://…; "
    "SQLite serialises writers with BEGIN IMMEDIATE, there is no race to observe",
)
def test_two_parallel_uses_of_one_token_exactly_one_wins_then_the_family_dies():
    model, secret = make_client()
    session = make_session(make_doctor_with_two_activities())
    first = _login(HttpClient(), (model, secret), session)
    barrier = threading.Barrier(2)
    results: list[int] = []
    lock = threading.Lock()

    def use() -> None:
        try:
            http = HttpClient()
            barrier.wait()
            response = refresh(http, model.client_id, secret, first["refresh_token"])
            with lock:
                results.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=use) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [200, 400]
    grant_id = refresh_row(first["refresh_token"]).grant_id
    assert RevokedGrant.objects.filter(grant_id=grant_id).exists()
    assert RefreshToken.objects.filter(grant_id=grant_id).count() == 2
    assert not RefreshToken.objects.filter(grant_id=grant_id, revoked_at__isnull=True).exists()
