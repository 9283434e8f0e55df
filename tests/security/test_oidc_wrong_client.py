"""Attack: a client redeems a code or a refresh token issued to another client (RFC 6749 §4.1.3:
"ensure that the authorization code was issued to the authenticated confidential client").

Refused with invalid_grant; the victim's code is NOT consumed (the attacker cannot burn it) and
nothing is revoked, so the legitimate client still redeems it.
"""

from __future__ import annotations

import pytest

from idp.oidc.models import AuthorizationCode
from tests.oidc.factories import make_client, make_doctor_with_two_activities
from tests.oidc.grant_helpers import db_state, exchange, make_code, make_session, refresh

pytestmark = pytest.mark.django_db


def test_code_of_another_client_is_refused_and_left_intact(client):
    victim, victim_secret = make_client()
    attacker, attacker_secret = make_client()
    session = make_session(make_doctor_with_two_activities())
    code = make_code(victim.client_id, session)
    before = db_state()

    attack = exchange(client, attacker.client_id, attacker_secret, code)

    assert attack.status_code == 400
    assert attack.json()["error"] == "invalid_grant"
    assert db_state() == before
    assert AuthorizationCode.objects.get().consumed_at is None
    assert exchange(client, victim.client_id, victim_secret, code).status_code == 200


def test_refresh_token_of_another_client_is_refused(client):
    victim, victim_secret = make_client()
    attacker, attacker_secret = make_client()
    session = make_session(make_doctor_with_two_activities())
    issued = exchange(client, victim.client_id, victim_secret, make_code(victim.client_id, session))
    token = issued.json()["refresh_token"]
    before = db_state()

    attack = refresh(client, attacker.client_id, attacker_secret, token)

    assert attack.status_code == 400
    assert attack.json()["error"] == "invalid_grant"
    assert db_state() == before
    assert refresh(client, victim.client_id, victim_secret, token).status_code == 200
