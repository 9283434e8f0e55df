"""``/api/card/v1/``: mounted by idp/urls.py and served through the lean handler (no session)."""

from django.urls import include, path

app_name = "card_api"

urlpatterns = [
    # Activation, the device itself and its siblings (docs/design/card-app.md § The app API).
    path("", include("idp.authn.card.api.enrolment_urls")),
    # What the holder answers: challenges (push, QR, CIBA) and their SSO sessions.
    path("", include("idp.authn.card.api.holder_urls")),
]
