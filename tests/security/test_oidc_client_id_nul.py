"""Attack: a client_id with a NUL character (which PostgreSQL text cannot hold) at the token and
CIBA endpoints: an unknown client (401 invalid_client), never a 500; nothing is issued."""

from __future__ import annotations

import pytest
from django.test import Client as HttpClient

from idp.oidc.models import CibaRequest, RefreshToken
from tests.oidc.ciba import GRANT_TYPE, ciba_auth, make_ciba_client, make_holder
from tests.oidc.grant_helpers import basic, post_token

pytestmark = pytest.mark.django_db


def test_a_nul_client_id_is_an_unknown_client():
    http = HttpClient()
    rp, secret = make_ciba_client()
    pro, _device, _phone = make_holder(945)
    ciba = ciba_auth(http, rp, secret, auth=basic(rp.client_id + "\x00", secret),
                     scope="openid", login_hint=pro.id_nat)  # fmt: skip
    assert (ciba.status_code, ciba.json()["error"]) == (401, "invalid_client")
    for auth in (basic("a\x00", secret), None):
        data = {"grant_type": GRANT_TYPE, "auth_req_id": "x"}
        if auth is None:
            data["client_id"] = "a\x00"
        token = post_token(http, data, auth=auth)
        assert (token.status_code, token.json()["error"]) == (401, "invalid_client")
    assert not CibaRequest.objects.exists()
    assert not RefreshToken.objects.exists()
