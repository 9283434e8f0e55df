"""``/account/card/``: the holder's card app page (mounted by idp/urls.py)."""

from django.urls import path

from idp.authn.card import portal

app_name = "card_portal"

urlpatterns = [
    path("", portal.account, name="account"),
    path("activate", portal.activate, name="activate"),
    path("devices/<str:kid>/revoke", portal.revoke, name="revoke"),
]
