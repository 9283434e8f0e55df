"""Attack: another client (a stolen or guessed auth_req_id) redeems or disturbs a CIBA request.

CIBA Core §11: invalid_grant when the auth_req_id "was issued to another Client". The attacker
gets nothing, burns nothing (the challenge stays unconsumed, no session, no slow_down imposed on
the victim), and the rightful client still gets its tokens.
"""

from __future__ import annotations

import pytest

from idp.oidc.models import SsoSession
from tests.oidc.ciba import approve, challenge_of, make_ciba_client, make_holder, poll, row, start
from tests.oidc.grant_helpers import db_state

pytestmark = pytest.mark.django_db


def test_another_client_cannot_redeem_an_approved_auth_req_id(client):
    victim, victim_secret = make_ciba_client("poll", client_id="victim-rp")
    attacker, attacker_secret = make_ciba_client("poll", client_id="attacker-rp")
    professional, device, phone = make_holder(51)
    auth_req_id = start(client, victim, victim_secret, professional, binding_message="08")
    approve(client, device, phone, challenge_of(auth_req_id).public_id, number="08")
    before = db_state()
    row_before = row(auth_req_id)

    for _ in range(3):
        response = poll(client, attacker, attacker_secret, auth_req_id)
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_grant"
        assert "access_token" not in response.json()

    assert db_state() == before
    after = row(auth_req_id)
    assert (after.issued_at, after.last_polled_at, after.interval) == (
        row_before.issued_at,
        row_before.last_polled_at,
        row_before.interval,
    )
    assert after.challenge.consumed_at is None
    assert not SsoSession.objects.exists()
    # The rightful client is unaffected.
    assert poll(client, victim, victim_secret, auth_req_id).status_code == 200


def test_another_client_cannot_slow_down_a_pending_request(client):
    victim, victim_secret = make_ciba_client("poll", client_id="victim-rp")
    attacker, attacker_secret = make_ciba_client("poll", client_id="attacker-rp")
    professional, _device, _phone = make_holder(52)
    auth_req_id = start(client, victim, victim_secret, professional)

    assert poll(client, attacker, attacker_secret, auth_req_id).json()["error"] == "invalid_grant"

    assert row(auth_req_id).last_polled_at is None
    response = poll(client, victim, victim_secret, auth_req_id)
    assert response.json()["error"] == "authorization_pending"
