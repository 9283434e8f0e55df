"""Attack: present one kind of token where another is expected (token substitution).

An ID token, a refresh token, a logout token or a signed UserInfo response is offered as a bearer
access token to UserInfo, or to introspection; an access token is offered as ``id_token_hint``.
Each is refused (``invalid_token`` / ``{"active": false}`` / ``invalid_request``), and nothing
changes: no session ends, nothing is revoked, no journal entry but the expected ones.
"""

from __future__ import annotations

import pytest
from django.http import HttpResponse

from idp.audit.models import AuditEvent
from idp.oidc import backchannel, sessions
from idp.oidc.models import LogoutDelivery, RefreshToken, RevokedAccessToken, RevokedGrant
from relying_parties import registry
from tests.oidc.factories import make_client, make_doctor_with_two_activities
from tests.oidc.grant_helpers import form_post
from tests.oidc.issued import basic, issue

pytestmark = pytest.mark.django_db

BASE = "/auth/realms/esante-wallet/protocol/openid-connect"


@pytest.fixture(scope="module")
def _module_key_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("signing-keys")


@pytest.fixture(autouse=True)
def _provider(settings, _module_key_dir):
    """Signing keys and a fresh client cache, as the provider's own tests have."""
    settings.IDP_KEY_DIR = _module_key_dir
    settings.IDP_AUTOGENERATE_KEYS = True
    registry.forget()
    yield
    registry.forget()


@pytest.fixture
def setting():
    doctor = make_doctor_with_two_activities()
    rp, secret = make_client(client_id="dmp", userinfo_signed_response_alg="RS256")
    return doctor, rp, secret, issue(rp, doctor)


def _state():
    return (
        AuditEvent.objects.count(),
        RevokedGrant.objects.count(),
        RevokedAccessToken.objects.count(),
        RefreshToken.objects.filter(revoked_at__isnull=False).count(),
        LogoutDelivery.objects.count(),
    )


def _substitutes(client, issued, rp):
    signed_userinfo = client.get(
        f"{BASE}/userinfo", HTTP_AUTHORIZATION=f"Bearer {issued.access_token}"
    ).content.decode()
    logout_token = backchannel.logout_token(
        client_id=rp.client_id,
        alg="RS256",
        sub=issued.session.professional.sub,
        sid=issued.session.sid,
    )
    return {
        "id_token": issued.id_token,
        "refresh_token": issued.refresh_token,
        "logout_token": logout_token,
        "signed_userinfo": signed_userinfo,
    }


def test_non_access_tokens_are_refused_by_userinfo(client, setting):
    _doctor, rp, _secret, issued = setting
    substitutes = _substitutes(client, issued, rp)
    before = _state()
    for name, token in substitutes.items():
        response = client.get(f"{BASE}/userinfo", HTTP_AUTHORIZATION=f"Bearer {token}")
        assert response.status_code == 401, name
        assert response.json() == {
            "error": "invalid_token",
            "error_description": "The access token is invalid or expired.",
        }, name
        assert 'error="invalid_token"' in response["WWW-Authenticate"], name
    assert _state() == before
    issued.session.refresh_from_db()
    assert issued.session.ended_at is None


def test_non_access_jwts_are_inactive_at_introspection(client, setting):
    _doctor, rp, secret, issued = setting
    substitutes = _substitutes(client, issued, rp)
    del substitutes["refresh_token"]  # a genuine refresh token is introspectable by its client
    before = _state()
    for name, token in substitutes.items():
        response = form_post(
            client,
            f"{BASE}/token/introspect",
            {"token": token, "token_type_hint": "access_token"},
            HTTP_AUTHORIZATION=basic("dmp", secret),
        )
        assert response.json() == {"active": False}, name
    assert _state() == before


def test_access_token_as_id_token_hint_does_not_log_out(client, setting):
    _doctor, _rp, _secret, issued = setting
    response = HttpResponse()
    sessions.set_cookie(response, issued.session)
    client.cookies[sessions.COOKIE_NAME] = response.cookies[sessions.COOKIE_NAME].value
    before = _state()

    response = client.get(f"{BASE}/logout", {"id_token_hint": issued.access_token})

    assert response.status_code == 400
    assert _state() == before
    issued.session.refresh_from_db()
    assert issued.session.ended_at is None
