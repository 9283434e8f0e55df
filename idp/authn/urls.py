"""Login pages: the seam between the OpenID provider and the authentication methods.

Mounted by idp/urls.py under ``login/`` (docs/design/oidc-provider.md § Endpoints).
"""

from django.urls import path

from idp.authn import views

app_name = "authn"

urlpatterns = [
    path("<str:txn>", views.login, name="login"),
    path("<str:txn>/cancel", views.cancel, name="cancel"),
]
