"""Attack: a (compromised or malicious) client floods a professional's phone with CIBA requests,
hoping for an approval by fatigue (push bombing).

Bounded twice: the card app's pending-challenge cap and the per-idNat challenge rate limit
shared with the login page. Refused requests create nothing and are journaled.
"""

from __future__ import annotations

import pytest

from idp.audit.models import AuditEvent
from idp.authn.card import limits
from idp.authn.card.models import CardChallenge
from idp.oidc.models import CibaRequest
from tests.oidc.ciba import ciba_auth, make_ciba_client, make_holder

pytestmark = pytest.mark.django_db


def test_flood_is_capped(client, settings, ratelimit_clock):
    settings.IDP_CARD_MAX_PENDING = 3
    model, secret = make_ciba_client("poll")
    professional, _device, _phone = make_holder(57)

    statuses = [
        ciba_auth(client, model, secret, scope="openid", login_hint=professional.id_nat).status_code
        for _ in range(limits.CHALLENGES_PER_ID_NAT.limit + 5)
    ]

    assert statuses[:3] == [200, 200, 200]
    assert set(statuses[3:]) == {403}
    assert CibaRequest.objects.count() == CardChallenge.objects.count() == 3
    refused = ciba_auth(client, model, secret, scope="openid", login_hint=professional.id_nat)
    assert refused.json()["error"] == "access_denied"
    assert AuditEvent.objects.filter(tag="oidc:ciba:refused", data__reason="rate_limited").exists()
    assert AuditEvent.objects.filter(
        tag="oidc:ciba:refused", data__reason="too_many_pending"
    ).exists()
