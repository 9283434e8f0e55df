"""Access and ID tokens (idp.oidc.tokens): claims, one-query loading, validation."""

from __future__ import annotations

import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from idp.oidc import jwt, revocation, sessions, tokens
from idp.oidc.protocol.errors import InvalidToken
from relying_parties.registry import get_client
from tests.oidc.factories import make_client, make_doctor_with_two_activities, make_professional
from tests.oidc.grant_helpers import make_session

pytestmark = pytest.mark.django_db


@pytest.fixture
def registered():
    model, _ = make_client()
    return get_client(model.client_id)


@pytest.fixture
def doctor():
    return make_doctor_with_two_activities()


def _access(registered, professional, session, **kwargs):
    return tokens.issue_access_token(
        client=registered,
        scope="openid scope_all",
        professional=tokens.load_professional(professional.pk),
        gid="grant-1",
        sid=session.sid,
        auth_time=session.auth_time,
        acr="eidas1",
        auth_mode="MOBILE",
        **kwargs,
    )


def test_professional_claims_in_one_query(doctor):
    with CaptureQueriesContext(connection) as queries:
        claims = tokens.load_professional(doctor.pk)
    assert len(queries.captured_queries) == 1
    assert claims.sub == doctor.sub and claims.id_nat == doctor.id_nat
    assert (claims.given_name, claims.family_name) == ("JEAN", "MARTIN")
    assert [o["origine"] for o in claims.other_ids] == ["RPPS", "ADELI"]
    assert claims.is_active


def test_names_fall_back_to_civil_names_without_exercice():
    person = make_professional(family_name="DURAND", given_names="ALICE'MARIE")
    claims = tokens.load_professional(person.pk)
    assert (claims.given_name, claims.family_name) == ("ALICE", "DURAND")
    assert claims.other_ids == ()
    assert tokens.load_professional(person.pk + 1000) is None


def test_access_token_claims(registered, doctor):
    session = make_session(doctor)
    issued = _access(registered, doctor, session, x5t_s256="abc")
    claims = jwt.verify(issued.value)
    for name in (
        "iss",
        "sub",
        "aud",
        "exp",
        "iat",
        "auth_time",
        "jti",
        "typ",
        "azp",
        "client_id",
        "scope",
        "acr",
        "sid",
        "gid",
        "preferred_username",
        "SubjectNameID",
        "authMode",
        "otherIds",
        "cnf",
    ):
        assert name in claims, name
    assert claims["authMode"] == "MOBILE"
    assert claims["cnf"] == {"x5t#S256": "abc"}


def test_validate_access_token(registered, doctor):
    session = make_session(doctor)
    issued = _access(registered, doctor, session)
    validated = tokens.validate_access_token(issued.value)
    assert validated.sub == doctor.sub
    assert validated.client_id == registered.client_id
    assert validated.gid == "grant-1" and validated.sid == session.sid
    assert validated.scopes == {"openid", "scope_all"}
    assert not validated.is_service_account


def test_id_token_is_not_an_access_token(registered, doctor):
    session = make_session(doctor)
    professional = tokens.load_professional(doctor.pk)
    id_token = tokens.issue_id_token(
        client=registered,
        professional=professional,
        access_token="x",
        nonce="",
        auth_time=session.auth_time,
        acr="eidas1",
        amr=["pin"],
        sid=session.sid,
    )
    with pytest.raises(InvalidToken):
        tokens.validate_access_token(id_token.value)


def test_tampered_expired_and_garbage_tokens(registered, doctor):
    session = make_session(doctor)
    good = _access(registered, doctor, session).value
    head, body, sig = good.split(".")
    with pytest.raises(InvalidToken):
        tokens.validate_access_token(f"{head}.{body}.{sig[:-4]}AAAA")
    with pytest.raises(InvalidToken):
        tokens.validate_access_token("not.a.jwt")
    with pytest.raises(InvalidToken):
        tokens.validate_access_token("")
    old = _access(registered, doctor, session, now=int(time.time()) - 3600).value
    with pytest.raises(InvalidToken):
        tokens.validate_access_token(old)


@pytest.mark.parametrize("how", ["jti", "gid", "sid"])
def test_revoked_tokens_are_refused(registered, doctor, how):
    session = make_session(doctor)
    issued = _access(registered, doctor, session)
    tokens.validate_access_token(issued.value)  # warms the revocation markers
    if how == "jti":
        revocation.revoke_access_token(issued.claims["jti"], issued.claims["exp"])
    elif how == "gid":
        revocation.revoke_grant("grant-1", "test")
    else:
        sessions.end(session, "test")
    with pytest.raises(InvalidToken):
        tokens.validate_access_token(issued.value)


def test_at_hash_matches_the_key_module(registered):
    assert tokens.at_hash("some-access-token") == jwt.at_hash("some-access-token")


def test_professional_claims_are_cached_and_dropped_on_change(doctor, django_assert_num_queries):
    tokens.cached_professional(doctor.pk)
    with django_assert_num_queries(0):
        assert tokens.cached_professional(doctor.pk).id_nat == doctor.id_nat
    from idp.accounts import services

    services.suspend(doctor, by="admin:alice", reason="test")
    assert tokens.cached_professional(doctor.pk).is_active is False
