from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from idp.core import views as core_views
from idp.oidc import urls as oidc_urls

urlpatterns = [
    path("", core_views.home, name="home"),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    # The login journey: the authentication methods complete the provider's login transactions.
    path("login/", include("idp.authn.urls")),
    # The holder's card app page: devices, revocation, activation by QR code.
    path("account/card/", include("idp.authn.card.portal_urls")),
    # The card app's signed JSON API (docs/design/card-app.md).
    path("api/card/v1/", include("idp.authn.card.api.urls")),
    # The issuer: {IDP_BASE_URL}/auth/realms/{IDP_REALM} (psc-compat.md § Endpoints).
    path(f"auth/realms/{settings.IDP_REALM}/", include(oidc_urls)),
    path("oidc/", include((oidc_urls.aliases, "oidc_alias"))),
    # RFC 8414 §3: metadata of an issuer with a path lives at the root, suffixed by that path.
    path(
        f".well-known/oauth-authorization-server/auth/realms/{settings.IDP_REALM}",
        oidc_urls.discovery.oauth_metadata,
    ),
]
