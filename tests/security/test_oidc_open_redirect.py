"""Attack: use the authorization endpoint as an open redirector (RFC 9700 §4.1, §4.11).

An attacker crafts an authorization URL with their own redirect_uri, hoping for a redirect (with a
code, or at least an error) to a site they control. Every variant must end on our error page, with
no Location header and nothing created.
"""

from __future__ import annotations

import pytest

from tests.oidc.factories import make_client, make_professional
from tests.oidc.flows import (
    AUTHORIZE_PATH,
    authorize_and_get_code,
    authorize_params,
    state_snapshot,
)

pytestmark = pytest.mark.django_db

VERIFIER = "dBjftJeZ4CVP-mJ92K9CCFvZ0TqGX4bX2Pj4lqu1y6ZfGhAkXj"
EVIL = [
    "https://evil.example/callback",
    "https://rp.example.fr.evil.example/callback",
    "https://rp.example.fr@evil.example/callback",
    "https://rp.example.fr/callback/../../evil",
    "https://rp.example.fr/callback/..%2F..%2Fevil",
    "https://rp.example.fr/callback?next=https://evil.example",
    "https://rp.example.fr/callbackevil",
    "https://rp.example.fr/callback%23@evil.example",
    "https://rp.example.fr\\@evil.example/callback",
    "//evil.example/callback",
    "javascript:alert(document.domain)",
    "data:text/html,<script>alert(1)</script>",
]


@pytest.fixture
def victim_session(client, settings):
    """The victim is logged in: prompt=none would answer at once, were the URI accepted."""
    settings.IDP_TEST_LOGIN = True
    rp = make_client()[0]
    authorize_and_get_code(client, rp, make_professional(), code_verifier=VERIFIER)
    return rp


@pytest.mark.parametrize("evil", EVIL)
@pytest.mark.parametrize(
    "extra",
    [{}, {"prompt": "none"}, {"response_type": "token"}, {"response_mode": "form_post"}],
)
def test_unregistered_redirect_uri_never_redirects(client, victim_session, evil, extra):
    before = state_snapshot()
    params = authorize_params(victim_session, code_verifier=VERIFIER, redirect_uri=evil)
    response = client.get(AUTHORIZE_PATH, params | extra)
    assert response.status_code == 400
    assert "Location" not in response
    main = response.content.split(b"<main>")[-1]  # (the header's language form keeps the path)
    assert b"evil.example" not in main and b"<form" not in main
    assert state_snapshot() == before


@pytest.mark.parametrize("evil", EVIL[:3])
def test_unknown_client_with_attacker_uri_never_redirects(client, evil):
    before = state_snapshot()
    response = client.get(
        AUTHORIZE_PATH,
        {"client_id": "attacker", "redirect_uri": evil, "response_type": "code", "scope": "openid"},
    )
    assert response.status_code == 400 and "Location" not in response
    assert state_snapshot() == before


def test_other_clients_redirect_uri_is_refused(client, victim_session):
    """A URI registered by ANOTHER client is not registered for this one."""
    make_client(name="Attacker RP", redirect_uris=["https://evil.example/callback"])
    before = state_snapshot()
    params = authorize_params(
        victim_session, code_verifier=VERIFIER, redirect_uri="https://evil.example/callback"
    )
    response = client.get(AUTHORIZE_PATH, params)
    assert response.status_code == 400 and "Location" not in response
    assert state_snapshot() == before
