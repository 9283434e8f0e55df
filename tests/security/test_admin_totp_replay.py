"""Attack: replaying an administrator's TOTP code (shoulder surfing, a phishing proxy, a logged
request body). RFC 6238 §5.2: a code accepted once must be refused afterwards."""

from __future__ import annotations

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client

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


@pytest.fixture
def victim_device():
    return make_device(make_staff("victim"))


def test_a_code_used_once_is_refused_a_second_time(victim_device):
    code = code_for(victim_device)
    victim, attacker = Client(), Client()

    assert victim.post(ADMIN_LOGIN_URL, login_data("victim", code=code)).status_code == 302
    victim_device.refresh_from_db()
    consumed = victim_device.last_t
    assert consumed >= 0

    # The attacker saw the password and the code and submits them within the same time step.
    response = attacker.post(ADMIN_LOGIN_URL, login_data("victim", code=code))
    assert response.status_code == 200
    assert SESSION_KEY not in attacker.session
    assert attacker.get(ADMIN_INDEX_URL).status_code == 302

    # Nothing else changed: the step stays consumed, the victim's session still works.
    victim_device.refresh_from_db()
    assert victim_device.last_t == consumed
    assert victim.get(ADMIN_INDEX_URL).status_code == 200
    assert len(events(EventTag.ADMIN_LOGIN_SUCCEEDED)) == 1
    [failed] = events(EventTag.ADMIN_LOGIN_FAILED)
    assert failed.data["reasons"] == ["invalid_token"]


def test_a_code_from_an_earlier_step_is_refused_after_a_later_one(victim_device):
    earlier = code_for(victim_device)
    later = code_for(victim_device, steps=1)  # within the one-step tolerance
    assert Client().post(ADMIN_LOGIN_URL, login_data("victim", code=later)).status_code == 302
    attacker = Client()
    response = attacker.post(ADMIN_LOGIN_URL, login_data("victim", code=earlier))
    assert response.status_code == 200
    assert attacker.get(ADMIN_INDEX_URL).status_code == 302


def test_racing_requests_cannot_both_use_one_code(victim_device):
    """Two verifications that read the device before either wrote it (as two parallel requests
    could on a database without row locks): only one wins the conditional UPDATE."""
    code = code_for(victim_device)
    first = StaffTOTPDevice.objects.get(pk=victim_device.pk)
    second = StaffTOTPDevice.objects.get(pk=victim_device.pk)
    results = [first.verify_token(code), second.verify_token(code)]
    assert results == [True, False]
