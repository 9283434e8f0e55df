"""A live Caducée for relying-party libraries to talk to over real HTTP."""

from __future__ import annotations

import pytest

from tests.oidc.factories import make_client, make_doctor_with_two_activities

REDIRECT_URI = "https://rp.example.fr/callback"
POST_LOGOUT_URI = "https://rp.example.fr/logged-out"


@pytest.fixture
def live_provider(live_server, settings) -> str:
    """The provider served by a real HTTP server thread, its issuer under the server's address."""
    base = live_server.url
    settings.IDP_BASE_URL = base
    settings.IDP_ISSUER = f"{base}/auth/realms/{settings.IDP_REALM}"
    settings.IDP_TEST_LOGIN = True
    settings.CSRF_TRUSTED_ORIGINS = [base]
    # Plain HTTP on loopback: cookies cannot be Secure (nor __Host-) for the scripted browsers.
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    settings.CSRF_COOKIE_NAME = "caducee_csrf"
    settings.SESSION_COOKIE_NAME = "caducee_session"
    return settings.IDP_ISSUER


@pytest.fixture
def registered_rp(db):
    """A confidential client as a PSC-integrated service registers it, and its secret."""
    client, secret = make_client(
        redirect_uris=[REDIRECT_URI], post_logout_redirect_uris=[POST_LOGOUT_URI]
    )
    return client, secret


@pytest.fixture
def doctor(db):
    return make_doctor_with_two_activities()
