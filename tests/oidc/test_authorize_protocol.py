"""Units of idp.oidc.protocol (authorize, redirect_uris, scopes) and of rendering.json_error."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from idp.oidc import rendering
from idp.oidc.protocol import errors
from idp.oidc.protocol.authorize import (
    CHECKS,
    AuthorizationRequest,
    acr_satisfies,
    check_client_id,
    check_redirect_uri,
    session_satisfies,
)
from idp.oidc.protocol.redirect_uris import is_registered
from idp.oidc.protocol.scopes import narrow


def test_redirect_uri_is_checked_right_after_client_id():
    assert CHECKS[1:3] == (check_client_id, check_redirect_uri)


@pytest.mark.parametrize(
    ("requested", "registered", "native", "expected"),
    [
        ("https://a.fr/cb", ["https://a.fr/cb"], False, True),
        ("https://a.fr/cb/", ["https://a.fr/cb"], False, False),
        ("https://a.fr/CB", ["https://a.fr/cb"], False, False),
        ("http://127.0.0.1:5000/cb", ["http://127.0.0.1/cb"], True, True),
        ("http://127.0.0.1/cb", ["http://127.0.0.1/cb"], True, True),
        ("http://127.0.0.1:5000/cb", ["http://127.0.0.1:4000/cb"], True, True),
        ("http://[::1]:5000/cb", ["http://[::1]/cb"], True, True),
        ("http://127.0.0.1:5000/cb", ["http://127.0.0.1/cb"], False, False),
        ("http://localhost:5000/cb", ["http://localhost/cb"], True, False),
        ("https://127.0.0.1:5000/cb", ["https://127.0.0.1/cb"], True, False),
        ("http://127.0.0.1:5000/cb?x=1", ["http://127.0.0.1/cb"], True, False),
        ("http://127.0.0.1:5000/other", ["http://127.0.0.1/cb"], True, False),
        ("http://u@127.0.0.1:5000/cb", ["http://127.0.0.1/cb"], True, False),
        ("http://127.0.0.1:70000/cb", ["http://127.0.0.1/cb"], True, False),
        ("http://127.0.0.1:5000/cb", ["https://a.fr/cb"], True, False),
    ],
)
def test_redirect_uri_matching(requested, registered, native, expected):
    assert is_registered(requested, registered, native=native) is expected


def test_scope_narrowing_keeps_order_drops_unknown_and_disallowed():
    allowed = ["openid", "scope_all", "profile"]
    assert narrow("scope_all foo openid email openid profile", allowed) == (
        "scope_all",
        "openid",
        "profile",
    )
    assert narrow("", allowed) == ()


def _req(**fields) -> AuthorizationRequest:
    return AuthorizationRequest(**fields)


def test_minimum_and_essential_acr():
    assert _req().minimum_acr is None
    assert _req(acr_values=("eidas3", "eidas2")).minimum_acr == "eidas2"
    essential = {"id_token": {"acr": {"essential": True, "values": ["eidas3", "eidas2"]}}}
    assert _req(claims=essential).essential_acr == "eidas2"
    assert _req(claims=essential, acr_values=("eidas1",)).minimum_acr == "eidas2"
    voluntary = {"id_token": {"acr": {"values": ["eidas3"]}}}
    assert _req(claims=voluntary).essential_acr is None
    assert (
        _req(claims={"id_token": {"acr": {"essential": True, "value": "x"}}}).essential_acr is None
    )


def test_acr_order():
    assert acr_satisfies("eidas2", "eidas1") and acr_satisfies("eidas2", "eidas2")
    assert not acr_satisfies("eidas1", "eidas2")
    assert acr_satisfies("anything", None) and not acr_satisfies("unknown", "eidas1")


def test_session_satisfies():
    now = timezone.now()
    recent, old = now - timedelta(seconds=10), now - timedelta(seconds=600)
    assert session_satisfies(_req(), auth_time=old, acr="eidas1", now=now)
    assert not session_satisfies(_req(prompt=("login",)), auth_time=recent, acr="eidas1", now=now)
    assert not session_satisfies(
        _req(prompt=("select_account",)), auth_time=recent, acr="eidas1", now=now
    )
    assert session_satisfies(_req(prompt=("consent",)), auth_time=recent, acr="eidas1", now=now)
    assert session_satisfies(_req(max_age=60), auth_time=recent, acr="eidas1", now=now)
    assert not session_satisfies(_req(max_age=60), auth_time=old, acr="eidas1", now=now)
    assert not session_satisfies(_req(max_age=0), auth_time=recent, acr="eidas1", now=now)
    step_up = _req(acr_values=("eidas2",))
    assert not session_satisfies(step_up, auth_time=recent, acr="eidas1", now=now)
    assert session_satisfies(step_up, auth_time=recent, acr="eidas3", now=now)


def test_language_from_ui_locales():
    assert _req(ui_locales=("de", "en-US", "fr")).language == "en"
    assert _req(ui_locales=("FR-fr",)).language == "fr"
    assert _req(ui_locales=("de",)).language is None


@pytest.mark.django_db
def test_request_round_trips_through_a_transaction_payload():
    req = _req(client_id="c", scope=("openid",), prompt=("login",), claims={"userinfo": {}})
    data = json.loads(json.dumps(req.to_dict()))
    again = AuthorizationRequest.from_dict(data)
    assert again == req and again.scope == ("openid",)


# --- rendering.json_error (used by the token, introspection, revocation, UserInfo endpoints) ---
def test_json_error_body_and_no_store():
    response = rendering.json_error(errors.InvalidGrant())
    assert response.status_code == 400
    assert json.loads(response.content) == {
        "error": "invalid_grant",
        "error_description": errors.InvalidGrant.description,
    }
    assert response["Cache-Control"] == "no-store"
    assert "WWW-Authenticate" not in response


def test_json_error_invalid_client_basic_challenge(settings):
    response = rendering.json_error(errors.InvalidClient())
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == f'Basic realm="{settings.IDP_REALM}"'
    downgraded = errors.InvalidClient()
    downgraded.status = 400  # e.g. client_secret_post: no challenge (RFC 6749 §5.2)
    assert "WWW-Authenticate" not in rendering.json_error(downgraded)


def test_json_error_invalid_token_bearer_challenge():
    response = rendering.json_error(errors.InvalidToken(), headers={"X-Extra": "1"})
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer ")
    assert 'error="invalid_token"' in response["WWW-Authenticate"]
    assert response["X-Extra"] == "1"


def test_redirect_url_keeps_query_and_drops_fragment():
    url = rendering.redirect_url("https://a.fr/cb?x=%20y#frag", {"code": "a&b=c"})
    assert url == "https://a.fr/cb?x=%20y&code=a%26b%3Dc"


def test_client_redirect_refuses_script_schemes():
    from django.http.response import DisallowedRedirect

    assert rendering.ClientRedirect("fr.caducee.app:/cb?code=1").status_code == 302
    for uri in ("javascript:alert(1)", "data:text/html,x", "JavaScript:alert(1)"):
        with pytest.raises(DisallowedRedirect):
            rendering.ClientRedirect(uri)
