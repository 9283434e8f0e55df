"""The provider's metadata: OpenID Connect Discovery 1.0 §3 and RFC 8414 §2.

Every URL is built from ``settings.IDP_ISSUER`` (itself from ``IDP_BASE_URL``), never from the
``Host`` header of a request (habit 7): a forged Host must not redirect relying parties to another
token endpoint. Paths come from the ``oidc:`` URL names, so the document cannot drift from the
routes.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.urls import reverse

from idp.accounts.userinfo import TOP_LEVEL_KEYS
from idp.oidc.keys import KeyStore
from idp.oidc.protocol import ciba
from idp.oidc.protocol.authorize import PROMPT_VALUES, RESPONSE_MODES
from idp.oidc.protocol.client_auth import ASSERTION_ALGORITHMS

SCOPES = ("openid", "scope_all", "profile", "email")
ACR_VALUES = ("eidas1", "eidas2", "eidas3")
CLIENT_AUTH_METHODS = (
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
    "tls_client_auth",
)
# private_key_jwt assertions (RFC 7523 §3): what client_auth verifies, and nothing else.
CLIENT_AUTH_SIGNING_ALGS = tuple(sorted(ASSERTION_ALGORITHMS))
# Standard claims of ID tokens and UserInfo (OpenID Connect Core 1.0 §2, §5.1), then PSC's.
STANDARD_CLAIMS = (
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "azp",
    "sid",
    "at_hash",
)

# Endpoint names under the issuer (idp/oidc/urls.py).
_DISCOVERY = "oidc:discovery"
_DISCOVERY_SUFFIX = ".well-known/openid-configuration"


def endpoint_url(name: str) -> str:
    """Absolute URL of the route `name` under the issuer.

    Resolved relative to the issuer's own route and joined to ``IDP_ISSUER``, so that a script
    prefix (or a path in IDP_BASE_URL) never appears twice.
    """
    root = reverse(_DISCOVERY).removesuffix(_DISCOVERY_SUFFIX)
    path = reverse(name)
    if not path.startswith(root):
        raise ValueError(f"Route {name} is not under the issuer.")
    return f"{settings.IDP_ISSUER}/{path[len(root) :]}"


def _claims_supported() -> list[str]:
    claims = list(STANDARD_CLAIMS)
    # UserInfo is PSC's document (idp.accounts.userinfo); it carries no email claim, so none is
    # advertised even though the email scope is accepted (PSC drops nothing a client asks for).
    return claims + [c for c in TOP_LEVEL_KEYS if c not in claims]


def openid_configuration(keystore: KeyStore) -> dict[str, Any]:
    """OpenID Connect Discovery 1.0 §3 (also served as PSC's wallet-openid-configuration).

    Signing algorithms are those the key store can sign with right now: advertising an algorithm
    without an active key would make clients registered for it fail at the first token.
    """
    signing_algs = list(keystore.algorithms)
    auth_methods = list(CLIENT_AUTH_METHODS)
    return {
        "issuer": settings.IDP_ISSUER,
        "authorization_endpoint": endpoint_url("oidc:authorize"),
        "token_endpoint": endpoint_url("oidc:token"),
        "userinfo_endpoint": endpoint_url("oidc:userinfo"),
        "jwks_uri": endpoint_url("oidc:jwks"),
        "introspection_endpoint": endpoint_url("oidc:introspect"),
        "revocation_endpoint": endpoint_url("oidc:revoke"),
        "end_session_endpoint": endpoint_url("oidc:logout"),
        "response_types_supported": ["code"],
        # OAuth 2.0 Form Post Response Mode; fragment is for implicit flows, not offered.
        "response_modes_supported": sorted(RESPONSE_MODES, key=("query", "form_post").index),
        "grant_types_supported": [
            "authorization_code",
            "refresh_token",
            "client_credentials",
            ciba.GRANT_TYPE,
        ],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": signing_algs,
        "userinfo_signing_alg_values_supported": signing_algs,
        "scopes_supported": list(SCOPES),
        "claims_supported": _claims_supported(),
        "claim_types_supported": ["normal"],
        "claims_parameter_supported": True,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "require_request_uri_registration": False,
        # Public clients (native apps) authenticate with nothing but PKCE at the token endpoint,
        # and may introspect and revoke their own tokens.
        "token_endpoint_auth_methods_supported": [*auth_methods, "none"],
        "token_endpoint_auth_signing_alg_values_supported": list(CLIENT_AUTH_SIGNING_ALGS),
        "introspection_endpoint_auth_methods_supported": [*auth_methods, "none"],
        "introspection_endpoint_auth_signing_alg_values_supported": list(CLIENT_AUTH_SIGNING_ALGS),
        "revocation_endpoint_auth_methods_supported": [*auth_methods, "none"],
        "revocation_endpoint_auth_signing_alg_values_supported": list(CLIENT_AUTH_SIGNING_ALGS),
        # RFC 7636 §4.2: plain is a per-client opt-in for legacy clients, never advertised.
        "code_challenge_methods_supported": ["S256"],
        "acr_values_supported": list(ACR_VALUES),
        # OpenID Connect Prompt Create 1.0 §4.1: what the authorization endpoint accepts.
        "prompt_values_supported": sorted(PROMPT_VALUES),
        # RFC 9207 §3: the authorization response (success and error) carries iss.
        "authorization_response_iss_parameter_supported": True,
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "frontchannel_logout_supported": False,
        "frontchannel_logout_session_supported": False,
        # OpenID CIBA Core 1.0 §4: poll and ping through the card app; no signed requests
        # (backchannel_authentication_request_signing_alg_values_supported omitted), no user_code.
        "backchannel_authentication_endpoint": endpoint_url("oidc:ciba"),
        "backchannel_token_delivery_modes_supported": list(ciba.MODES),
        "backchannel_user_code_parameter_supported": False,
        # RFC 8705 §3.3.
        "tls_client_certificate_bound_access_tokens": True,
        "ui_locales_supported": ["fr", "en"],
        "claims_locales_supported": ["fr"],
        # The home page describes the provider for relying parties' developers.
        "service_documentation": f"{settings.IDP_BASE_URL}/",
    }


def oauth_authorization_server_metadata(keystore: KeyStore) -> dict[str, Any]:
    """RFC 8414 §2: the same values; OpenID-only members are allowed there too (§2, last
    paragraph), so the document is the OpenID one."""
    return openid_configuration(keystore)
