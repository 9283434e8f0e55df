"""UserInfo endpoint (OpenID Connect Core 1.0 §5.3, RFC 6750) through HTTP."""

from __future__ import annotations

import time
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet

from idp.accounts import services
from idp.accounts.models import Exercice
from idp.accounts.userinfo import TOP_LEVEL_KEYS
from idp.oidc import revocation, tokens
from idp.oidc.keys import get_keystore
from idp.oidc.models import AuthorizationCode
from relying_parties.registry import get_client
from tests.oidc.factories import (
    REDIRECT_URI,
    make_client,
    make_doctor_with_two_activities,
    make_professional,
    rpps,
)
from tests.oidc.issued import issue
from tests.redis_round_trips import redis_round_trips

pytestmark = pytest.mark.django_db

FORM = "application/x-www-form-urlencoded"
URL = "/auth/realms/esante-wallet/protocol/openid-connect/userinfo"


@pytest.fixture
def doctor():
    return make_doctor_with_two_activities()


@pytest.fixture
def rp():
    client, _secret = make_client(client_id="dmp")
    return client


def _form(**fields: str) -> str:
    return urlencode(fields)


def _bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def _assert_invalid_token(response) -> None:
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert 'error="invalid_token"' in response["WWW-Authenticate"]
    assert response["WWW-Authenticate"].startswith("Bearer ")
    assert response["Cache-Control"] == "no-store"


def test_url_names():
    assert reverse("oidc:userinfo") == URL


def test_scope_all_gives_the_exact_psc_document(client, doctor, rp):
    issued = issue(rp, doctor, scope="openid scope_all", auth_mode="MOBILE")
    response = client.get(URL, **_bearer(issued.access_token))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert tuple(body) == TOP_LEVEL_KEYS
    assert body["sub"] == doctor.sub
    assert body["SubjectNameID"] == doctor.id_nat
    assert body["authMode"] == "MOBILE"
    assert body["Palier_Authentification"] == "APPPRIP3^1.2.250.1.213.1.5.1.1.1"
    assert len(body["SubjectRefPro"]["exercices"]) >= 1
    assert {"identifiant": doctor.id_nat, "origine": "RPPS", "qualite": 1} in body["otherIds"]


def test_post_with_header_and_with_form_body(client, doctor, rp):
    issued = issue(rp, doctor)
    by_header = client.post(URL, **_bearer(issued.access_token))
    by_body = client.post(URL, _form(access_token=issued.access_token), content_type=FORM)
    assert by_header.status_code == by_body.status_code == 200
    assert by_header.json() == by_body.json()


def test_token_in_a_multipart_body_is_not_read(client, doctor, rp):
    """RFC 6750 §2.2: the form-encoded body parameter requires application/x-www-form-urlencoded."""
    issued = issue(rp, doctor)
    response = client.post(URL, {"access_token": issued.access_token})
    assert response.status_code == 401


def test_token_in_query_string_is_refused(client, doctor, rp):
    issued = issue(rp, doctor)
    response = client.get(f"{URL}?access_token={issued.access_token}")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    # RFC 6750 §3: the Bearer challenge comes with every error of a protected resource.
    assert 'error="invalid_request"' in response["WWW-Authenticate"]
    assert response["WWW-Authenticate"].startswith("Bearer ")


