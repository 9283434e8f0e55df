"""Login pages: the seam between the OpenID provider and the authentication methods.

Mounted by idp/urls.py under ``login/`` (docs/design/oidc-provider.md § Endpoints); the card
app's endpoints are described in idp/authn/card/login.py.
"""

from django.urls import path

from idp.authn import views
from idp.authn.card import login as card

app_name = "authn"

urlpatterns = [
    path("<str:txn>", views.login, name="login"),
    path("<str:txn>/cancel", views.cancel, name="cancel"),
    path("<str:txn>/card", card.start, name="card_start"),
    path("<str:txn>/card/qr", card.start_qr, name="card_qr"),
    path("<str:txn>/card/<str:challenge_id>/status", card.status, name="card_status"),
    path("<str:txn>/card/<str:challenge_id>/complete", card.complete, name="card_complete"),
    path("<str:txn>/offline", card.offline_login, name="offline"),
]
