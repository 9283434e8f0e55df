"""Attack: guessing an administrator's password online, on the admin login page.

After a few failures for one username (or many from one address), every further submission is
refused with 429 until the counting window ends, without checking the password: the right password
(even with a valid code) gets exactly the same answer as a wrong one, so guessing on stops telling
anything. Nothing of the victim's account changes; the journal holds each failure and each refusal.
"""

from __future__ import annotations

import itertools
import re

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.backends import ModelBackend
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY

from idp.audit.tags import EventTag
from idp.authn.models import StaffTOTPDevice
from idp.core import admin_site
from tests.authn.helpers import (
    ADMIN_INDEX_URL,
    ADMIN_LOGIN_URL,
    PASSWORD,
    all_events,
    code_for,
    events,
    login_data,
    make_device,
    make_staff,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ratelimit_clock")]

PER_USERNAME = admin_site.IDP_ADMIN_LOGIN_FAILURES_PER_USERNAME
PER_ADDRESS = admin_site.IDP_ADMIN_LOGIN_FAILURES_PER_ADDRESS
GUESSES = [f"Password{n:03d}!" for n in range(100)]  # a wordlist; PASSWORD is not in it
_CSRF_TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="[^"]*"')


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Dozens of guesses per test: the limit does not depend on what one check costs.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def victim():
    return make_staff("victim")


@pytest.fixture
def victims_device(victim) -> StaffTOTPDevice:
    return make_device(victim)


@pytest.fixture
def password_checks(monkeypatch) -> list[str]:
    """Every username the authentication backend was asked to check a password for."""
    checked: list[str] = []
    original = ModelBackend.authenticate

    def spy(self, request, username=None, password=None, **kwargs):
        checked.append(username)
        return original(self, request, username=username, password=password, **kwargs)

    monkeypatch.setattr(ModelBackend, "authenticate", spy)
    return checked


def snapshot(victim, device: StaffTOTPDevice) -> tuple:
    victim.refresh_from_db()
    device.refresh_from_db()
    return (
        victim.password,
        victim.last_login,
        victim.is_active,
        device.last_t,
        device.drift,
        device.throttling_failure_count,
        device.throttling_failure_timestamp,
        device.confirmed,
    )


def page_without_csrf(response) -> str:
    return _CSRF_TOKEN.sub("", response.content.decode())


def test_guessing_stops_at_the_limit_and_the_right_password_does_not_stand_out(
    victim, victims_device, password_checks
):
    before = snapshot(victim, victims_device)
    attacker = Client(headers={"accept-language": "en"})

    statuses = []
    for guess in GUESSES[:PER_USERNAME]:
        response = attacker.post(ADMIN_LOGIN_URL, login_data("victim", password=guess))
        statuses.append(response.status_code)
    assert statuses == [200] * PER_USERNAME
    assert len(password_checks) == PER_USERNAME

    # The window is still open: the right password with a valid code gets the very answer a wrong
    # password with the same code gets.
    code = code_for(victims_device)
    right = attacker.post(ADMIN_LOGIN_URL, login_data("victim", code=code))
    wrong = attacker.post(ADMIN_LOGIN_URL, login_data("victim", password=GUESSES[-1], code=code))
    assert right.status_code == wrong.status_code == 429
    assert right["Retry-After"] == wrong["Retry-After"]
    assert page_without_csrf(right) == page_without_csrf(wrong)
    assert "Too many failed login attempts" in right.content.decode()
    assert PASSWORD not in right.content.decode()
    assert len(password_checks) == PER_USERNAME  # neither was checked

    # No session, nothing changed on the account or its authenticator (code not consumed).
    assert SESSION_KEY not in attacker.session
    assert DEVICE_ID_SESSION_KEY not in attacker.session
    assert attacker.get(ADMIN_INDEX_URL).status_code == 302
    assert snapshot(victim, victims_device) == before
    assert LogEntry.objects.count() == 0

    # The journal: each guess, then each refusal, under the victim's name, no secret in it.
    tags = [event.tag for event in all_events()]
    assert (
        tags == [EventTag.ADMIN_LOGIN_FAILED] * PER_USERNAME + [EventTag.ADMIN_LOGIN_THROTTLED] * 2
    )
    refusals = events(EventTag.ADMIN_LOGIN_THROTTLED)
    assert {event.subject for event in refusals} == {"admin:victim"}
    assert all(event.data["limits"] == ["username"] for event in refusals)
    journal = str([(event.subject, event.data) for event in all_events()])
    assert PASSWORD not in journal
    assert not any(guess in journal for guess in GUESSES)


def test_rotating_addresses_does_not_reset_the_count_for_one_account(victim, victims_device):
    for n, guess in enumerate(GUESSES[:PER_USERNAME]):
        Client(REMOTE_ADDR=f"203.0.113.{n + 1}").post(
            ADMIN_LOGIN_URL, login_data("victim", password=guess)
        )
    fresh_address = Client(REMOTE_ADDR="198.51.100.200")
    response = fresh_address.post(
        ADMIN_LOGIN_URL, login_data("victim", code=code_for(victims_device))
    )
    assert response.status_code == 429
    victims_device.refresh_from_db()
    assert victims_device.last_t == -1


def test_spraying_one_password_over_many_accounts_hits_the_address_limit(
    victim, victims_device, password_checks
):
    attacker = Client()
    for n in range(PER_ADDRESS):
        attacker.post(ADMIN_LOGIN_URL, login_data(f"admin{n}", password=GUESSES[0]))
    response = attacker.post(ADMIN_LOGIN_URL, login_data("victim", code=code_for(victims_device)))
    assert response.status_code == 429
    assert len(password_checks) == PER_ADDRESS
    [refusal] = events(EventTag.ADMIN_LOGIN_THROTTLED)
    assert refusal.data["limits"] == ["address"]
    victims_device.refresh_from_db()
    assert victims_device.last_t == -1


def test_case_variants_of_the_username_do_not_buy_more_guesses(victim, victims_device):
    attacker = Client()
    spellings = itertools.cycle(["victim", "VICTIM", "Victim", " victim", "vIcTiM"])
    for guess, spelling in zip(GUESSES[:PER_USERNAME], spellings, strict=False):
        attacker.post(ADMIN_LOGIN_URL, login_data(spelling, password=guess))
    response = attacker.post(ADMIN_LOGIN_URL, login_data("VicTim", password=GUESSES[-1]))
    assert response.status_code == 429


def test_the_owner_gets_in_once_the_window_is_over(victim, victims_device, ratelimit_clock):
    attacker = Client()
    for guess in GUESSES[:PER_USERNAME]:
        attacker.post(ADMIN_LOGIN_URL, login_data("victim", password=guess))
    owner = Client()
    refused = owner.post(ADMIN_LOGIN_URL, login_data("victim", code=code_for(victims_device)))
    assert refused.status_code == 429
    ratelimit_clock.advance(int(refused["Retry-After"]))
    response = owner.post(ADMIN_LOGIN_URL, login_data("victim", code=code_for(victims_device)))
    assert response.status_code == 302
    assert owner.get(ADMIN_INDEX_URL).status_code == 200
