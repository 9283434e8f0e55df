"""Attack: keep using an access token after its client was deactivated (a compromised relying
party switched off by an administrator), at a resource server that introspects it.

UserInfo already refuses such a token; introspection must answer exactly ``{"active": false}``
too, to the resource server as to anyone. Nothing is changed by the attempt.
"""

from __future__ import annotations

import pytest

from relying_parties import registry
from tests.oidc.factories import make_client, make_doctor_with_two_activities
from tests.oidc.grant_helpers import db_state, form_post
from tests.oidc.issued import basic, issue

pytestmark = pytest.mark.django_db

URL = "/auth/realms/esante-wallet/protocol/openid-connect/token/introspect"


def test_access_token_of_a_deactivated_client_is_inactive_at_introspection(client):
    rp, _ = make_client(client_id="dmp")
    api, api_secret = make_client(client_id="api-dmp", grant_types=["client_credentials"])
    issued = issue(rp, make_doctor_with_two_activities())

    def introspect():
        return form_post(
            client,
            URL,
            {"token": issued.access_token},
            HTTP_AUTHORIZATION=basic(api.client_id, api_secret),
        )

    assert introspect().json()["active"] is True

    rp.is_active = False
    rp.save()
    registry.forget()
    before = db_state()
    response = introspect()
    assert response.status_code == 200
    assert response.json() == {"active": False}
    assert response["Cache-Control"] == "no-store"
    assert db_state() == before
