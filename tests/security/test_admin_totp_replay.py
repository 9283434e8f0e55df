"""Attack: replaying an administrator's TOTP code (shoulder surfing, a phishing proxy, a logged
request body). RFC 6238 §5.2: a code accepted once must be refused afterwards."""

from __future__ import annotations

import threading

import pytest
from django.contrib.auth import SESSION_KEY
from django.db import connection, connections
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


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs concurrent connections to one database: run with DATABASE_URL=postgres://…",
)
@pytest.mark.django_db(transaction=True)
def test_parallel_logins_with_one_code_open_one_session_only(settings):
    """A phishing proxy replays the victim's password and code in parallel requests: real
    concurrent connections, one winner (SELECT … FOR UPDATE plus the conditional UPDATE)."""
    device = make_device(make_staff("victim"))
    code = code_for(device)
    parallel = 6
    # A straggler must reach the code check even if the 5 losers were counted before it started.
    settings.IDP_ADMIN_LOGIN_FAILURES_PER_USERNAME = parallel
    start = threading.Barrier(parallel)
    statuses: list[int] = []
    errors: list[BaseException] = []

    def attempt() -> None:
        try:
            client = Client()
            start.wait()
            response = client.post(ADMIN_LOGIN_URL, login_data("victim", code=code))
            statuses.append(response.status_code)
        except BaseException as exc:  # reported to the main thread below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=attempt) for _ in range(parallel)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert not errors, errors
    assert sorted(statuses) == [200] * (parallel - 1) + [302]
    assert len(events(EventTag.ADMIN_LOGIN_SUCCEEDED)) == 1
    assert len(events(EventTag.ADMIN_LOGIN_FAILED)) == parallel - 1
