"""Routes of the OpenID provider, Keycloak-style under the issuer (psc-compat.md § Endpoints).

Mounted twice by idp/urls.py: under ``auth/realms/<realm>/`` (the issuer, the source of truth) and
under ``oidc/`` (clean aliases).
"""

from django.urls import path

from idp.oidc.views import authorize, ciba, discovery, logout, resources, token

app_name = "oidc"

PROTOCOL = "protocol/openid-connect/"

urlpatterns = [
    path(".well-known/openid-configuration", discovery.openid_configuration, name="discovery"),
    path(
        ".well-known/wallet-openid-configuration",
        discovery.wallet_configuration,
        name="discovery_wallet",
    ),
    path(
        ".well-known/oauth-authorization-server",
        discovery.oauth_metadata,
        name="discovery_oauth",
    ),
    path(f"{PROTOCOL}certs", discovery.jwks, name="jwks"),
    path(f"{PROTOCOL}auth", authorize.authorize, name="authorize"),
    path(f"{PROTOCOL}auth/resume/<str:txn>", authorize.resume, name="resume"),
    path(f"{PROTOCOL}token", token.token, name="token"),
    path(f"{PROTOCOL}token/introspect", resources.introspect, name="introspect"),
    path(f"{PROTOCOL}revoke", resources.revoke, name="revoke"),
    path(f"{PROTOCOL}userinfo", resources.userinfo, name="userinfo"),
    path(f"{PROTOCOL}logout", logout.logout, name="logout"),
    # OpenID CIBA Core 1.0 §7, at PSC's (Keycloak's) path.
    path(f"{PROTOCOL}ext/ciba/auth", ciba.backchannel_authentication, name="ciba"),
]

aliases = [
    path("authorize", authorize.authorize),
    path("token", token.token),
    path("userinfo", resources.userinfo),
    path("introspect", resources.introspect),
    path("revoke", resources.revoke),
    path("logout", logout.logout),
    path("jwks", discovery.jwks),
]
