"""Token revocation (RFC 7009) through HTTP."""

from __future__ import annotations

import pytest

from idp.audit.models import AuditEvent
from idp.oidc import tokens
from idp.oidc.models import RefreshToken, RevokedAccessToken, RevokedGrant
from idp.oidc.protocol.errors import InvalidToken
from tests.oidc.factories import make_client, make_professional, rpps
from tests.oidc.grant_helpers import form_post
from tests.oidc.issued import basic, issue

pytestmark = pytest.mark.django_db

URL = "/auth/realms/esante-wallet/protocol/openid-connect/revoke"
INTROSPECT = "/auth/realms/esante-wallet/protocol/openid-connect/token/introspect"


@pytest.fixture
def professional():
    return make_professional("8" + rpps(21))


@pytest.fixture
def rp():
    return make_client(client_id="dmp")


@pytest.fixture
def other():
    return make_client(client_id="other-rp")


def _revoke(client, credentials, token, **extra):
    return form_post(
        client,
        URL,
        {"token": token, **extra},
        HTTP_AUTHORIZATION=basic(credentials[0].client_id, credentials[1]),
    )


def _still_valid(token: str) -> bool:
    try:
        tokens.validate_access_token(token)
    except InvalidToken:
        return False
    return True


def _revocations() -> tuple[int, int, int]:
    return (
        RevokedGrant.objects.count(),
        RevokedAccessToken.objects.count(),
        RefreshToken.objects.filter(revoked_at__isnull=False).count(),
    )


def test_refresh_token_revokes_its_whole_family(client, professional, rp):
    issued = issue(rp[0], professional)
    sibling = issue(rp[0], professional, session=issued.session)  # another grant, same session

    response = _revoke(client, rp, issued.refresh_token, token_type_hint="refresh_token")

    assert response.status_code == 200
    assert response.content == b""
    assert response["Cache-Control"] == "no-store"
    issued.refresh_row.refresh_from_db()
    assert issued.refresh_row.revoked_at is not None
    assert RevokedGrant.objects.filter(grant_id=issued.grant_id).exists()
    assert not _still_valid(issued.access_token)  # same grant (gid)
    assert _still_valid(sibling.access_token)  # other grant untouched
    event = AuditEvent.objects.get(tag="oidc:token:revoked")
    assert event.data["token_type"] == "refresh_token"
    assert event.actor == "client:dmp"


def test_access_token_is_revoked_by_jti(client, professional, rp):
    issued = issue(rp[0], professional)
    response = _revoke(client, rp, issued.access_token, token_type_hint="access_token")
    assert response.status_code == 200
    assert not _still_valid(issued.access_token)
    assert RevokedAccessToken.objects.count() == 1
    # The refresh token of the grant lives on (RFC 7009 §2.1 makes that a MAY).
    issued.refresh_row.refresh_from_db()
    assert issued.refresh_row.revoked_at is None
    assert AuditEvent.objects.get(tag="oidc:token:revoked").data["token_type"] == "access_token"


def test_wrong_or_unknown_hint_still_finds_the_token(client, professional, rp):
    issued = issue(rp[0], professional)
    assert (
        _revoke(client, rp, issued.access_token, token_type_hint="refresh_token").status_code == 200
    )
    assert not _still_valid(issued.access_token)
    second = issue(rp[0], professional)
    assert _revoke(client, rp, second.refresh_token, token_type_hint="banana").status_code == 200
    assert RevokedGrant.objects.filter(grant_id=second.grant_id).exists()


def test_another_clients_tokens_are_not_revoked(client, professional, rp, other):
    issued = issue(rp[0], professional)
    before = _revocations()
    for token in (issued.access_token, issued.refresh_token):
        response = _revoke(client, other, token)
        assert response.status_code == 200  # RFC 7009 §2.2: nothing to tell
    assert _revocations() == before
    assert _still_valid(issued.access_token)
    assert not AuditEvent.objects.filter(tag="oidc:token:revoked").exists()


@pytest.mark.parametrize("token", ["unknown-token", "a.b.c"])
def test_unknown_token_is_200_and_changes_nothing(client, rp, token):
    before = _revocations()
    assert _revoke(client, rp, token).status_code == 200
    assert _revocations() == before
    assert not AuditEvent.objects.filter(tag="oidc:token:revoked").exists()


def test_revoked_refresh_token_is_inactive_at_introspection(client, professional, rp):
    issued = issue(rp[0], professional)
    _revoke(client, rp, issued.refresh_token)
    body = form_post(
        client,
        INTROSPECT,
        {"token": issued.refresh_token},
        HTTP_AUTHORIZATION=basic("dmp", rp[1]),
    ).json()
    assert body == {"active": False}


def test_bad_client_credentials_is_invalid_client_and_nothing_revoked(client, professional, rp):
    issued = issue(rp[0], professional)
    before = _revocations()
    response = form_post(
        client, URL, {"token": issued.refresh_token}, HTTP_AUTHORIZATION=basic("dmp", "nope")
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert _revocations() == before


def test_missing_token_is_invalid_request(client, rp):
    response = form_post(client, URL, {}, HTTP_AUTHORIZATION=basic("dmp", rp[1]))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_get_is_not_allowed(client):
    assert client.get(URL).status_code == 405
