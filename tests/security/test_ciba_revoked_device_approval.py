"""Attack: a phone approves a CIBA request, then is reported lost and revoked (or gets blocked)
before the client redeems the auth_req_id. As at the login page's complete, the revoked device's
approval no longer counts: access_denied, no session, no token, the challenge stays unconsumed."""

from __future__ import annotations

import pytest

from idp.authn.card import devices
from idp.oidc.models import RefreshToken, SsoSession
from tests.oidc.ciba import approve, challenge_of, make_ciba_client, make_holder, poll, row, start

pytestmark = pytest.mark.django_db


def test_an_approval_by_a_since_revoked_device_is_not_redeemed(client):
    rp, secret = make_ciba_client("poll")
    professional, device, phone = make_holder(53)
    auth_req_id = start(client, rp, secret, professional, binding_message="08")
    assert approve(client, device, phone, challenge_of(auth_req_id).public_id,
                   number="08").status_code == 200  # fmt: skip
    devices.revoke(device, actor="professional:lost", reason="lost")

    response = poll(client, rp, secret, auth_req_id)
    assert (response.status_code, response.json()["error"]) == (400, "access_denied")
    assert "access_token" not in response.json()
    after = row(auth_req_id)
    assert after.issued_at is None
    assert after.challenge.consumed_at is None
    assert not SsoSession.objects.exists()
    assert not RefreshToken.objects.exists()
