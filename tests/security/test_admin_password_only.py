"""Attack: an administrator's password is stolen (phishing, reuse, keylogger).

The password alone must not open the admin, whatever the attacker adds to the form, and the
attempts must leave no session, no last_login, no consumed code, and a trace in the journal.
"""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth import SESSION_KEY, get_user_model
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY

from idp.audit.tags import EventTag
from idp.authn.models import StaffTOTPDevice
from tests.authn.helpers import (
    ADMIN_INDEX_URL,
    ADMIN_LOGIN_URL,
    code_for,
    events,
    login_data,
    make_device,
    make_staff,
)

pytestmark = pytest.mark.django_db


def snapshot(device: StaffTOTPDevice) -> tuple:
    device.refresh_from_db()
    return (device.last_t, device.drift, device.confirmed, device.encrypted_seed)


def test_stolen_password_alone_does_not_reach_the_admin(settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # let every guess be checked: no luck involved
    victim = make_staff("victim")
    victims_device = make_device(victim)
    mallory = make_staff("mallory")  # another administrator, with her own valid authenticator
    mallorys_device = make_device(mallory)
    before = snapshot(victims_device)
    attacker = Client()

    attempts = [
        login_data("victim"),  # no code at all
        login_data("victim", code=""),
        login_data("victim", code="000000"),
        login_data("victim", code="123456"),
        login_data("victim", code="0"),
        login_data("victim", code="-1"),
        login_data("victim", code="9" * 50),
        # Mallory's own valid code, pointing the form at her device: the victim's device is used.
        {
            **login_data("victim", code=code_for(mallorys_device)),
            "otp_device": mallorys_device.persistent_id,
        },
        # A forged device id that does not exist.
        {**login_data("victim", code="000000"), "otp_device": "authn.stafftotpdevice/99999"},
        # Pressing django-otp's challenge button.
        {**login_data("victim", code="000000"), "otp_challenge": "1"},
    ]
    # Every variant must reach the second-factor check: the failure counter (which would refuse
    # the sixth one unchecked, tests/security/test_admin_password_bruteforce.py) is raised.
    settings.IDP_ADMIN_LOGIN_FAILURES_PER_USERNAME = len(attempts)
    for data in attempts:
        response = attacker.post(ADMIN_LOGIN_URL, data)
        assert response.status_code == 200, data
        assert SESSION_KEY not in attacker.session
        assert DEVICE_ID_SESSION_KEY not in attacker.session
        index = attacker.get(ADMIN_INDEX_URL)
        assert index.status_code == 302
        assert index["Location"].startswith(ADMIN_LOGIN_URL)

    # Nothing else changed: no login recorded, no code of the victim consumed, no admin action,
    # and Mallory's code was not consumed either (the victim's device checked it).
    victim.refresh_from_db()
    assert victim.last_login is None
    assert snapshot(victims_device) == before
    mallorys_device.refresh_from_db()
    assert mallorys_device.last_t == -1
    assert LogEntry.objects.count() == 0
    assert events(EventTag.ADMIN_LOGIN_SUCCEEDED) == []

    # Every attempt is in the journal under the victim's name, without the password or codes.
    failed = events(EventTag.ADMIN_LOGIN_FAILED)
    assert len(failed) == len(attempts)
    assert {event.subject for event in failed} == {"admin:victim"}
    assert all(event.data["first_factor_ok"] for event in failed)


def test_password_only_session_from_elsewhere_does_not_reach_the_admin():
    """Even holding a Django session authenticated by password (e.g. a future password-only page),
    the admin demands the OTP verification."""
    victim = make_staff("victim")
    make_device(victim)
    attacker = Client()
    attacker.force_login(victim)
    response = attacker.get(ADMIN_INDEX_URL)
    assert response.status_code == 302
    assert attacker.get("/admin/auth/user/").status_code == 302
    victim_id = str(victim.pk)
    response = attacker.post(
        f"/admin/auth/user/{victim_id}/change/", {"username": "victim", "is_superuser": "on"}
    )
    assert response.status_code == 302
    assert response["Location"].startswith(ADMIN_LOGIN_URL)
    assert LogEntry.objects.count() == 0


def test_stolen_password_of_an_administrator_without_device():
    """No authenticator yet is not "no second factor needed": the admin stays closed."""
    make_staff("newcomer")
    attacker = Client()
    response = attacker.post(ADMIN_LOGIN_URL, login_data("newcomer", code="123456"))
    assert response.status_code == 200
    assert SESSION_KEY not in attacker.session
    assert attacker.get(ADMIN_INDEX_URL).status_code == 302
    assert get_user_model().objects.get(username="newcomer").last_login is None
    assert not StaffTOTPDevice.objects.exists()
