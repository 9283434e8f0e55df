"""Authorization endpoint through HTTP: successful journeys, SSO reuse, prompt, max_age, acr."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from idp.audit.models import AuditEvent
from idp.audit.tags import EventTag
from idp.core import hashing
from idp.oidc.models import AuthorizationCode, SessionClient, SsoSession
from idp.oidc.rendering import FORM_POST_SCRIPT_HASH
from tests.oidc.factories import REDIRECT_URI, make_client, make_professional
from tests.oidc.flows import (
    AUTHORIZE_PATH,
    authorize_and_get_code,
    authorize_params,
    callback_params,
    form_post_params,
    login_location,
    login_page_path,
    test_login,
)

pytestmark = pytest.mark.django_db

VERIFIER = "dBjftJeZ4CVP-mJ92K9CCFvZ0TqGX4bX2Pj4lqu1y6ZfGhAkXj"


@pytest.fixture(autouse=True)
def _test_login(settings):
    settings.IDP_TEST_LOGIN = True


@pytest.fixture
def rp():
    return make_client()[0]


@pytest.fixture
def pro():
    return make_professional()


def _code_row(code: str) -> AuthorizationCode:
    return AuthorizationCode.objects.get(code_hash=hashing.keyed_hash(code, purpose="code"))


def test_login_then_code_with_iss_and_state(client, rp, pro):
    code, _, params = authorize_and_get_code(
        client, rp, pro, state="xyz-state", nonce="n-123", code_verifier=VERIFIER
    )
    assert params == {"code": code, "state": "xyz-state", "iss": settings.IDP_ISSUER}
    assert len(code) >= 43  # 256 bits, base64url
    row = _code_row(code)
    session = SsoSession.objects.get()
    assert row.client_id == rp.client_id
    assert row.redirect_uri == REDIRECT_URI
    assert row.scope == "openid scope_all"
    assert row.nonce == "n-123"
    assert row.code_challenge == hashing.s256(VERIFIER)
    assert row.code_challenge_method == "S256"
    assert row.session == session and row.professional == pro
    # What actually happened at login, from the session.
    assert row.acr == session.acr == "eidas1"
    assert row.amr == session.amr == ["test"]
    assert row.auth_time == session.auth_time
    assert session.auth_mode == "TEST"
    expected_expiry = row.created_at + timedelta(seconds=settings.IDP_AUTHORIZATION_CODE_SECONDS)
    assert abs((row.expires_at - expected_expiry).total_seconds()) < 2
    assert row.consumed_at is None
    assert SessionClient.objects.filter(session=session, client_id=rp.client_id).exists()
    issued = AuditEvent.objects.get(tag=EventTag.OIDC_CODE_ISSUED.value)
    assert issued.data["grant_id"] == row.grant_id
    assert code not in json.dumps(issued.data)
    assert AuditEvent.objects.filter(tag=EventTag.OIDC_SESSION_STARTED.value).count() == 1


def test_the_authorization_endpoint_shows_the_login_page_itself(rp, pro):
    # No redirect to /login/<txn>: the page comes with the authorization response (as Pro Santé
    # Connect's Keycloak shows its form at the authorization URL), bound to this browser.
    browser = Client(enforce_csrf_checks=True)
    params = authorize_params(rp, code_verifier=VERIFIER, state="st", extra={"login_hint": "8123"})
    response = browser.get(AUTHORIZE_PATH, params)

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    csp = response["Content-Security-Policy"]
    policy = dict(directive.strip().split(" ", 1) for directive in csp.split(";"))
    assert policy["form-action"] == "'self' https://rp.example.fr"
    assert response.cookies["caducee_txn"]["httponly"]
    login_path = login_location(response)
    page = response.content.decode()
    assert f'action="{login_path}/card"' in page and 'value="8123"' in page
    # The language switch comes back to this transaction's page, not to a new authorization.
    assert f'name="next" value="{login_path}"' in page
    # The transaction in the page's forms is this browser's: its own page shows it again…
    assert browser.get(login_path).status_code == 200
    # …and the page's test form, with the CSRF token the authorization response carried, logs
    # in and answers the client at once.
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    answered = browser.post(
        login_path, {"id_nat": pro.id_nat, "acr": "eidas1", "csrfmiddlewaretoken": token}
    )
    assert answered["Location"].startswith(REDIRECT_URI)
    assert callback_params(answered)["state"] == "st"
    # Another browser cannot use it.
    assert Client().get(login_path).status_code == 400


def test_a_form_posted_request_without_session_is_sent_to_the_login_page(client, rp, pro):
    # Core §3.1.2.1 allows POST; its login page comes by a GET of its own (303), so that going
    # back or reloading does not post the form again.
    response = client.post(AUTHORIZE_PATH, authorize_params(rp, code_verifier=VERIFIER))
    assert response.status_code == 303
    login_path = response["Location"]
    assert login_path.startswith("/login/") and response.cookies["caducee_txn"]["httponly"]
    assert login_page_path(client.get(login_path)) == login_path
    answered = test_login(client, login_path, id_nat=pro.id_nat)
    assert "code" in callback_params(answered)


def test_sso_session_answers_second_request_without_login(client, rp, pro):
    first, _, _ = authorize_and_get_code(client, rp, pro, code_verifier=VERIFIER)
    response = client.get(AUTHORIZE_PATH, authorize_params(rp, code_verifier=VERIFIER, state="s2"))
    params = callback_params(response)
    assert response["Location"].startswith(REDIRECT_URI + "?")
    assert params["state"] == "s2" and params["iss"] == settings.IDP_ISSUER
    assert params["code"] != first
    assert SsoSession.objects.count() == 1
    assert {r.session_id for r in AuthorizationCode.objects.all()} == {SsoSession.objects.get().pk}
    # A second client in the same session is recorded for logout; the first only once.
    other = make_client(name="Other RP")[0]
    callback_params(client.get(AUTHORIZE_PATH, authorize_params(other, code_verifier=VERIFIER)))
    assert SessionClient.objects.count() == 2


def test_post_request_is_supported(client, rp, pro):
    authorize_and_get_code(client, rp, pro, code_verifier=VERIFIER)
    response = client.post(AUTHORIZE_PATH, authorize_params(rp, code_verifier=VERIFIER))
    assert "code" in callback_params(response)


def test_redirect_uri_query_is_kept(client, pro):
    rp = make_client(redirect_uris=["https://rp.example.fr/cb?tenant=a%20b"])[0]
    response = client.get(
        AUTHORIZE_PATH,
        authorize_params(
            rp,
            redirect_uri="https://rp.example.fr/cb?tenant=a%20b",
            state="s",
            code_verifier=VERIFIER,
        ),
    )
    txn_login = login_location(response)
    response = test_login(client, txn_login, id_nat=pro.id_nat)
    assert response["Location"].startswith("https://rp.example.fr/cb?tenant=a%20b&code=")
    query = parse_qs(urlsplit(response["Location"]).query)
    assert query["tenant"] == ["a b"] and "code" in query and query["state"] == ["s"]


def test_prompt_login_forces_a_new_login_in_the_same_session(client, rp, pro):
    authorize_and_get_code(client, rp, pro, code_verifier=VERIFIER)
    before = SsoSession.objects.get()
    response = client.get(
        AUTHORIZE_PATH, authorize_params(rp, code_verifier=VERIFIER, extra={"prompt": "login"})
    )
    login = login_location(response)
    # Opening the resume URL without logging in again does not issue a code.
    resume = f"/auth/realms/{settings.IDP_REALM}/protocol/openid-connect/auth/resume/"
    txn = login.removeprefix("/login/")
    assert client.get(resume + txn)["Location"] == login
    assert AuthorizationCode.objects.count() == 1
    response = test_login(client, login, id_nat=pro.id_nat)
    code = callback_params(response)["code"]
    after = SsoSession.objects.get()
    assert after.sid == before.sid and after.auth_time > before.auth_time
    assert _code_row(code).auth_time == after.auth_time


def test_prompt_none_without_session_is_login_required(client, rp):
    response = client.get(
        AUTHORIZE_PATH,
        authorize_params(rp, code_verifier=VERIFIER, state="st", extra={"prompt": "none"}),
    )
    assert response["Location"].startswith(REDIRECT_URI + "?")
    assert callback_params(response) == {
        "error": "login_required",
        "error_description": "The professional must log in.",
        "state": "st",
        "iss": settings.IDP_ISSUER,
    }
    assert AuthorizationCode.objects.count() == SsoSession.objects.count() == 0


def test_prompt_none_with_session_issues_code(client, rp, pro):
    authorize_and_get_code(client, rp, pro, code_verifier=VERIFIER)
    response = client.get(
        AUTHORIZE_PATH, authorize_params(rp, code_verifier=VERIFIER, extra={"prompt": "none"})
    )
    assert "code" in callback_params(response)


def test_max_age_exceeded_forces_login(client, rp, pro):
    authorize_and_get_code(client, rp, pro, code_verifier=VERIFIER)
    SsoSession.objects.update(auth_time=timezone.now() - timedelta(seconds=120))
    fresh = authorize_params(rp, code_verifier=VERIFIER, extra={"max_age": "300"})
    assert "code" in callback_params(client.get(AUTHORIZE_PATH, fresh))
    stale = authorize_params(rp, code_verifier=VERIFIER, extra={"max_age": "60"})
    login_location(client.get(AUTHORIZE_PATH, stale))
    none = authorize_params(rp, code_verifier=VERIFIER, extra={"max_age": "60", "prompt": "none"})
    assert callback_params(client.get(AUTHORIZE_PATH, none))["error"] == "login_required"


def test_acr_step_up_forces_login_and_records_new_level(client, rp, pro):
    authorize_and_get_code(client, rp, pro, code_verifier=VERIFIER, acr="eidas1")
    params = authorize_params(rp, code_verifier=VERIFIER, extra={"acr_values": "eidas2"})
    login = login_location(client.get(AUTHORIZE_PATH, params))
    page = client.get(login)
    assert b'value="eidas2" selected' in page.content
    response = test_login(client, login, id_nat=pro.id_nat, acr="eidas2")
    code = callback_params(response)["code"]
    assert _code_row(code).acr == "eidas2"
    # Now eidas1 or eidas2 requests are answered by the session.
    again = authorize_params(rp, code_verifier=VERIFIER, extra={"acr_values": "eidas1"})
    assert "code" in callback_params(client.get(AUTHORIZE_PATH, again))


def test_voluntary_acr_not_met_still_issues_code(client, rp, pro):
    params = authorize_params(rp, code_verifier=VERIFIER, extra={"acr_values": "eidas3"})
    login = login_location(client.get(AUTHORIZE_PATH, params))
    response = test_login(client, login, id_nat=pro.id_nat, acr="eidas1")
    assert _code_row(callback_params(response)["code"]).acr == "eidas1"


def test_essential_acr_not_met_is_unmet_authentication_requirements(client, rp, pro):
    claims = {"id_token": {"acr": {"essential": True, "values": ["eidas2", "eidas3"]}}}
    params = authorize_params(
        rp, code_verifier=VERIFIER, state="st", extra={"claims": json.dumps(claims)}
    )
    login = login_location(client.get(AUTHORIZE_PATH, params))
    response = test_login(client, login, id_nat=pro.id_nat, acr="eidas1")
    assert callback_params(response) == {
        "error": "unmet_authentication_requirements",
        "error_description": "The requested authentication level cannot be met.",
        "state": "st",
        "iss": settings.IDP_ISSUER,
    }
    assert AuthorizationCode.objects.count() == 0


@pytest.mark.parametrize(
    "acr_request",
    [{"essential": True, "value": ["eidas2"]}, {"essential": True, "values": [[1], {"a": 1}]}],
)
def test_essential_acr_of_non_string_values_is_no_level_not_a_500(client, rp, pro, acr_request):
    # OIDC Core §5.5.1: value(s) may be any JSON; a list or object names no known level.
    claims = json.dumps({"id_token": {"acr": acr_request}})
    params = authorize_params(rp, code_verifier=VERIFIER, extra={"claims": claims})
    login = login_location(client.get(AUTHORIZE_PATH, params))
    assert client.get(login).status_code == 200
    response = test_login(client, login, id_nat=pro.id_nat, acr="eidas1")
    assert "code" in callback_params(response)
    # The SSO session now answers at once.
    assert "code" in callback_params(client.get(AUTHORIZE_PATH, params))


def test_essential_acr_met_and_claims_kept_on_code(client, rp, pro):
    claims = {
        "id_token": {"acr": {"essential": True, "value": "eidas2"}},
        "userinfo": {"SubjectNameID": None, "given_name": {"essential": True}},
    }
    code, _, _ = authorize_and_get_code(
        client, rp, pro, code_verifier=VERIFIER, acr="eidas3", extra={"claims": json.dumps(claims)}
    )
    row = _code_row(code)
    assert row.claims == claims and row.acr == "eidas3"


def test_unknown_and_disallowed_scopes_are_dropped(client, pro):
    rp = make_client(allowed_scopes=["openid", "scope_all"])[0]
    code, _, _ = authorize_and_get_code(
        client, rp, pro, scope="openid unknown_scope email scope_all openid", code_verifier=VERIFIER
    )
    assert _code_row(code).scope == "openid scope_all"


def test_pkce_optional_when_client_does_not_require_it(client, pro):
    rp = make_client(require_pkce=False)[0]
    code, _, _ = authorize_and_get_code(client, rp, pro)
    assert _code_row(code).code_challenge == ""


def test_plain_pkce_when_client_allows_it(client, pro):
    rp = make_client(allow_plain_pkce=True)[0]
    extra = {"code_challenge": VERIFIER, "code_challenge_method": "plain"}
    code, _, _ = authorize_and_get_code(client, rp, pro, extra=extra)
    row = _code_row(code)
    assert (row.code_challenge, row.code_challenge_method) == (VERIFIER, "plain")


def test_form_post_page_and_csp(client, rp, pro):
    authorize_and_get_code(client, rp, pro, code_verifier=VERIFIER)
    params = authorize_params(
        rp,
        code_verifier=VERIFIER,
        state='"><script>x</script>',
        extra={"response_mode": "form_post"},
    )
    response = client.get(AUTHORIZE_PATH, params)
    action, fields = form_post_params(response)
    assert action == REDIRECT_URI
    assert set(fields) == {"code", "state", "iss"}
    assert fields["state"] == '"><script>x</script>' and fields["iss"] == settings.IDP_ISSUER
    assert b"<script>x</script>" not in response.content  # escaped
    assert response["Cache-Control"] == "no-store"
    csp = response["Content-Security-Policy"]
    assert "form-action https://rp.example.fr" in csp
    assert f"script-src {FORM_POST_SCRIPT_HASH}" in csp
    assert "frame-ancestors 'none'" in csp
    assert b"<noscript>" in response.content
    assert _code_row(fields["code"]).redirect_uri == REDIRECT_URI


def test_flow_helper_handles_form_post(client, rp, pro):
    code, state, params = authorize_and_get_code(
        client, rp, pro, code_verifier=VERIFIER, state="fp", extra={"response_mode": "form_post"}
    )
    assert state == "fp"
    assert params == {"code": code, "state": "fp", "iss": settings.IDP_ISSUER}


def test_form_post_errors(client, rp):
    params = authorize_params(
        rp,
        code_verifier=VERIFIER,
        state="s",
        extra={"response_mode": "form_post", "prompt": "none"},
    )
    action, fields = form_post_params(client.get(AUTHORIZE_PATH, params))
    assert action == REDIRECT_URI
    assert fields["error"] == "login_required" and fields["state"] == "s"
    assert fields["iss"] == settings.IDP_ISSUER


def test_login_page_language_from_ui_locales_and_login_hint(client, rp, pro):
    params = authorize_params(
        rp, code_verifier=VERIFIER, extra={"ui_locales": "de en-GB fr", "login_hint": pro.id_nat}
    )
    page = client.get(login_location(client.get(AUTHORIZE_PATH, params)))
    assert page.status_code == 200
    assert b"Sign in to access" in page.content and b"DMP test" in page.content
    assert f'value="{pro.id_nat}"'.encode() in page.content
    assert '<html lang="en">' in page.content.decode()
    french = authorize_params(rp, code_verifier=VERIFIER, extra={"ui_locales": "fr-FR"})
    page = client.get(login_location(client.get(AUTHORIZE_PATH, french)))
    assert "Connectez-vous pour accéder à".encode() in page.content
    # The login form's redirects end at the client: CSP form-action must allow its origin.
    assert "https://rp.example.fr" in page["Content-Security-Policy"]


def test_native_client_loopback_any_port(client, pro):
    rp = make_client(
        application_type="native",
        redirect_uris=["http://127.0.0.1/callback"],
        token_endpoint_auth_method="none",
    )[0]
    code, _, _ = authorize_and_get_code(
        client,
        rp,
        pro,
        code_verifier=VERIFIER,
        redirect_uri="http://127.0.0.1:51234/callback",
    )
    assert _code_row(code).redirect_uri == "http://127.0.0.1:51234/callback"


def test_native_client_private_scheme(client, pro):
    rp = make_client(
        application_type="native",
        redirect_uris=["fr.caducee.app:/oauth2redirect"],
        token_endpoint_auth_method="none",
    )[0]
    code, _, _ = authorize_and_get_code(
        client, rp, pro, code_verifier=VERIFIER, redirect_uri="fr.caducee.app:/oauth2redirect"
    )
    assert code


def test_suspended_professionals_session_is_not_reused(client, rp, pro):
    from idp.accounts import services

    authorize_and_get_code(client, rp, pro, code_verifier=VERIFIER)
    services.suspend(pro, by="admin:alice", reason="test")
    response = client.get(AUTHORIZE_PATH, authorize_params(rp, code_verifier=VERIFIER))
    login_location(response)
    assert AuthorizationCode.objects.count() == 1


def test_session_of_professional_suspended_behind_services_back_is_ended(client, rp, pro):
    from idp.accounts.models import Professional

    authorize_and_get_code(client, rp, pro, code_verifier=VERIFIER)
    # A status change that bypassed idp.accounts.services (no signal): current() still refuses.
    Professional.objects.filter(pk=pro.pk).update(status="suspended", suspended_at=timezone.now())
    login_location(client.get(AUTHORIZE_PATH, authorize_params(rp, code_verifier=VERIFIER)))
    assert SsoSession.objects.get().end_reason == "account_suspended"


def test_clean_alias_path(client, rp, pro):
    authorize_and_get_code(client, rp, pro, code_verifier=VERIFIER)
    response = client.get("/oidc/authorize", authorize_params(rp, code_verifier=VERIFIER))
    assert "code" in callback_params(response)
