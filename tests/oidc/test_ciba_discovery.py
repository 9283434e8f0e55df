"""CIBA in the discovery documents (OpenID CIBA Core 1.0 §4), and the endpoint on the lean stack."""

from __future__ import annotations

import pytest
from django.conf import settings

from idp.core.protocol_handler import PROTOCOL_ROUTES, ProtocolRouter
from tests.oidc.ciba import CIBA_URL

pytestmark = pytest.mark.django_db

ISSUER_PATH = f"/auth/realms/{settings.IDP_REALM}"


@pytest.mark.parametrize(
    "path",
    [
        f"{ISSUER_PATH}/.well-known/openid-configuration",
        f"{ISSUER_PATH}/.well-known/wallet-openid-configuration",
        f"/.well-known/oauth-authorization-server/auth/realms/{settings.IDP_REALM}",
    ],
)
def test_ciba_metadata(client, path):
    document = client.get(path).json()

    assert document["backchannel_authentication_endpoint"] == (
        f"{settings.IDP_ISSUER}/protocol/openid-connect/ext/ciba/auth"
    )
    assert document["backchannel_token_delivery_modes_supported"] == ["poll", "ping"]
    assert document["backchannel_user_code_parameter_supported"] is False
    # Signed authentication requests are not supported: not advertised (§4).
    assert "backchannel_authentication_request_signing_alg_values_supported" not in document
    assert "urn:openid:params:grant-type:ciba" in document["grant_types_supported"]


def test_the_advertised_endpoint_is_the_route(client):
    assert f"{ISSUER_PATH}/protocol/openid-connect/ext/ciba/auth" == CIBA_URL
    response = client.get(CIBA_URL)
    assert response.status_code == 405 and response.json()["error"] == "invalid_request"


def test_ciba_endpoint_goes_through_the_lean_stack():
    assert "ciba" in PROTOCOL_ROUTES
    router = ProtocolRouter(pages=lambda *a: "pages", protocol=lambda *a: "protocol")
    assert router({"PATH_INFO": CIBA_URL}, None) == "protocol"
