"""Routes of the card app API: activation, this device and its siblings (see urls.py)."""

from django.urls import path

from idp.authn.card.api import enrolment

urlpatterns = [
    path("activation/start", enrolment.activation_start, name="activation_start"),
    path("activation/complete", enrolment.activation_complete, name="activation_complete"),
    path("device", enrolment.device, name="device"),
    path("devices", enrolment.devices_list, name="devices"),
    path("devices/<str:kid>", enrolment.device_revoke, name="device_revoke"),
]
