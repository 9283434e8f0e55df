"""Client authentication at the token endpoint (RFC 6749 §2.3, OIDC Core §9, RFC 7523, RFC 8705).

Every method through HTTP with real secrets, real keys and a real certificate.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import time
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from joserfc import jwt as jose_jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

from idp.audit.models import AuditEvent
from idp.audit.tags import EventTag
from idp.oidc import jwt
from idp.oidc.models import UsedClientAssertion
from idp.oidc.protocol.client_auth import (
    JWT_BEARER_ASSERTION,
    authenticate_client,
    certificate_thumbprint,
)
from idp.oidc.protocol.errors import InvalidClient, InvalidRequest
from relying_parties.models import Client
from tests.oidc.factories import make_client
from tests.oidc.grant_helpers import basic, db_state, jwt_claims, post_token, token_url

pytestmark = pytest.mark.django_db

CC = {"grant_type": "client_credentials"}
TOKEN_ENDPOINT = f"{settings.IDP_ISSUER}/protocol/openid-connect/token"
CERT_HEADER = "X-SSL-Client-Cert"


def _failures() -> list[dict]:
    return [e.data for e in AuditEvent.objects.filter(tag=EventTag.OIDC_CLIENT_AUTH_FAILED)]


def _refused(response, error: str = "invalid_client", status: int = 401) -> None:
    assert response.status_code == status, response.content
    assert response.json()["error"] == error
    if status == 401:
        assert response["WWW-Authenticate"].startswith("Basic ")


# --- client_secret_basic / client_secret_post ---------------------------------------------------


def test_basic_credentials_are_form_urldecoded(client):
    model, secret = make_client(client_id="dmp:app+1 é")
    response = post_token(client, CC, auth=basic(model.client_id, secret))
    assert response.status_code == 200, response.content
    assert jwt_claims(response.json()["access_token"])["sub"] == "dmp:app+1 é"


def test_wrong_secret_is_refused_and_journaled_without_the_secret(client):
    model, secret = make_client()
    wrong = secret[:-2] + "zz"
    before = db_state()
    _refused(post_token(client, CC, auth=basic(model.client_id, wrong)))
    assert db_state() == before
    [event] = _failures()
    assert event["client_id"] == model.client_id
    assert event["method"] == "client_secret_basic"
    assert wrong not in str(event) and secret not in str(event)


def test_unknown_client_is_refused(client):
    _refused(post_token(client, CC, auth=basic("nobody", "whatever")))
    assert _failures()[0]["client_id"] == "nobody"


def test_malformed_basic_header(client):
    _refused(post_token(client, CC, auth="Basic !!!not-base64"))
    _refused(post_token(client, CC, auth="Basic " + base64.b64encode(b"no-colon").decode()))


def test_inactive_client_is_refused(client):
    model, secret = make_client()
    Client.objects.filter(pk=model.pk).update(is_active=False)
    _refused(post_token(client, CC, auth=basic(model.client_id, secret)))


def test_post_client_authenticates_in_the_body(client):
    model, secret = make_client(token_endpoint_auth_method=Client.AuthMethod.CLIENT_SECRET_POST)
    ok = post_token(client, {**CC, "client_id": model.client_id, "client_secret": secret})
    assert ok.status_code == 200
    bad = post_token(client, {**CC, "client_id": model.client_id, "client_secret": "nope"})
    _refused(bad)


def test_registered_method_is_the_only_one_accepted(client):
    """No downgrade: a basic client may not use post, a post client may not use basic."""
    basic_client, basic_secret = make_client()
    post = {**CC, "client_id": basic_client.client_id, "client_secret": basic_secret}
    _refused(post_token(client, post))
    post_client, post_secret = make_client(
        token_endpoint_auth_method=Client.AuthMethod.CLIENT_SECRET_POST
    )
    _refused(post_token(client, CC, auth=basic(post_client.client_id, post_secret)))
    assert [e["method"] for e in _failures()] == ["client_secret_post", "client_secret_basic"]


def test_confidential_client_without_credentials_is_refused(client):
    model, _ = make_client()
    _refused(post_token(client, {**CC, "client_id": model.client_id}))
    _refused(post_token(client, CC))


def test_two_methods_in_one_request_is_invalid_request(client):
    model, secret = make_client()
    response = post_token(
        client,
        {**CC, "client_id": model.client_id, "client_secret": secret},
        auth=basic(model.client_id, secret),
    )
    _refused(response, "invalid_request", 400)


def test_basic_and_body_client_id_must_agree(client):
    model, secret = make_client()
    other, _ = make_client()
    response = post_token(
        client, {**CC, "client_id": other.client_id}, auth=basic(model.client_id, secret)
    )
    _refused(response)


def test_function_contract_with_plain_dicts():
    model, secret = make_client()
    headers = {"authorization": basic(model.client_id, secret)}
    assert authenticate_client({}, headers, endpoint="introspection").client_id == model.client_id
    with pytest.raises(InvalidClient):
        authenticate_client({}, {"Authorization": basic(model.client_id, "x")}, endpoint="token")
    with pytest.raises(InvalidRequest):
        authenticate_client(
            {"client_secret": secret}, {"Authorization": headers["authorization"]}, endpoint="token"
        )


# --- private_key_jwt (RFC 7523) -----------------------------------------------------------------


@pytest.fixture(scope="module")
def client_key():
    return RSAKey.generate_key(2048, parameters={"alg": "RS256", "use": "sig"}, auto_kid=True)


@pytest.fixture
def pkj(client_key):
    jwks = KeySet([client_key]).as_dict()
    model, secret = make_client(
        token_endpoint_auth_method=Client.AuthMethod.PRIVATE_KEY_JWT, jwks=jwks
    )
    assert secret == ""
    return model


def _assertion(client_id: str, key, *, alg: str = "RS256", **overrides) -> str:
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": TOKEN_ENDPOINT,
        "iat": now,
        "exp": now + 60,
        "jti": base64.urlsafe_b64encode(str(time.perf_counter_ns()).encode()).decode(),
    }
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    header = {"alg": alg, "kid": key.kid}
    return jose_jwt.encode(header, claims, key, algorithms=[alg])


def _pkj_request(assertion: str, **extra) -> dict:
    return {
        **CC,
        "client_assertion_type": JWT_BEARER_ASSERTION,
        "client_assertion": assertion,
        **extra,
    }


def test_private_key_jwt_happy_path(client, pkj, client_key):
    response = post_token(client, _pkj_request(_assertion(pkj.client_id, client_key)))
    assert response.status_code == 200, response.content
    assert UsedClientAssertion.objects.filter(client_id=pkj.client_id).count() == 1


def test_private_key_jwt_audience_may_be_the_issuer(client, pkj, client_key):
    assertion = _assertion(pkj.client_id, client_key, aud=[settings.IDP_ISSUER])
    assert post_token(client, _pkj_request(assertion)).status_code == 200


def test_private_key_jwt_replayed_jti_is_refused(client, pkj, client_key):
    assertion = _assertion(pkj.client_id, client_key)
    assert post_token(client, _pkj_request(assertion)).status_code == 200
    before = db_state()
    _refused(post_token(client, _pkj_request(assertion)))
    assert db_state() == before
    assert "replayed" in _failures()[0]["reason"]


@pytest.mark.parametrize(
    "overrides",
    [
        {"aud": "https://elsewhere.example/token"},
        {"iss": "someone-else"},
        {"exp": None},
        {"exp": int(time.time()) - 3600},
        {"exp": int(time.time()) + 3600},  # more than 5 minutes ahead
        {"jti": None},
        {"nbf": int(time.time()) + 3600},
    ],
    ids=["aud", "iss", "no-exp", "expired", "exp-too-far", "no-jti", "nbf"],
)
def test_private_key_jwt_bad_claims(client, pkj, client_key, overrides):
    before = db_state()
    _refused(post_token(client, _pkj_request(_assertion(pkj.client_id, client_key, **overrides))))
    assert db_state() == before


def test_private_key_jwt_signed_by_another_key(client, pkj, client_key):
    stranger = RSAKey.generate_key(2048, parameters={"alg": "RS256"})
    stranger.ensure_kid()
    forged = jose_jwt.encode(
        {"alg": "RS256", "kid": client_key.kid},
        {
            "iss": pkj.client_id,
            "sub": pkj.client_id,
            "aud": TOKEN_ENDPOINT,
            "exp": int(time.time()) + 60,
            "jti": "forged",
        },
        stranger,
    )
    _refused(post_token(client, _pkj_request(forged)))


def test_private_key_jwt_hs256_with_the_public_key_is_refused(client, pkj, client_key):
    """The algorithm comes from the registered key, never from the header (RFC 8725 §3.1)."""
    public_pem = client_key.as_pem(private=False)
    now = int(time.time())
    header = _b64(json.dumps({"alg": "HS256", "kid": client_key.kid}).encode())
    body = _b64(
        json.dumps(
            {
                "iss": pkj.client_id,
                "sub": pkj.client_id,
                "aud": TOKEN_ENDPOINT,
                "exp": now + 60,
                "jti": "hs",
            }
        ).encode()
    )
    signature = hmac.new(public_pem, f"{header}.{body}".encode(), hashlib.sha256).digest()
    _refused(post_token(client, _pkj_request(f"{header}.{body}.{_b64(signature)}")))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_private_key_jwt_alg_none_is_refused(client, pkj, client_key):
    now = int(time.time())
    header = _b64(json.dumps({"alg": "none", "kid": client_key.kid}).encode())
    claims = {
        "iss": pkj.client_id,
        "sub": pkj.client_id,
        "aud": TOKEN_ENDPOINT,
        "exp": now + 60,
        "jti": "none",
    }
    body = _b64(json.dumps(claims).encode())
    _refused(post_token(client, _pkj_request(f"{header}.{body}.")))


def test_private_key_jwt_es256_key(client):
    key = ECKey.generate_key("P-256", parameters={"use": "sig"}, auto_kid=True)
    model, _ = make_client(
        token_endpoint_auth_method=Client.AuthMethod.PRIVATE_KEY_JWT,
        jwks=KeySet([key]).as_dict(),
    )
    ok = post_token(client, _pkj_request(_assertion(model.client_id, key, alg="ES256")))
    assert ok.status_code == 200, ok.content


def test_secret_client_cannot_use_an_assertion(client, client_key):
    model, _ = make_client()
    _refused(post_token(client, _pkj_request(_assertion(model.client_id, client_key))))


def test_wrong_assertion_type(client, pkj, client_key):
    data = _pkj_request(_assertion(pkj.client_id, client_key))
    data["client_assertion_type"] = "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"
    _refused(post_token(client, data))


# --- tls_client_auth (RFC 8705) -----------------------------------------------------------------


SUBJECT = "CN=DMP Service,OU=IGC-Sante TEST,O=Caducee Test,C=FR"


def self_signed(subject: str = SUBJECT, *, days: int = 30) -> tuple[str, str]:
    """A real self-signed certificate (PEM) and its x5t#S256, computed independently here."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name.from_rfc4514_string(subject)
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    der = cert.public_bytes(serialization.Encoding.DER)
    digest = hashes.Hash(hashes.SHA256())
    digest.update(der)
    thumb = base64.urlsafe_b64encode(digest.finalize()).rstrip(b"=").decode()
    return pem, thumb


