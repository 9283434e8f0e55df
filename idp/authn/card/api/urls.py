"""``/api/card/v1/``: mounted by idp/urls.py and served through the lean handler (no session)."""

from django.urls import include, path

from idp.authn.card.api import config

app_name = "card_api"

urlpatterns = [
    # Before any device exists: the server's VAPID public key for push subscriptions.
    path("push-key", config.push_key, name="push_key"),
    # Activation, the device itself and its siblings (docs/design/card-app.md § The app API).
    path("", include("idp.authn.card.api.enrolment_urls")),
    # What the holder answers: challenges (push, QR, CIBA) and their SSO sessions.
    path("", include("idp.authn.card.api.holder_urls")),
]
