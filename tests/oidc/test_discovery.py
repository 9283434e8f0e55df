"""Discovery documents and the JWKS through HTTP (OpenID Connect Discovery 1.0, RFC 8414)."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.urls import resolve
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet

from idp.oidc import jwt, keys
from idp.oidc.protocol import authorize, client_auth
from idp.oidc.views import discovery

ISSUER_PATH = f"/auth/realms/{settings.IDP_REALM}"
DISCOVERY = f"{ISSUER_PATH}/.well-known/openid-configuration"
WALLET = f"{ISSUER_PATH}/.well-known/wallet-openid-configuration"
OAUTH = f"{ISSUER_PATH}/.well-known/oauth-authorization-server"
OAUTH_ROOT = f"/.well-known/oauth-authorization-server/auth/realms/{settings.IDP_REALM}"
JWKS = f"{ISSUER_PATH}/protocol/openid-connect/certs"
ALL_URLS = [DISCOVERY, WALLET, OAUTH, OAUTH_ROOT, JWKS, "/oidc/jwks"]

ENDPOINTS = (
    "authorization_endpoint",
    "token_endpoint",
    "userinfo_endpoint",
    "jwks_uri",
    "introspection_endpoint",
    "revocation_endpoint",
    "end_session_endpoint",
)
PUBLIC_MEMBERS = {"kty", "kid", "alg", "use", "n", "e", "crv", "x", "y"}
_REQUIRED = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y")}


def _rfc7638(jwk: dict) -> str:
    members = {name: jwk[name] for name in _REQUIRED[jwk["kty"]]}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()


def test_both_openid_documents_are_identical_and_name_the_exact_issuer(client):
    first = client.get(DISCOVERY)
    wallet = client.get(WALLET)

    assert first.status_code == wallet.status_code == 200
    assert first.content == wallet.content
    assert first["Content-Type"] == "application/json"
    document = first.json()
    assert document["issuer"] == settings.IDP_ISSUER
    assert document["issuer"] == f"http://127.0.0.1:8000/auth/realms/{settings.IDP_REALM}"


def test_every_endpoint_is_absolute_under_the_issuer_and_routed(client):
    document = client.get(DISCOVERY).json()

    for name in ENDPOINTS:
        url = document[name]
        assert url.startswith(settings.IDP_ISSUER + "/"), name
        parts = urlsplit(url)
        assert parts.scheme and parts.netloc and not parts.query and not parts.fragment
        match = resolve(parts.path)
        assert match.namespace == "oidc", name
    assert document["jwks_uri"] == f"{settings.IDP_ISSUER}/protocol/openid-connect/certs"
    assert document["token_endpoint"] == f"{settings.IDP_ISSUER}/protocol/openid-connect/token"
    assert document["authorization_endpoint"] == (
        f"{settings.IDP_ISSUER}/protocol/openid-connect/auth"
    )
    assert document["service_documentation"].startswith(settings.IDP_BASE_URL)


def test_openid_configuration_values(client):
    document = client.get(DISCOVERY).json()

    assert document["response_types_supported"] == ["code"]
    assert document["response_modes_supported"] == ["query", "form_post"]
    assert document["grant_types_supported"] == [
        "authorization_code",
        "refresh_token",
        "client_credentials",
        "urn:openid:params:grant-type:ciba",
    ]
    assert document["subject_types_supported"] == ["public"]
    assert document["id_token_signing_alg_values_supported"] == ["RS256", "ES256"]
    assert document["userinfo_signing_alg_values_supported"] == ["RS256", "ES256"]
    assert document["scopes_supported"] == ["openid", "scope_all", "profile", "email"]
    assert document["token_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
        "tls_client_auth",
        "none",  # public clients: PKCE only
    ]
    assert document["introspection_endpoint_auth_methods_supported"][-1] == "none"
    assert document["revocation_endpoint_auth_methods_supported"][-1] == "none"
    assert "none" not in document["token_endpoint_auth_signing_alg_values_supported"]
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["acr_values_supported"] == ["eidas1", "eidas2", "eidas3"]
    assert document["claims_parameter_supported"] is True
    assert document["request_parameter_supported"] is False
    assert document["request_uri_parameter_supported"] is False
    assert document["authorization_response_iss_parameter_supported"] is True
    assert document["backchannel_logout_supported"] is True
    assert document["backchannel_logout_session_supported"] is True
    assert document["frontchannel_logout_supported"] is False
    assert document["tls_client_certificate_bound_access_tokens"] is True
    assert document["ui_locales_supported"] == ["fr", "en"]
    # CIBA (poll and ping): tests/oidc/test_ciba_discovery.py.
    assert document["backchannel_token_delivery_modes_supported"] == ["poll", "ping"]
    for claim in ("sub", "acr", "SubjectNameID", "SubjectRefPro", "otherIds", "authMode"):
        assert claim in document["claims_supported"]
    # What is advertised is what the endpoints accept (no second list to drift).
    assert set(document["prompt_values_supported"]) == authorize.PROMPT_VALUES
    assert set(document["response_modes_supported"]) == authorize.RESPONSE_MODES
    assert set(document["token_endpoint_auth_signing_alg_values_supported"]) == (
        client_auth.ASSERTION_ALGORITHMS
    )


def test_rfc8414_document_at_the_issuer_and_at_the_root(client):
    under_issuer = client.get(OAUTH)
    at_root = client.get(OAUTH_ROOT)

    assert under_issuer.status_code == at_root.status_code == 200
    assert under_issuer.content == at_root.content
    document = under_issuer.json()
    # RFC 8414 §3.3: the issuer in the document is the one the metadata URL was derived from.
    assert document["issuer"] == settings.IDP_ISSUER
    assert document["token_endpoint"] == client.get(DISCOVERY).json()["token_endpoint"]
    assert document["code_challenge_methods_supported"] == ["S256"]


def test_a_forged_host_header_does_not_leak_into_the_document(client, settings):
    settings.ALLOWED_HOSTS = ["*"]

    document = client.get(DISCOVERY, HTTP_HOST="evil.example").json()

    assert document["issuer"] == settings.IDP_ISSUER
    assert all("evil.example" not in document[name] for name in ENDPOINTS)


def test_the_document_follows_the_configured_base_url(client, settings):
    settings.IDP_BASE_URL = "https://idp.caducee.example"
    settings.IDP_ISSUER = f"https://idp.caducee.example/auth/realms/{settings.IDP_REALM}"

    document = client.get(DISCOVERY).json()

    assert document["issuer"] == settings.IDP_ISSUER
    assert document["userinfo_endpoint"] == (
        f"{settings.IDP_ISSUER}/protocol/openid-connect/userinfo"
    )


@pytest.mark.parametrize("url", ALL_URLS)
def test_caching_and_cors_headers(client, url):
    response = client.get(url)

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "*"
    assert response["ETag"].startswith('"') and response["ETag"].endswith('"')
    max_age = keys.JWKS_MAX_AGE_SECONDS if "jwks" in url or "certs" in url else 300
    assert response["Cache-Control"] == f"public, max-age={max_age}"

    again = client.get(url, HTTP_IF_NONE_MATCH=response["ETag"])
    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == response["ETag"]
    assert client.get(url, HTTP_IF_NONE_MATCH='"other"').status_code == 200


def test_jwks_max_age_is_far_below_the_publish_delay_of_a_next_key():
    # A next key is published for PUBLISH_DELAY before it signs: caches must have refreshed.
    assert keys.PUBLISH_DELAY_SECONDS >= 4 * keys.JWKS_MAX_AGE_SECONDS


@pytest.mark.parametrize("url", ALL_URLS)
@pytest.mark.parametrize("method", ["post", "put", "delete", "patch", "options"])
def test_only_get_and_head(client, url, method):
    response = getattr(client, method)(url)

    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"
    assert client.head(url).status_code == 200


def test_jwks_holds_only_public_members_and_thumbprint_kids(client):
    response = client.get(JWKS)

    assert response["Content-Type"] == "application/json"
    published = response.json()["keys"]
    assert {k["alg"] for k in published} == {"RS256", "ES256"}
    for jwk in published:
        assert set(jwk) <= PUBLIC_MEMBERS, set(jwk) - PUBLIC_MEMBERS
        assert jwk["use"] == "sig"
        assert jwk["kid"] == _rfc7638(jwk)
    assert client.get("/oidc/jwks").content == response.content


def test_jwks_verifies_our_tokens_for_an_independent_relying_party(client):
    now = int(time.time())
    token = jwt.sign(
        {"iss": settings.IDP_ISSUER, "sub": "s", "iat": now, "exp": now + 60}, alg="RS256"
    )
    document = client.get(DISCOVERY).json()
    jwks_path = urlsplit(document["jwks_uri"]).path
    public = KeySet.import_key_set(client.get(jwks_path).json())

    decoded = jose_jwt.decode(
        token, public, algorithms=document["id_token_signing_alg_values_supported"]
    )

    assert decoded.claims["sub"] == "s"


def test_documents_are_serialised_once_per_key_set(client):
    client.get(JWKS)
    cached = discovery._documents["jwks"]
    client.get(JWKS)
    assert discovery._documents["jwks"] is cached