@pytest.fixture
def mtls(settings):
    settings.IDP_TLS_CLIENT_CERT_HEADER = CERT_HEADER
    model, secret = make_client(
        token_endpoint_auth_method=Client.AuthMethod.TLS_CLIENT_AUTH,
        tls_client_auth_subject_dn=SUBJECT,
    )
    assert secret == ""
    return model


def _with_cert(pem: str) -> dict:
    return {"HTTP_X_SSL_CLIENT_CERT": quote(pem)}


def test_tls_client_auth_binds_the_token_to_the_certificate(client, mtls):
    pem, thumb = self_signed()
    assert certificate_thumbprint(pem) == thumb
    response = post_token(client, {**CC, "client_id": mtls.client_id}, **_with_cert(pem))
    assert response.status_code == 200, response.content
    claims = jwt.verify(response.json()["access_token"])
    assert claims["cnf"] == {"x5t#S256": thumb}


def test_tls_client_auth_wrong_subject(client, mtls):
    pem, _ = self_signed("CN=Someone Else,O=Caducee Test,C=FR")
    before = db_state()
    _refused(post_token(client, {**CC, "client_id": mtls.client_id}, **_with_cert(pem)))
    assert db_state() == before


def test_tls_client_auth_without_certificate(client, mtls):
    _refused(post_token(client, {**CC, "client_id": mtls.client_id}))


