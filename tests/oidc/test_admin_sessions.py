"""Administrators list SSO sessions and end them; nothing else about a session is editable."""

import pytest
from django.urls import reverse

from idp.audit.models import AuditEvent
from idp.audit.tags import EventTag
from idp.oidc import revocation
from idp.oidc.models import SsoSession
from tests.authn.helpers import make_staff, verified_admin_client
from tests.oidc.factories import make_doctor_with_two_activities
from tests.oidc.grant_helpers import make_session

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    return verified_admin_client(client, make_staff())


def test_sessions_are_listed(admin_client):
    session = make_session(make_doctor_with_two_activities())
    response = admin_client.get(reverse("admin:oidc_ssosession_changelist"))
    assert response.status_code == 200
    assert session.sid[:8] in response.content.decode()


def test_ending_sessions_from_the_admin(admin_client):
    doctor = make_doctor_with_two_activities()
    open_session, other = make_session(doctor), make_session(doctor)
    response = admin_client.post(
        reverse("admin:oidc_ssosession_changelist"),
        {"action": "end_selected", "_selected_action": [open_session.pk]},
    )
    assert response.status_code == 302
    open_session.refresh_from_db()
    other.refresh_from_db()
    assert open_session.ended_at is not None and open_session.end_reason == "admin"
    assert other.ended_at is None
    assert revocation.is_revoked(sid=open_session.sid)
    event = AuditEvent.objects.get(tag=EventTag.OIDC_SESSION_ENDED, subject=open_session.sid)
    assert event.actor == "admin:alice"


def test_a_session_page_is_read_only(admin_client):
    session = make_session(make_doctor_with_two_activities())
    url = reverse("admin:oidc_ssosession_change", args=[session.pk])
    assert admin_client.get(url).status_code == 200
    before = SsoSession.objects.values().get(pk=session.pk)
    response = admin_client.post(url, {"end_reason": "forged", "acr": "eidas3"})
    assert response.status_code == 403
    assert SsoSession.objects.values().get(pk=session.pk) == before
