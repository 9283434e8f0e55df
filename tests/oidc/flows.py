"""Drive the browser side of an authorization through Django's test client.

``authorize_and_get_code`` goes authorize → test login → resume → callback and returns the code,
as a relying party's callback would see it. Used by the token, UserInfo and logout tests.
"""

from __future__ import annotations

import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from django.conf import settings
from django.test import Client as BrowserClient
from django.urls import reverse

from idp.core.hashing import s256
from tests.oidc.factories import REDIRECT_URI

AUTHORIZE_PATH = f"/auth/realms/{settings.IDP_REALM}/protocol/openid-connect/auth"


def authorize_url(**params: Any) -> str:
    return f"{reverse('oidc:authorize')}?{urlencode(params)}"


def authorize_params(
    rp_client: Any,
    *,
    scope: str = "openid scope_all",
    state: str | None = None,
    nonce: str | None = None,
    code_verifier: str | None = None,
    redirect_uri: str = REDIRECT_URI,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """A valid authorization request for ``rp_client`` (a Client row or a client_id)."""
    client_id = getattr(rp_client, "client_id", rp_client)
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": scope,
        "state": state if state is not None else secrets.token_urlsafe(12),
        "nonce": nonce if nonce is not None else secrets.token_urlsafe(12),
    }
    if code_verifier:
        params["code_challenge"] = s256(code_verifier)
        params["code_challenge_method"] = "S256"
    params.update(extra or {})
    return {k: v for k, v in params.items() if v is not None}


def callback_params(response: Any) -> dict[str, str]:
    """The parameters a response delivers to the client (302 query or form_post page)."""
    assert response.status_code == 302, (response.status_code, response.content[:500])
    query = parse_qs(urlsplit(response["Location"]).query, keep_blank_values=True)
    return {k: v[0] for k, v in query.items()}


def test_login(browser: BrowserClient, login_url: str, *, id_nat: str, acr: str = "eidas1") -> Any:
    """Submit the test login form found at ``login_url`` (a /login/<txn> path)."""
    return browser.post(login_url, {"id_nat": id_nat, "acr": acr})


test_login.__test__ = False  # not a pytest test


def authorize_and_get_code(
    browser: BrowserClient,
    rp_client: Any,
    professional: Any,
    *,
    scope: str = "openid scope_all",
    nonce: str | None = None,
    state: str | None = None,
    code_verifier: str | None = None,
    redirect_uri: str = REDIRECT_URI,
    acr: str = "eidas1",
    extra: dict[str, str] | None = None,
) -> tuple[str, str, dict[str, str]]:
    """Authorize (logging ``professional`` in with the test method if needed) and return
    ``(code, state, callback_params)``.

    Needs ``settings.IDP_TEST_LOGIN = True`` (the ``test_login_enabled`` fixture). The browser keeps
    its cookies: a second call reuses the SSO session without a login.
    """
    params = authorize_params(
        rp_client,
        scope=scope,
        state=state,
        nonce=nonce,
        code_verifier=code_verifier,
        redirect_uri=redirect_uri,
        extra=extra,
    )
    response = browser.get(AUTHORIZE_PATH, params)
    login_path = login_page_path(response)
    if login_path is not None:
        # The login answers the client at once (interaction.complete_login): the code, or the
        # form_post page.
        response = test_login(browser, login_path, id_nat=professional.id_nat, acr=acr)
    if response.status_code == 200:  # response_mode=form_post
        action, params_back = form_post_params(response)
        assert action == redirect_uri, action
    else:
        params_back = callback_params(response)
        assert response["Location"].startswith(redirect_uri), response["Location"]
    assert "code" in params_back, params_back
    return params_back["code"], params_back.get("state", ""), params_back


def form_post_params(response: Any) -> tuple[str, dict[str, str]]:
    """``(action, fields)`` of a form_post response page (Form Post Response Mode 1.0 §2)."""
    import html
    import re

    assert response.status_code == 200, response.status_code
    body = response.content.decode()
    action = html.unescape(re.search(r'<form[^>]* action="([^"]*)"', body).group(1))
    fields = {
        html.unescape(name): html.unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)"', body)
    }
    return action, fields


def state_snapshot() -> dict[str, int]:
    """Row counts of everything an authorization can create: to assert nothing changed."""
    from idp.audit.models import AuditEvent
    from idp.oidc.models import AuthorizationCode, RefreshToken, SessionClient, SsoSession

    return {
        "codes": AuthorizationCode.objects.count(),
        "sessions": SsoSession.objects.count(),
        "ended_sessions": SsoSession.objects.filter(ended_at__isnull=False).count(),
        "session_clients": SessionClient.objects.count(),
        "refresh_tokens": RefreshToken.objects.count(),
        "audit_events": AuditEvent.objects.count(),
    }


_LOGIN_PAGE_FORM = re.compile(r'<form method="post" action="(/login/[^"/?]+)/card"')


def login_page_path(response: Any) -> str | None:
    """The /login/<txn> path of the login page ``response`` is, or None if it is not one.

    The authorization endpoint shows the login page itself (interaction.begin); its forms post
    to the transaction's paths.
    """
    if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
        return None
    found = _LOGIN_PAGE_FORM.search(response.content.decode())
    return found.group(1) if found else None


def login_location(response: Any) -> str:
    """The /login/<txn> path of the login page an authorization response shows."""
    path = login_page_path(response)
    assert path is not None, (response.status_code, response.content[:300])
    return path
