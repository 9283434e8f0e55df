"""Routes of the card app API: the holder's challenges and sessions (see urls.py)."""

from django.urls import path

from idp.authn.card.api import holder

urlpatterns = [
    path("challenges", holder.pending_challenges, name="challenges"),
    path("challenges/scan", holder.scan, name="challenge_scan"),
    path("challenges/<str:challenge_id>/approve", holder.approve, name="challenge_approve"),
    path("challenges/<str:challenge_id>/deny", holder.deny, name="challenge_deny"),
    path("sessions", holder.session_list, name="sessions"),
    # Before sessions/<sid>: "logout-all" is not a sid.
    path("sessions/logout-all", holder.sessions_logout_all, name="sessions_logout_all"),
    path("sessions/<str:sid>", holder.session_end, name="session_end"),
]