def test_tls_client_auth_ignored_when_not_configured(client, mtls, settings):
    settings.IDP_TLS_CLIENT_CERT_HEADER = ""
    pem, _ = self_signed()
    _refused(post_token(client, {**CC, "client_id": mtls.client_id}, **_with_cert(pem)))


def test_tls_client_auth_garbage_certificate(client, mtls):
    _refused(post_token(client, {**CC, "client_id": mtls.client_id}, **_with_cert("garbage")))


def test_tls_client_cannot_fall_back_to_a_secret(client, mtls):
    pem, _ = self_signed()
    response = post_token(client, CC, auth=basic(mtls.client_id, "anything"), **_with_cert(pem))
    _refused(response)


# --- public clients ------------------------------------------------------------------------------


def test_public_client_cannot_use_client_credentials(client):
    model, _ = make_client(token_endpoint_auth_method=Client.AuthMethod.NONE)
    response = post_token(client, {**CC, "client_id": model.client_id})
    assert response.status_code == 400
    assert response.json()["error"] == "unauthorized_client"


def test_public_client_presenting_a_secret_is_refused(client):
    model, _ = make_client(token_endpoint_auth_method=Client.AuthMethod.NONE)
    _refused(post_token(client, CC, auth=basic(model.client_id, "guess")))


def test_token_url_is_the_keycloak_path():
    assert token_url().endswith("/protocol/openid-connect/token")


def test_certificate_header_from_an_untrusted_peer_is_ignored(client, mtls, settings):
    """Only the reverse proxy may assert a client certificate: a request reaching the application
    from elsewhere with that header is treated as carrying no certificate."""
    settings.IDP_TRUSTED_PROXIES = ["10.0.0.1/32"]
    pem, _ = self_signed()
    response = post_token(
        client, {**CC, "client_id": mtls.client_id}, REMOTE_ADDR="203.0.113.9", **_with_cert(pem)
    )
    _refused(response)
    assert "no client certificate" in _failures()[0]["reason"]
