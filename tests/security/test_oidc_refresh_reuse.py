"""Attack: a stolen refresh token is used after its legitimate holder already rotated it (or the
other way round).

OAuth 2.0 Security BCP §4.14.2: with rotation, the second presentation of a token reveals the
theft; the server cannot tell which party is the attacker, so the whole family is revoked.
"""

from __future__ import annotations

import pytest

from idp.audit.models import AuditEvent
from idp.audit.tags import EventTag
from idp.oidc import tokens
from idp.oidc.models import RefreshToken, RevokedGrant
from idp.oidc.protocol.errors import InvalidToken
from tests.oidc.factories import make_client, make_doctor_with_two_activities
from tests.oidc.grant_helpers import exchange, make_code, make_session, refresh, refresh_row

pytestmark = pytest.mark.django_db


def test_reused_refresh_token_kills_the_family_and_nothing_else(client):
    model, secret = make_client()
    session = make_session(make_doctor_with_two_activities())
    stolen = exchange(client, model.client_id, secret, make_code(model.client_id, session)).json()
    other = exchange(client, model.client_id, secret, make_code(model.client_id, session)).json()

    legit = refresh(client, model.client_id, secret, stolen["refresh_token"]).json()
    attack = refresh(client, model.client_id, secret, stolen["refresh_token"])

    assert attack.status_code == 400
    assert attack.json()["error"] == "invalid_grant"
    assert "access_token" not in attack.json()
    grant_id = refresh_row(stolen["refresh_token"]).grant_id
    assert RevokedGrant.objects.get().grant_id == grant_id
    assert not RefreshToken.objects.filter(grant_id=grant_id, revoked_at__isnull=True).exists()
    for token in (stolen["access_token"], legit["access_token"]):
        with pytest.raises(InvalidToken):
            tokens.validate_access_token(token)
    assert refresh(client, model.client_id, secret, legit["refresh_token"]).status_code == 400
    event = AuditEvent.objects.get(tag=EventTag.OIDC_REFRESH_REUSED)
    assert event.data["grant_id"] == grant_id
    assert stolen["refresh_token"] not in str(event.data)

    # Nothing else changed: the other family of the same session is intact.
    tokens.validate_access_token(other["access_token"])
    assert refresh(client, model.client_id, secret, other["refresh_token"]).status_code == 200
    session.refresh_from_db()
    assert session.ended_at is None
