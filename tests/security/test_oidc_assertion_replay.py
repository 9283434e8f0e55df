"""Attack: a captured private_key_jwt client assertion is replayed (RFC 7523 §3 item 7).

The assertion is signed and unexpired, so only the single-use jti stops it: the replay is refused
as invalid_client, journaled, and no token, row or assertion record is added.
"""

from __future__ import annotations

import time

import pytest
from django.conf import settings
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet, RSAKey

from idp.audit.models import AuditEvent
from idp.audit.tags import EventTag
from idp.oidc.models import UsedClientAssertion
from idp.oidc.protocol.client_auth import JWT_BEARER_ASSERTION
from relying_parties.models import Client
from tests.oidc.factories import make_client
from tests.oidc.grant_helpers import db_state, post_token

pytestmark = pytest.mark.django_db


def test_replayed_assertion_is_refused(client):
    http = client
    key = RSAKey.generate_key(2048, parameters={"alg": "RS256", "use": "sig"}, auto_kid=True)
    model, _ = make_client(
        token_endpoint_auth_method=Client.AuthMethod.PRIVATE_KEY_JWT,
        jwks=KeySet([key]).as_dict(),
    )
    now = int(time.time())
    assertion = jose_jwt.encode(
        {"alg": "RS256", "kid": key.kid},
        {
            "iss": model.client_id,
            "sub": model.client_id,
            "aud": f"{settings.IDP_ISSUER}/protocol/openid-connect/token",
            "exp": now + 120,
            "jti": "captured-once",
        },
        key,
    )
    data = {
        "grant_type": "client_credentials",
        "client_assertion_type": JWT_BEARER_ASSERTION,
        "client_assertion": assertion,
    }
    assert post_token(http, data).status_code == 200
    before = db_state()

    replay = post_token(http, data)

    assert replay.status_code == 401
    assert replay.json()["error"] == "invalid_client"
    assert "access_token" not in replay.json()
    assert db_state() == before
    assert UsedClientAssertion.objects.get().jti == "captured-once"
    event = AuditEvent.objects.get(tag=EventTag.OIDC_CLIENT_AUTH_FAILED)
    assert event.data["method"] == "private_key_jwt"
    assert assertion not in str(event.data)
