"""The professionals' admin, through HTTP with a second-factor-verified administrator."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django_otp import DEVICE_ID_SESSION_KEY

from idp.accounts.models import Exercice, Professional
from idp.audit.models import AuditEvent
from idp.audit.tags import EventTag
from tests.accounts.factories import make_doctor_with_two_activities, make_professional, rpps

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/accounts/professional/"


def _verified_client(client, user):
    """Log ``user`` in and mark the session verified by a confirmed TOTP device, as the
    OTP middleware expects (``otp_device_id`` holds the device's persistent id)."""
    from idp.authn.models import StaffTOTPDevice

    device = StaffTOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


@pytest.fixture
def alice(client):
    user = get_user_model().objects.create_superuser(
        "alice", "alice@example.org", "correct horse battery staple 42"
    )
    return _verified_client(client, user)


@pytest.fixture
def viewer(client):
    """Staff who may view professionals but not suspend them."""
    user = get_user_model().objects.create_user(
        "victor", "victor@example.org", "correct horse battery staple 42", is_staff=True
    )
    user.user_permissions.add(Permission.objects.get(codename="view_professional"))
    return _verified_client(client, user)


@pytest.fixture
def doctor():
    return make_doctor_with_two_activities()


def _post_action(client, action, professionals, **extra):
    data = {"action": action, "_selected_action": [p.pk for p in professionals], **extra}
    return client.post(CHANGELIST, data)


def test_unverified_staff_is_sent_to_the_login_page(client, doctor):
    user = get_user_model().objects.create_superuser("bob", "bob@example.org", "x" * 20)
    client.force_login(user)
    response = client.get(CHANGELIST)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_changelist_columns(alice, doctor):
    response = alice.get(CHANGELIST)
    assert response.status_code == 200
    html = response.content.decode()
    assert doctor.id_nat in html
    assert "JEAN MARTIN" in html
    assert "Médecin" in html
    assert "Active" in html or "Actif" in html


def test_search_by_id_nat_and_name(alice, doctor):
    other = make_professional("8" + rpps(7))
    response = alice.get(CHANGELIST, {"q": doctor.id_nat})
    assert list(response.context["cl"].result_list) == [doctor]
    response = alice.get(CHANGELIST, {"q": "MARTIN"})
    assert doctor in response.context["cl"].result_list
    assert other not in response.context["cl"].result_list


def test_filters_by_status_and_profession(alice, doctor):
    nurse = make_professional("8" + rpps(8))
    Exercice.objects.create(professional=nurse, code_profession="60")
    response = alice.get(CHANGELIST, {"profession": "60"})
    assert list(response.context["cl"].result_list) == [nurse]
    response = alice.get(CHANGELIST, {"status__exact": "suspended"})
    assert list(response.context["cl"].result_list) == []


def test_change_form_is_read_only(alice, doctor):
    url = f"{CHANGELIST}{doctor.pk}/change/"
    response = alice.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    for field in ("id_nat", "identifier", "family_name", "email", "mobile", "sub"):
        assert f'name="{field}"' not in html, field
    assert doctor.sub in html  # shown, never editable
    assert "CABINET DU DR MARTIN" in html  # activities summary
    assert 'name="_save"' not in html
    assert response.context["adminform"].form.fields == {}


def test_posting_a_change_is_refused(alice, doctor):
    url = f"{CHANGELIST}{doctor.pk}/change/"
    before = Professional.objects.filter(pk=doctor.pk).values().get()
    response = alice.post(
        url, {"id_nat": "810100271385", "sub": "attacker", "mobile": "+33600000000"}
    )
    assert response.status_code == 403
    assert Professional.objects.filter(pk=doctor.pk).values().get() == before


def test_no_add_no_delete(alice, doctor):
    assert alice.get(f"{CHANGELIST}add/").status_code == 403
    assert alice.post(f"{CHANGELIST}{doctor.pk}/delete/", {"post": "yes"}).status_code == 403
    choices = dict(alice.get(CHANGELIST).context["action_form"].fields["action"].choices)
    assert "delete_selected" not in choices
    assert {"suspend_selected", "reactivate_selected"} <= set(choices)
    _post_action(alice, "delete_selected", [doctor], post="yes")
    assert Professional.objects.filter(pk=doctor.pk).exists()


def test_exercice_page_shows_activities_read_only(alice, doctor):
    exercice = doctor.exercices.get()
    response = alice.get(f"/admin/accounts/exercice/{exercice.pk}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "HOPITAL GENERIQUE" in html
    assert 'name="activities-0-raison_sociale_site"' not in html


def test_suspend_asks_for_a_reason_then_suspends(alice, doctor):
    response = _post_action(alice, "suspend_selected", [doctor])
    assert response.status_code == 200
    assert response.templates[0].name == "admin/accounts/professional/status_change.html"
    assert doctor.id_nat in response.content.decode()
    assert Professional.objects.get(pk=doctor.pk).status == "active"  # nothing yet

    response = _post_action(
        alice, "suspend_selected", [doctor], apply="1", reason="Card reported stolen"
    )
    assert response.status_code == 302
    notices = [str(m) for m in response.wsgi_request._messages]
    assert any(m.startswith("1 ") and "suspend" in m for m in notices), notices
    stored = Professional.objects.get(pk=doctor.pk)
    assert stored.status == Professional.Status.SUSPENDED
    assert stored.suspended_by == "admin:alice"
    assert stored.suspension_reason == "Card reported stolen"
    (event,) = AuditEvent.objects.filter(tag=EventTag.ACCOUNTS_PROFESSIONAL_SUSPENDED)
    assert event.actor == "admin:alice"
    assert event.subject == doctor.sub
    assert event.data["reason"] == "Card reported stolen"
    assert event.ip == "127.0.0.1"


def test_suspend_without_reason_changes_nothing(alice, doctor):
    response = _post_action(alice, "suspend_selected", [doctor], apply="1", reason="   ")
    assert response.status_code == 200
    assert response.context["form"].errors
    assert Professional.objects.get(pk=doctor.pk).status == Professional.Status.ACTIVE
    assert not AuditEvent.objects.filter(tag=EventTag.ACCOUNTS_PROFESSIONAL_SUSPENDED).exists()


def test_reactivate(alice, doctor):
    _post_action(alice, "suspend_selected", [doctor], apply="1", reason="investigation")
    response = _post_action(
        alice, "reactivate_selected", [doctor], apply="1", reason="investigation closed"
    )
    assert response.status_code == 302
    assert Professional.objects.get(pk=doctor.pk).status == Professional.Status.ACTIVE
    (event,) = AuditEvent.objects.filter(tag=EventTag.ACCOUNTS_PROFESSIONAL_REACTIVATED)
    assert event.actor == "admin:alice"
    assert event.data["reason"] == "investigation closed"


def test_reactivating_an_active_professional_is_reported_not_journaled(alice, doctor):
    response = _post_action(
        alice, "reactivate_selected", [doctor], apply="1", reason="nothing to lift"
    )
    assert response.status_code == 302
    messages = [str(m) for m in response.wsgi_request._messages]
    assert any(doctor.id_nat in m for m in messages)
    assert not AuditEvent.objects.filter(tag=EventTag.ACCOUNTS_PROFESSIONAL_REACTIVATED).exists()


def test_staff_without_the_suspend_permission_cannot_suspend(viewer, doctor):
    response = viewer.get(CHANGELIST)
    assert response.status_code == 200
    # No action at all is offered to them (suspend/reactivate need the permission, delete is off).
    assert response.context["action_form"] is None
    _post_action(viewer, "suspend_selected", [doctor], apply="1", reason="no right")
    assert Professional.objects.get(pk=doctor.pk).status == Professional.Status.ACTIVE
    assert not AuditEvent.objects.filter(tag=EventTag.ACCOUNTS_PROFESSIONAL_SUSPENDED).exists()
