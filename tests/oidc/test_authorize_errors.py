"""Every refusal of the authorization endpoint: exact error code, where it goes, nothing created.

Before the redirect URI is verified, errors are an HTML page (400) and never a redirect
(RFC 6749 §4.1.2.1); after it, they go to the client with ``state`` and RFC 9207 ``iss``.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from django.conf import settings

from relying_parties.models import Client
from tests.oidc.factories import REDIRECT_URI, make_client
from tests.oidc.flows import (
    AUTHORIZE_PATH,
    authorize_params,
    callback_params,
    login_page_path,
    state_snapshot,
)

pytestmark = pytest.mark.django_db

VERIFIER = "dBjftJeZ4CVP-mJ92K9CCFvZ0TqGX4bX2Pj4lqu1y6ZfGhAkXj"


@pytest.fixture
def rp():
    return make_client()[0]


def _query(params: dict | list) -> str:
    return f"{AUTHORIZE_PATH}?{urlencode(params)}"


def assert_error_page(response, error: str = "invalid_request") -> None:
    assert response.status_code == 400
    assert "Location" not in response
    assert response["Content-Type"].startswith("text/html")
    assert response["Cache-Control"] == "no-store"
    assert f"<code>{error}</code>".encode() in response.content


def assert_redirected_error(response, error: str, *, state: str | None = "st") -> dict:
    assert response.status_code == 302
    assert response["Location"].startswith(REDIRECT_URI + "?")
    params = callback_params(response)
    assert params["error"] == error
    assert params["iss"] == settings.IDP_ISSUER
    if state is None:
        assert "state" not in params
    else:
        assert params["state"] == state
    assert "code" not in params
    return params


# --- Before the redirect URI is verified: a page, never a redirect ---------------------------
def test_missing_client_id(client, rp):
    before = state_snapshot()
    params = authorize_params(rp, code_verifier=VERIFIER)
    del params["client_id"]
    assert_error_page(client.get(AUTHORIZE_PATH, params))
    assert state_snapshot() == before


@pytest.mark.parametrize("client_id", ["unknown-client", "x" * 300])
def test_unknown_client_id(client, rp, client_id):
    before = state_snapshot()
    params = authorize_params(rp, code_verifier=VERIFIER) | {"client_id": client_id}
    assert_error_page(client.get(AUTHORIZE_PATH, params))
    assert state_snapshot() == before


def test_inactive_client(client, rp):
    Client.objects.filter(pk=rp.pk).update(is_active=False)
    before = state_snapshot()
    assert_error_page(client.get(AUTHORIZE_PATH, authorize_params(rp, code_verifier=VERIFIER)))
    assert state_snapshot() == before


def test_duplicated_client_id(client, rp):
    params = list(authorize_params(rp, code_verifier=VERIFIER).items())
    params.append(("client_id", rp.client_id))
    assert_error_page(client.get(_query(params)))


def test_missing_redirect_uri(client, rp):
    params = authorize_params(rp, code_verifier=VERIFIER)
    del params["redirect_uri"]
    assert_error_page(client.get(AUTHORIZE_PATH, params))


def test_duplicated_redirect_uri(client, rp):
    params = list(authorize_params(rp, code_verifier=VERIFIER).items())
    params.append(("redirect_uri", REDIRECT_URI))
    assert_error_page(client.get(_query(params)))


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://rp.example.fr/callback/extra",
        "https://rp.example.fr/callbackx",
        "https://rp.example.fr/callbac",
        "https://rp.example.fr/callback/",
        "https://rp.example.fr/Callback",
        "https://RP.example.fr/callback",
        "HTTPS://rp.example.fr/callback",
        "http://rp.example.fr/callback",
        "https://rp.example.fr:443/callback",
        "https://rp.example.fr/callback?x=1",
        "https://rp.example.fr/callback#frag",
        "https://rp.example.fr/%63allback",
        "https://rp.example.fr/./callback",
        "https://rp.example.fr.evil.fr/callback",
        "https://rp.example.fr@evil.fr/callback",
        "https://evil.fr/https://rp.example.fr/callback",
        " https://rp.example.fr/callback",
        "https://rp.example.fr/callback ",
        "//evil.fr/callback",
        "javascript:alert(1)",
    ],
)
def test_unregistered_redirect_uri_is_a_page(client, rp, redirect_uri):
    before = state_snapshot()
    params = authorize_params(rp, code_verifier=VERIFIER, redirect_uri=redirect_uri)
    # Even a request carrying another error, or prompt=none, never redirects.
    params["response_type"] = "token"
    response = client.get(AUTHORIZE_PATH, params)
    assert_error_page(response)
    assert b"evil" not in response.content.split(b"<main>")[-1]
    assert state_snapshot() == before


def test_loopback_port_rule_is_for_native_clients_only(client):
    rp = make_client(redirect_uris=["http://127.0.0.1/callback"])[0]
    params = authorize_params(
        rp, code_verifier=VERIFIER, redirect_uri="http://127.0.0.1:8123/callback"
    )
    assert_error_page(client.get(AUTHORIZE_PATH, params))


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://127.0.0.1:8123/other",
        "http://localhost:8123/callback",
        "https://127.0.0.1:8123/callback",
        "http://127.0.0.2:8123/callback",
        "http://127.0.0.1:99999/callback",
        "http://[::1]:8123/callback",
    ],
)
def test_native_loopback_rule_is_narrow(client, redirect_uri):
    rp = make_client(
        application_type="native",
        redirect_uris=["http://127.0.0.1/callback", "http://localhost/callback"],
        token_endpoint_auth_method="none",
    )[0]
    params = authorize_params(rp, code_verifier=VERIFIER, redirect_uri=redirect_uri)
    assert_error_page(client.get(AUTHORIZE_PATH, params))


def test_oversized_request_is_a_page(client, rp):
    before = state_snapshot()
    params = authorize_params(rp, code_verifier=VERIFIER) | {f"x{i}": "y" * 1000 for i in range(9)}
    assert_error_page(client.get(AUTHORIZE_PATH, params))
    assert state_snapshot() == before


def test_error_page_language(client):
    response = client.get(AUTHORIZE_PATH, {"client_id": "nope"}, HTTP_ACCEPT_LANGUAGE="en")
    assert b"Unable to sign in" in response.content
    response = client.get(AUTHORIZE_PATH, {"client_id": "nope"}, HTTP_ACCEPT_LANGUAGE="fr")
    assert b"Connexion impossible" in response.content


def test_method_not_allowed(client, rp):
    response = client.put(_query(authorize_params(rp, code_verifier=VERIFIER)))
    assert response.status_code == 405


# --- After it: redirected to the client with the exact code -----------------------------------
REDIRECTED = [
    ({"response_type": None}, "invalid_request"),
    ({"response_type": "token"}, "unsupported_response_type"),
    ({"response_type": "code id_token"}, "unsupported_response_type"),
    ({"response_type": "id_token"}, "unsupported_response_type"),
    ({"scope": "profile scope_all"}, "invalid_scope"),
    ({"scope": None}, "invalid_scope"),
    ({"scope": "OPENID"}, "invalid_scope"),
    ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
    ({"code_challenge_method": "plain"}, "invalid_request"),
    ({"code_challenge_method": None}, "invalid_request"),  # absent method means plain
    ({"code_challenge_method": "S512"}, "invalid_request"),
    ({"code_challenge": None}, "invalid_request"),
    ({"code_challenge": "a" * 42}, "invalid_request"),
    ({"code_challenge": "a" * 129}, "invalid_request"),
    ({"code_challenge": "a" * 42 + "+"}, "invalid_request"),
    ({"code_challenge": "a" * 42 + "="}, "invalid_request"),
    ({"request": "eyJhbGciOiJub25lIn0.e30."}, "request_not_supported"),
    ({"request_uri": "https://rp.example.fr/req.jwt"}, "request_uri_not_supported"),
    ({"prompt": "none login"}, "invalid_request"),
    ({"prompt": "bogus"}, "invalid_request"),
    ({"max_age": "-1"}, "invalid_request"),
    ({"max_age": "ten"}, "invalid_request"),
    ({"max_age": "1.5"}, "invalid_request"),
    ({"claims": "{not json"}, "invalid_request"),
    ({"claims": "[1, 2]"}, "invalid_request"),
    ({"claims": '{"access_token": {}}'}, "invalid_request"),
    ({"claims": '{"id_token": []}'}, "invalid_request"),
    ({"claims": '{"id_token": {"acr": 3}}'}, "invalid_request"),
    ({"claims": '{"id_token": {"acr": {"essential": "yes"}}}'}, "invalid_request"),
    ({"claims": '{"id_token": {"acr": {"values": "eidas1"}}}'}, "invalid_request"),
    ({"response_mode": "fragment"}, "invalid_request"),
]


@pytest.mark.parametrize(("change", "error"), REDIRECTED)
def test_redirected_errors(client, rp, change, error):
    before = state_snapshot()
    params = authorize_params(rp, code_verifier=VERIFIER, state="st") | change
    params = {k: v for k, v in params.items() if v is not None}
    assert_redirected_error(client.get(AUTHORIZE_PATH, params), error)
    assert_redirected_error(client.post(AUTHORIZE_PATH, params), error)
    assert state_snapshot() == before


def test_client_not_registered_for_code_is_unauthorized_client(client):
    rp = make_client(response_types=["token"], grant_types=["client_credentials"])[0]
    response = client.get(AUTHORIZE_PATH, authorize_params(rp, code_verifier=VERIFIER, state="st"))
    assert_redirected_error(response, "unauthorized_client")


def test_public_client_needs_pkce_even_if_not_flagged(client):
    rp = make_client(token_endpoint_auth_method="none", require_pkce=False)[0]
    response = client.get(AUTHORIZE_PATH, authorize_params(rp, state="st"))
    assert_redirected_error(response, "invalid_request")


@pytest.mark.parametrize("name", ["scope", "nonce", "response_type", "prompt", "unknown_param"])
def test_duplicated_parameters(client, rp, name):
    before = state_snapshot()
    params = list(authorize_params(rp, code_verifier=VERIFIER, state="st").items())
    params += [(name, "openid"), (name, "openid")] if name == "unknown_param" else [(name, "x")]
    response = client.get(_query(params))
    body = assert_redirected_error(response, "invalid_request")
    assert name in body["error_description"]
    assert state_snapshot() == before


def test_duplicated_state_is_not_echoed(client, rp):
    params = list(authorize_params(rp, code_verifier=VERIFIER, state="st").items())
    params.append(("state", "other"))
    assert_redirected_error(client.get(_query(params)), "invalid_request", state=None)


@pytest.mark.parametrize(
    "change",
    [
        {"state": "s" * 2049},
        {"extra": "v" * 2049},
        {"scope": "openid " + "x" * 2048},
        {"nonce": "n" * 513},
        {"login_hint": "8" * 300},
        {"ui_locales": "fr " * 700},
        {"claims": json.dumps({"userinfo": {f"c{i}": None for i in range(300)}})},
    ],
)
def test_oversized_values_are_a_page_and_never_echoed(client, rp, change):
    """Values beyond our limits (2 KiB, or the field's own) are refused with a 400 page."""
    before = state_snapshot()
    params = authorize_params(rp, code_verifier=VERIFIER, state="st") | change
    response = client.get(AUTHORIZE_PATH, params)
    assert_error_page(response)
    assert b"sss" not in response.content.split(b"<main>")[-1]
    assert_error_page(client.post(AUTHORIZE_PATH, params))
    assert state_snapshot() == before


def test_empty_values_count_as_absent(client, rp, settings):
    # RFC 6749 §3.1: "Parameters sent without a value MUST be treated as if they were omitted."
    settings.IDP_TEST_LOGIN = True
    params = authorize_params(rp, code_verifier=VERIFIER, state="st") | {
        "prompt": "",
        "max_age": "",
        "request": "",
        "claims": "",
    }
    response = client.get(AUTHORIZE_PATH, params)
    assert login_page_path(response) is not None  # the login page, not an error


def test_error_description_is_ascii_and_descriptive(client, rp):
    params = authorize_params(rp, state="st")
    body = assert_redirected_error(client.get(AUTHORIZE_PATH, params), "invalid_request")
    assert body["error_description"] == "PKCE (code_challenge, S256) is required."
