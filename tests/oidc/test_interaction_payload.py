"""idp.oidc.interaction stores the authorization request as AuthorizationRequest.to_dict does."""

from __future__ import annotations

import json

import pytest

from idp.oidc import interaction
from idp.oidc.protocol.authorize import AuthorizationRequest
from tests.oidc.factories import REDIRECT_URI, make_client

pytestmark = pytest.mark.django_db


def test_the_stored_request_is_to_dict_without_the_client():
    client = make_client()[0]
    req = AuthorizationRequest(
        client_id=client.client_id,
        redirect_uri=REDIRECT_URI,
        redirect_verified=True,
        response_mode="form_post",
        state="st",
        scope=("openid", "profile"),
        nonce="n",
        code_challenge="c" * 43,
        code_challenge_method="S256",
        prompt=("login",),
        max_age=60,
        acr_values=("eidas1",),
        login_hint="810001234567",
        ui_locales=("fr-FR", "en"),
        claims={"id_token": {"acr": {"essential": True, "values": ["eidas1"]}}},
        client=client,
    )
    data = interaction._request_data(req)
    assert "client" not in data
    assert json.dumps(data, sort_keys=True) == json.dumps(req.to_dict(), sort_keys=True)
    rebuilt = AuthorizationRequest.from_dict(json.loads(json.dumps(data)))
    assert rebuilt == req
