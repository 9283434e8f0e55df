"""Failed administrator logins are counted per attempted username and per client address; over the
limit the login page answers 429 without checking anything. Through HTTP with the test client,
django-ratelimit's clock stopped (``ratelimit_clock``, tests/conftest.py)."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.backends import ModelBackend
from django.test import Client

from idp.audit.tags import EventTag
from idp.authn.models import StaffTOTPDevice
from idp.core import admin_site
from tests.authn.helpers import (
    ADMIN_INDEX_URL,
    ADMIN_LOGIN_URL,
    code_for,
    events,
    login_data,
    make_device,
    make_staff,
    wrong_code,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ratelimit_clock")]

PER_USERNAME = admin_site.IDP_ADMIN_LOGIN_FAILURES_PER_USERNAME
PER_ADDRESS = admin_site.IDP_ADMIN_LOGIN_FAILURES_PER_ADDRESS
WINDOW = admin_site.IDP_ADMIN_LOGIN_FAILURE_WINDOW
THROTTLED = re.compile(r"Too many failed login attempts: try again in (\d+) minutes?\.")


def browser(address: str = "127.0.0.1") -> Client:
    return Client(headers={"accept-language": "en"}, REMOTE_ADDR=address)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Dozens of password checks per test: what is counted does not depend on the hash's cost.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def alice():
    return make_staff("alice")


@pytest.fixture
def device(alice) -> StaffTOTPDevice:
    return make_device(alice)


@pytest.fixture
def authentications(monkeypatch) -> list[str]:
    """Usernames ModelBackend was asked to check a password for."""
    calls: list[str] = []
    original = ModelBackend.authenticate

    def spy(self, request, username=None, password=None, **kwargs):
        calls.append(username)
        return original(self, request, username=username, password=password, **kwargs)

    monkeypatch.setattr(ModelBackend, "authenticate", spy)
    return calls


def fail(client: Client, username: str = "alice", times: int = 1) -> None:
    for _ in range(times):
        response = client.post(ADMIN_LOGIN_URL, login_data(username, password="wrong password"))
        assert response.status_code == 200


def right_login(client: Client, device: StaffTOTPDevice, username: str = "alice"):
    return client.post(ADMIN_LOGIN_URL, login_data(username, code=code_for(device)))


def assert_throttled(response) -> int:
    """The refusal page; returns its Retry-After."""
    assert response.status_code == 429
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= WINDOW
    page = response.content.decode()
    match = THROTTLED.search(page)
    assert match, page
    assert int(match.group(1)) == -(-retry_after // 60)  # minutes, rounded up
    assert 'role="alert"' in page
    assert 'name="username"' in page  # the login page again, with its form
    assert 'name="otp_token"' in page
    return retry_after


def test_failures_below_the_limit_do_not_lock_the_account(device):
    client = browser()
    fail(client, times=PER_USERNAME - 1)
    assert right_login(client, device).status_code == 302
    assert client.get(ADMIN_INDEX_URL).status_code == 200


def test_the_limit_locks_the_username_even_for_the_right_password_and_code(device, alice):
    client = browser()
    fail(client, times=PER_USERNAME)
    response = right_login(client, device)
    retry_after = assert_throttled(response)

    assert SESSION_KEY not in client.session
    assert client.get(ADMIN_INDEX_URL).status_code == 302
    device.refresh_from_db()
    assert device.last_t == -1  # the code was not even looked at
    alice.refresh_from_db()
    assert alice.last_login is None

    [event] = events(EventTag.ADMIN_LOGIN_THROTTLED)
    assert event.subject == "admin:alice"
    assert event.actor == ""
    assert event.ip == "127.0.0.1"
    assert event.data == {"limits": ["username"], "retry_after": retry_after}
    assert len(events(EventTag.ADMIN_LOGIN_FAILED)) == PER_USERNAME  # the refusal is not one more
    assert events(EventTag.ADMIN_LOGIN_SUCCEEDED) == []


def test_a_refused_submission_checks_no_password(device, authentications):
    client = browser()
    fail(client, times=PER_USERNAME)
    assert authentications == ["alice"] * PER_USERNAME
    assert_throttled(right_login(client, device))
    assert_throttled(client.post(ADMIN_LOGIN_URL, login_data(password="another guess")))
    assert authentications == ["alice"] * PER_USERNAME


def test_the_lock_ends_with_its_window_and_refusals_do_not_extend_it(device, ratelimit_clock):
    client = browser()
    fail(client, times=PER_USERNAME)
    retry_after = assert_throttled(right_login(client, device))
    ratelimit_clock.advance(retry_after - 1)
    for _ in range(3):
        assert assert_throttled(right_login(client, device)) == 1
    ratelimit_clock.advance(1)
    assert right_login(client, device).status_code == 302
    assert len(events(EventTag.ADMIN_LOGIN_THROTTLED)) == 4


def test_a_right_password_without_code_counts_as_a_failure(device):
    # Otherwise "enter the code" would tell right passwords from wrong ones without limit.
    client = browser()
    for _ in range(PER_USERNAME):
        response = client.post(ADMIN_LOGIN_URL, login_data())
        assert "Enter the code shown by your authenticator app." in response.content.decode()
    assert_throttled(client.post(ADMIN_LOGIN_URL, login_data()))


def test_wrong_codes_count_as_failures(device):
    client = browser()
    for _ in range(PER_USERNAME):
        client.post(ADMIN_LOGIN_URL, login_data(code=wrong_code(device)))
    assert_throttled(right_login(client, device))


def test_an_unknown_username_is_locked_the_same_way():
    client = browser()
    fail(client, "mallory", times=PER_USERNAME)
    response = client.post(ADMIN_LOGIN_URL, login_data("mallory", code="123456"))
    assert_throttled(response)
    [event] = events(EventTag.ADMIN_LOGIN_THROTTLED)
    assert event.subject == "admin:mallory"


def test_spellings_of_one_username_share_its_counter(device):
    fullwidth = "\uff41\uff4c\uff49\uff43\uff45"  # "alice" in fullwidth letters: NFKC folds it
    client = browser()
    for spelling in ["alice", "ALICE", " Alice ", fullwidth, "alice"]:
        fail(client, spelling)
    assert_throttled(right_login(client, device))


def test_the_username_lock_holds_from_any_address(device):
    fail(browser(), times=PER_USERNAME)
    response = right_login(browser("203.0.113.9"), device)
    assert_throttled(response)
    [event] = events(EventTag.ADMIN_LOGIN_THROTTLED)
    assert event.ip == "203.0.113.9"
    assert event.data["limits"] == ["username"]


def test_one_locked_username_does_not_lock_the_others(device):
    client = browser()
    fail(client, times=PER_USERNAME)
    bob_device = make_device(make_staff("bob"))
    assert right_login(client, bob_device, "bob").status_code == 302


def test_the_address_limit_counts_failures_on_every_username(device):
    client = browser()
    for n in range(PER_ADDRESS):
        fail(client, f"guess{n}")
    response = right_login(client, device)
    assert_throttled(response)
    [event] = events(EventTag.ADMIN_LOGIN_THROTTLED)
    assert event.data["limits"] == ["address"]
    # Another address is not concerned.
    assert right_login(browser("198.51.100.4"), device).status_code == 302


def test_an_ipv6_client_is_counted_per_64_prefix(device, settings):
    settings.IDP_ADMIN_LOGIN_FAILURES_PER_ADDRESS = 3
    for n, address in enumerate(["2001:db8:a:b::1", "2001:db8:a:b::2", "2001:db8:a:b:f:f:f:f"]):
        fail(browser(address), f"guess{n}")
    assert_throttled(right_login(browser("2001:db8:a:b::99"), device))
    assert right_login(browser("2001:db8:a:c::1"), device).status_code == 302


def test_a_success_resets_the_username_counter(device):
    client = browser()
    fail(client, times=PER_USERNAME - 1)
    assert right_login(client, device).status_code == 302
    client.post("/admin/logout/")
    fail(client, times=PER_USERNAME - 1)
    # 2 * (limit - 1) failures in the window, but the success in between forgot the first ones.
    response = client.post(ADMIN_LOGIN_URL, login_data(code=code_for(device, steps=1)))
    assert response.status_code == 302


def test_a_success_does_not_reset_the_address_counter(device, settings):
    settings.IDP_ADMIN_LOGIN_FAILURES_PER_ADDRESS = 3
    client = browser()
    fail(client, "bob", times=2)
    assert right_login(client, device).status_code == 302
    client.post("/admin/logout/")
    fail(client, "carol")
    response = right_login(client, device)
    assert_throttled(response)
    assert events(EventTag.ADMIN_LOGIN_THROTTLED)[0].data["limits"] == ["address"]


def test_limits_and_window_come_from_settings(device, settings):
    settings.IDP_ADMIN_LOGIN_FAILURES_PER_USERNAME = 2
    settings.IDP_ADMIN_LOGIN_FAILURE_WINDOW = 60
    client = browser()
    fail(client, times=2)
    response = right_login(client, device)
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert "try again in 1 minute." in response.content.decode()


def test_a_limit_of_zero_turns_its_counter_off(device, settings):
    settings.IDP_ADMIN_LOGIN_FAILURES_PER_USERNAME = 0
    client = browser()
    fail(client, times=PER_USERNAME * 2)
    assert right_login(client, device).status_code == 302


def test_both_limits_reached_are_both_journaled(device, settings):
    settings.IDP_ADMIN_LOGIN_FAILURES_PER_ADDRESS = PER_USERNAME
    client = browser()
    fail(client, times=PER_USERNAME)
    assert_throttled(right_login(client, device))
    [event] = events(EventTag.ADMIN_LOGIN_THROTTLED)
    assert event.data["limits"] == ["address", "username"]


def test_the_login_page_itself_stays_reachable(device):
    client = browser()
    fail(client, times=PER_USERNAME)
    assert client.get(ADMIN_LOGIN_URL).status_code == 200  # only submissions are refused
