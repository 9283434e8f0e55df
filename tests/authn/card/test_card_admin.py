"""The card app in the admin: devices (revoke, unblock), activations (read-only), and the
professional's action that issues an in-person activation code. Through HTTP, OTP-verified."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from idp.audit.models import AuditEvent
from idp.authn.card import activation
from idp.authn.card.models import ActivationMethod, CardActivation, CardDevice
from tests.accounts.factories import make_professional, rpps
from tests.authn.card.helpers import FakePhone, enrol
from tests.authn.card.test_activation import complete_with_code
from tests.authn.helpers import make_staff, verified_admin_client

pytestmark = pytest.mark.django_db

DEVICES = "/admin/authn/carddevice/"
ACTIVATIONS = "/admin/authn/cardactivation/"
PROFESSIONALS = "/admin/accounts/professional/"


@pytest.fixture
def alice(client):
    return verified_admin_client(client, make_staff("alice"))


@pytest.fixture
def viewer(client):
    """Staff who may view devices, activations and professionals, and change nothing."""
    user = make_staff("victor", superuser=False, is_staff=True)
    for codename in ("view_carddevice", "view_cardactivation", "view_professional"):
        user.user_permissions.add(Permission.objects.get(codename=codename))
    return verified_admin_client(client, user)


@pytest.fixture
def holder():
    return make_professional("8" + rpps(41), family_name="PETIT", given_names="MARC")


def post_action(client, url, action, objects):
    return client.post(
        url, {"action": action, "_selected_action": [o.pk for o in objects]}, follow=True
    )


def messages_of(response) -> list[str]:
    """The admin messages, in French (the default language)."""
    return [unescape(str(m)) for m in response.context["messages"]]


def test_device_list_shows_no_secret(alice, holder):
    device, _ = enrol(holder, name="Pixel 8")
    response = alice.get(DEVICES)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Pixel 8" in page and holder.id_nat in page
    detail = alice.get(f"{DEVICES}{device.pk}/change/").content.decode()
    assert device.kid in detail
    for secret in (device.pin_hash, device.pin_salt, device.encrypted_seed):
        assert secret not in page and secret not in detail
    assert alice.get(f"{DEVICES}add/").status_code == 403


def test_admin_revokes_a_device(alice, holder, client):
    device, phone = enrol(holder)
    response = post_action(alice, DEVICES, "revoke_selected", [device])
    assert response.status_code == 200
    assert any("1 appareil révoqué" in m for m in messages_of(response))
    device.refresh_from_db()
    assert device.revoked_at is not None and device.revoked_reason == "admin"
    event = AuditEvent.objects.get(tag="authn:card:device_revoked")
    assert event.actor == "admin:alice"
    assert event.subject == f"card_device:{device.kid}"
    assert phone.call(client, "GET", "device").json()["error"] == "device_revoked"


def test_admin_unblocks_a_device(alice, holder, client):
    device, phone = enrol(holder)
    CardDevice.objects.filter(pk=device.pk).update(blocked_at=timezone.now(), pin_failures=3)
    assert phone.call(client, "GET", "device").json()["error"] == "device_blocked"
    response = post_action(alice, DEVICES, "unblock_selected", [device])
    assert any("1 appareil débloqué" in m for m in messages_of(response))
    device.refresh_from_db()
    assert device.blocked_at is None and device.pin_failures == 0
    assert AuditEvent.objects.get(tag="authn:card:device_unblocked").actor == "admin:alice"
    assert phone.call(client, "GET", "device").status_code == 200


def test_unblocking_a_device_that_is_not_blocked_does_nothing(alice, holder):
    device, _ = enrol(holder)
    response = post_action(alice, DEVICES, "unblock_selected", [device])
    assert any("0 appareil débloqué" in m for m in messages_of(response))
    assert not AuditEvent.objects.filter(tag="authn:card:device_unblocked").exists()


def test_a_viewer_cannot_revoke_or_issue(viewer, holder):
    device, _ = enrol(holder)
    response = viewer.get(DEVICES)
    assert response.status_code == 200
    assert response.context["action_form"] is None
    post_action(viewer, DEVICES, "revoke_selected", [device])
    device.refresh_from_db()
    assert device.revoked_at is None
    post_action(viewer, PROFESSIONALS, "issue_card_activation_code", [holder])
    assert not CardActivation.objects.exists()
    assert not AuditEvent.objects.filter(tag__startswith="authn:card:").exists()


def test_activations_are_read_only_and_hide_hashes(alice, holder):
    issued = activation.issue_code(holder, ActivationMethod.ADMIN, actor="admin:alice")
    page = alice.get(ACTIVATIONS).content.decode()
    assert holder.id_nat in page and "admin:alice" in page
    detail = alice.get(f"{ACTIVATIONS}{issued.activation.pk}/change/").content.decode()
    assert issued.activation.code_hash not in detail and issued.code not in detail
    assert alice.get(f"{ACTIVATIONS}add/").status_code == 403
    assert alice.post(f"{ACTIVATIONS}{issued.activation.pk}/delete/").status_code == 403


def test_issue_a_code_from_the_professional_admin(alice, holder, client):
    response = post_action(alice, PROFESSIONALS, "issue_card_activation_code", [holder])
    assert response.status_code == 200
    (message,) = [m for m in messages_of(response) if "Code d’activation" in m]  # noqa: RUF001
    code = re.search(r": ([A-Z2-7]{4}(?:-[A-Z2-7]{4}){4}) ", message).group(1)
    stored = CardActivation.objects.get()
    assert stored.method == ActivationMethod.ADMIN and stored.created_by == "admin:alice"
    assert stored.code_hash == activation.code_hash(code)
    event = AuditEvent.objects.get(tag="authn:card:activation_started")
    assert event.actor == "admin:alice"
    assert code not in str(event.data)
    # Shown once: the next page does not carry it.
    assert code not in alice.get(PROFESSIONALS).content.decode()
    phone = FakePhone()
    assert complete_with_code(client, phone, code).status_code == 201
    assert CardDevice.objects.get(kid=phone.kid).professional == holder


def test_issue_needs_exactly_one_professional(alice, holder):
    other = make_professional("8" + rpps(42))
    response = post_action(alice, PROFESSIONALS, "issue_card_activation_code", [holder, other])
    assert any("exactement un" in m for m in messages_of(response))
    assert not CardActivation.objects.exists()


def test_no_code_for_a_suspended_professional(alice, holder):
    holder.suspended_at = timezone.now()
    holder.save()
    response = post_action(alice, PROFESSIONALS, "issue_card_activation_code", [holder])
    assert any("suspended" in m for m in messages_of(response))
    assert not CardActivation.objects.exists()