def test_two_methods_at_once_is_invalid_request(client, doctor, rp):
    issued = issue(rp, doctor)
    response = client.post(
        URL,
        _form(access_token=issued.access_token),
        content_type=FORM,
        **_bearer(issued.access_token),
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_no_token_gets_a_bare_challenge(client):
    response = client.get(URL)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer realm=")
    assert "error=" not in response["WWW-Authenticate"]


@pytest.mark.parametrize("header", ["Basic abc", "Bearer", "Bearer   ", "bearer"])
def test_malformed_authorization_header(client, header):
    response = client.get(URL, HTTP_AUTHORIZATION=header)
    _assert_invalid_token(response)


def test_garbage_token(client):
    _assert_invalid_token(client.get(URL, **_bearer("not.a.jwt")))


def test_expired_token(client, doctor, rp):
    issued = issue(rp, doctor)
    # Issued an hour ago: well beyond its lifetime and the verification leeway.
    old = tokens.issue_access_token(
        client=get_client(rp.client_id),
        scope="openid scope_all",
        professional=tokens.load_professional(doctor.pk),
        gid=issued.grant_id,
        sid=issued.session.sid,
        now=int(time.time()) - 3600,
    )
    _assert_invalid_token(client.get(URL, **_bearer(old.value)))


def test_revoked_access_token(client, doctor, rp):
    issued = issue(rp, doctor)
    claims = tokens.validate_access_token(issued.access_token).claims
    revocation.revoke_access_token(claims["jti"], claims["exp"])
    _assert_invalid_token(client.get(URL, **_bearer(issued.access_token)))


def test_revoked_grant(client, doctor, rp):
    issued = issue(rp, doctor)
    revocation.revoke_grant(issued.grant_id, "test")
    _assert_invalid_token(client.get(URL, **_bearer(issued.access_token)))


def test_suspended_professional_is_invalid_token(client, doctor, rp):
    issued = issue(rp, doctor)
    assert client.get(URL, **_bearer(issued.access_token)).status_code == 200  # now cached
    services.suspend(doctor, by="admin:alice", reason="Enquête")
    _assert_invalid_token(client.get(URL, **_bearer(issued.access_token)))


def test_deactivated_client_is_invalid_token(client, doctor, rp):
    from relying_parties import registry

    issued = issue(rp, doctor)
    rp.is_active = False
    rp.save()
    registry.forget()
    _assert_invalid_token(client.get(URL, **_bearer(issued.access_token)))


def test_without_openid_scope_is_insufficient_scope(client, doctor, rp):
    issued = issue(rp, doctor, scope="scope_all")
    response = client.get(URL, **_bearer(issued.access_token))
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"
    assert 'error="insufficient_scope"' in response["WWW-Authenticate"]


def test_openid_only_gives_sub_only(client, doctor, rp):
    issued = issue(rp, doctor, scope="openid")
    assert client.get(URL, **_bearer(issued.access_token)).json() == {"sub": doctor.sub}


def test_profile_and_email_give_standard_claims_only(client, doctor, rp):
    issued = issue(rp, doctor, scope="openid profile email")
    body = client.get(URL, **_bearer(issued.access_token)).json()
    assert set(body) == {
        "sub",
        "name",
        "given_name",
        "family_name",
        "preferred_username",
        "updated_at",
        "email",
        "email_verified",
    }
    assert body["preferred_username"] == doctor.id_nat
    assert body["email"] == "jean.martin@example.org"
    assert body["email_verified"] is False
    assert "SubjectRefPro" not in body


def test_scopes_no_longer_allowed_to_the_client_are_not_served(client, doctor, rp):
    from relying_parties import registry

    issued = issue(rp, doctor, scope="openid scope_all email")
    rp.allowed_scopes = ["openid", "email"]
    rp.save()
    registry.forget()
    body = client.get(URL, **_bearer(issued.access_token)).json()
    assert "SubjectRefPro" not in body
    assert body["email"] == "jean.martin@example.org"


def test_claims_parameter_adds_allowed_standard_claims(client, doctor, rp):
    issued = issue(rp, doctor, scope="openid")
    AuthorizationCode.objects.create(
        code_hash="x" * 64,
        grant_id=issued.grant_id,
        client_id=rp.client_id,
        session=issued.session,
        professional=doctor,
        redirect_uri=REDIRECT_URI,
        scope="openid",
        claims={"userinfo": {"email": {"essential": True}, "SubjectRefPro": None}},
        acr="eidas1",
        auth_time=issued.session.auth_time,
        expires_at=issued.session.expires_at,
    )
    body = client.get(URL, **_bearer(issued.access_token)).json()
    assert body == {"sub": doctor.sub, "email": "jean.martin@example.org"}


def test_signed_userinfo_when_registered(client, doctor, settings):
    rp, _ = make_client(client_id="signed", userinfo_signed_response_alg="ES256")
    issued = issue(rp, doctor)
    response = client.get(URL, **_bearer(issued.access_token))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/jwt"
    keyset = KeySet.import_key_set(get_keystore().public_jwks())
    decoded = jose_jwt.decode(response.content.decode(), keyset, algorithms=["ES256"])
    assert decoded.header["alg"] == "ES256"
    assert decoded.claims["iss"] == settings.IDP_ISSUER
    assert decoded.claims["aud"] == "signed"
    assert decoded.claims["SubjectNameID"] == doctor.id_nat


def test_document_is_cached_and_invalidated_on_change(client, doctor, rp):
    issued = issue(rp, doctor)
    first = client.get(URL, **_bearer(issued.access_token)).json()
    with CaptureQueriesContext(connection) as cached:
        client.get(URL, **_bearer(issued.access_token))
    professional_queries = [q for q in cached.captured_queries if "accounts_" in q["sql"]]
    assert professional_queries == []

    exercice = Exercice.objects.filter(professional=doctor).first()
    exercice.nom_exercice = "DURAND"
    exercice.save()
    after = client.get(URL, **_bearer(issued.access_token)).json()
    assert first["family_name"] != "DURAND"
    assert after["family_name"] == "DURAND"


def test_cold_rendering_costs_a_bounded_number_of_queries(client, doctor, rp):
    issued = issue(rp, doctor)
    with CaptureQueriesContext(connection) as cold:
        assert client.get(URL, **_bearer(issued.access_token)).status_code == 200
    professional_queries = [q for q in cold.captured_queries if "accounts_" in q["sql"]]
    assert len(professional_queries) == 1  # professional, exercices, activities, other ids


def test_other_professional_unaffected(client, rp):
    someone = make_professional("8" + rpps(77))
    issued = issue(rp, someone)
    assert client.get(URL, **_bearer(issued.access_token)).json()["sub"] == someone.sub


def test_cache_is_dropped_when_an_identifier_or_activity_changes(client, doctor, rp):
    from idp.accounts.models import Activity, OtherId

    issued = issue(rp, doctor)
    client.get(URL, **_bearer(issued.access_token))
    OtherId.objects.filter(professional=doctor, origine="ADELI").delete()
    body = client.get(URL, **_bearer(issued.access_token)).json()
    assert [o["origine"] for o in body["otherIds"]] == ["RPPS"]

    activity = Activity.objects.filter(exercice__professional=doctor).order_by("pk").first()
    activity.raison_sociale_site = "CABINET NEUF"
    activity.save()
    body = client.get(URL, **_bearer(issued.access_token)).json()
    assert body["SubjectOrganization"] == "CABINET NEUF"


def test_a_warm_userinfo_call_is_one_redis_round_trip(client, doctor, rp):
    """The revocation markers, the cached document and the grant's claim names: one MGET."""
    issued = issue(rp, doctor, scope="openid scope_all profile")
    first = client.get(URL, **_bearer(issued.access_token))  # caches the document, warms markers
    with redis_round_trips() as trips, CaptureQueriesContext(connection) as queries:
        again = client.get(URL, **_bearer(issued.access_token))
    assert again.status_code == 200
    assert again.json() == first.json()
    assert trips.names == [["MGET"]]
    keys = trips.sent[0][0][1:]
    claims = tokens.validate_access_token(issued.access_token).claims
    for name in (f"oidc:rev:jti:{claims['jti']}", f"oidc:rev:gid:{issued.grant_id}",
                 "oidc:rev:warm", f"oidc:userinfo:doc:v1:{doctor.sub}",
                 f"oidc:userinfo:claims:v1:{issued.grant_id}"):  # fmt: skip
        assert any(key.endswith(name) for key in keys), name
    assert [q for q in queries.captured_queries if "accounts_" in q["sql"]] == []


def test_a_revoked_token_is_refused_though_its_document_is_cached(client, doctor, rp):
    """The document comes in the revocation check's round trip; a revocation still wins."""
    issued = issue(rp, doctor)
    other = issue(rp, doctor)
    assert client.get(URL, **_bearer(issued.access_token)).status_code == 200  # now cached
    claims = tokens.validate_access_token(issued.access_token).claims
    revocation.revoke_access_token(claims["jti"], claims["exp"])
    _assert_invalid_token(client.get(URL, **_bearer(issued.access_token)))
    assert client.get(URL, **_bearer(other.access_token)).status_code == 200
    revocation.revoke_grant(other.grant_id, "test")
    _assert_invalid_token(client.get(URL, **_bearer(other.access_token)))
