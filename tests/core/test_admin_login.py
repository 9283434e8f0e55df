"""The Django admin behind password + TOTP, through HTTP with the test client."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.utils import timezone

from idp.audit.tags import EventTag
from idp.authn.models import StaffTOTPDevice
from tests.authn.helpers import (
    ADMIN_INDEX_URL,
    ADMIN_LOGIN_URL,
    PASSWORD,
    code_for,
    events,
    login_data,
    make_device,
    make_staff,
    wrong_code,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser() -> Client:
    return Client(headers={"accept-language": "en"})


@pytest.fixture
def alice():
    return make_staff("alice")


@pytest.fixture
def device(alice) -> StaffTOTPDevice:
    return make_device(alice)


def reaches_admin(client: Client) -> bool:
    return client.get(ADMIN_INDEX_URL).status_code == 200


def test_anonymous_user_is_sent_to_the_login_page(browser):
    response = browser.get(ADMIN_INDEX_URL)
    assert response.status_code == 302
    assert response["Location"] == f"{ADMIN_LOGIN_URL}?next={ADMIN_INDEX_URL}"


def test_login_page_asks_for_username_password_and_code_only(browser):
    response = browser.get(ADMIN_LOGIN_URL)
    assert response.status_code == 200
    page = response.content.decode()
    assert 'name="username"' in page
    assert 'name="password"' in page
    assert 'name="otp_token"' in page
    assert 'autocomplete="one-time-code"' in page
    assert "Authenticator code" in page
    assert 'name="otp_device"' not in page  # one authenticator per account: nothing to choose
    assert 'name="otp_challenge"' not in page


def test_login_page_speaks_french_by_default(client):
    response = client.get(ADMIN_LOGIN_URL)
    assert response.status_code == 200
    assert 'lang="fr"' in response.content.decode()


def test_password_without_code_is_refused(browser, device):
    response = browser.post(ADMIN_LOGIN_URL, login_data())
    assert response.status_code == 200
    assert "Enter the code shown by your authenticator app." in response.content.decode()
    assert SESSION_KEY not in browser.session
    assert not reaches_admin(browser)

    [event] = events(EventTag.ADMIN_LOGIN_FAILED)
    assert event.subject == "admin:alice"
    assert event.actor == ""
    assert event.data["reasons"] == ["token_required"]
    assert event.data["first_factor_ok"] is True


def test_wrong_code_is_refused(browser, device):
    code = wrong_code(device)
    response = browser.post(ADMIN_LOGIN_URL, login_data(code=code))
    assert response.status_code == 200
    assert "This code is not valid or has already been used." in response.content.decode()
    assert not reaches_admin(browser)
    [event] = events(EventTag.ADMIN_LOGIN_FAILED)
    assert event.data["reasons"] == ["invalid_token"]
    assert code not in str(event.data)
    assert PASSWORD not in str(event.data)


def test_password_and_code_reach_the_admin(browser, device, alice):
    response = browser.post(ADMIN_LOGIN_URL, login_data(code=code_for(device)))
    assert response.status_code == 302
    assert response["Location"] == ADMIN_INDEX_URL
    assert reaches_admin(browser)

    [event] = events(EventTag.ADMIN_LOGIN_SUCCEEDED)
    assert event.actor == event.subject == "admin:alice"
    assert event.data == {"device": device.persistent_id}
    assert events(EventTag.ADMIN_LOGIN_FAILED) == []
    alice.refresh_from_db()
    assert alice.last_login is not None


def test_code_typed_with_a_space_is_accepted(browser, device):
    code = code_for(device)
    response = browser.post(ADMIN_LOGIN_URL, login_data(code=f"{code[:3]} {code[3:]}"))
    assert response.status_code == 302


def test_a_code_works_only_once(browser, device):
    code = code_for(device)
    assert browser.post(ADMIN_LOGIN_URL, login_data(code=code)).status_code == 302
    browser.post("/admin/logout/")
    assert not reaches_admin(browser)

    response = browser.post(ADMIN_LOGIN_URL, login_data(code=code))
    assert response.status_code == 200
    assert "already been used" in response.content.decode()
    assert not reaches_admin(browser)


def test_wrong_password_does_not_burn_the_code(browser, device):
    code = code_for(device)
    response = browser.post(ADMIN_LOGIN_URL, login_data(password="not the password", code=code))
    assert response.status_code == 200
    assert not reaches_admin(browser)
    device.refresh_from_db()
    assert device.last_t == -1
    assert device.throttling_failure_count == 0

    [event] = events(EventTag.ADMIN_LOGIN_FAILED)
    assert event.subject == "admin:alice"
    assert event.data == {"reasons": ["invalid_login"], "first_factor_ok": False}

    assert browser.post(ADMIN_LOGIN_URL, login_data(code=code)).status_code == 302


def test_unknown_username_is_journaled_as_attempted(browser):
    browser.post(ADMIN_LOGIN_URL, login_data("mallory", code="123456"))
    [event] = events(EventTag.ADMIN_LOGIN_FAILED)
    assert event.subject == "admin:mallory"
    assert event.data["reasons"] == ["invalid_login"]


def test_absurdly_long_username_is_cut_in_the_journal(browser):
    browser.post(ADMIN_LOGIN_URL, login_data("x" * 5000, code="123456"))
    [event] = events(EventTag.ADMIN_LOGIN_FAILED)
    assert event.subject == "admin:" + "x" * 150


def test_staff_without_device_is_told_to_ask_for_enrolment(browser, alice):
    response = browser.post(ADMIN_LOGIN_URL, login_data(code="123456"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "This account has no confirmed authenticator" in page
    assert "manage.py admin_totp" in page
    assert not reaches_admin(browser)
    [event] = events(EventTag.ADMIN_LOGIN_FAILED)
    assert event.data["reasons"] == ["no_device"]


def test_unconfirmed_device_does_not_open_the_admin(browser, alice):
    device = make_device(alice, confirmed=False)
    response = browser.post(ADMIN_LOGIN_URL, login_data(code=code_for(device)))
    assert response.status_code == 200
    assert "This account has no confirmed authenticator" in response.content.decode()
    assert not reaches_admin(browser)
    device.refresh_from_db()
    assert device.last_t == -1


def test_non_staff_user_with_a_device_is_refused(browser):
    bob = make_staff("bob", superuser=False)
    device = make_device(bob)
    response = browser.post(ADMIN_LOGIN_URL, login_data("bob", code=code_for(device)))
    assert response.status_code == 200
    assert not reaches_admin(browser)
    device.refresh_from_db()
    assert device.last_t == -1


def test_wrong_codes_throttle_the_login(browser, device, settings):
    # A 10 s unit instead of 1 s keeps the test independent of the machine's speed.
    settings.OTP_TOTP_THROTTLE_FACTOR = 10
    # The device's own lock is under test here, not the per-username failure counter (7 failures).
    settings.IDP_ADMIN_LOGIN_FAILURES_PER_USERNAME = 100
    browser.post(ADMIN_LOGIN_URL, login_data(code=wrong_code(device)))

    # Right after a failure, even the right code is refused (and not consumed).
    response = browser.post(ADMIN_LOGIN_URL, login_data(code=code_for(device)))
    assert re.search(r"Too many wrong codes: try again in (9|10) seconds\.", response.text)
    assert not reaches_admin(browser)
    device.refresh_from_db()
    assert device.last_t == -1
    assert device.throttling_failure_count == 1
    reasons = [event.data["reasons"] for event in events(EventTag.ADMIN_LOGIN_FAILED)]
    assert reasons == [["invalid_token"], ["throttled"]]

    # Each further failure doubles the wait: after 5 failures, 10 * 2^4 = 160 s.
    for _ in range(4):
        StaffTOTPDevice.objects.filter(pk=device.pk).update(
            throttling_failure_timestamp=timezone.now() - timedelta(hours=1)
        )
        browser.post(ADMIN_LOGIN_URL, login_data(code=wrong_code(device)))
    device.refresh_from_db()
    assert device.throttling_failure_count == 5
    response = browser.post(ADMIN_LOGIN_URL, login_data(code=code_for(device)))
    assert re.search(r"try again in 1(59|60) seconds\.", response.text)
    assert not reaches_admin(browser)

    # Once the wait is over, the right code opens the admin and the counter starts again.
    StaffTOTPDevice.objects.filter(pk=device.pk).update(
        throttling_failure_timestamp=timezone.now() - timedelta(seconds=161)
    )
    assert browser.post(ADMIN_LOGIN_URL, login_data(code=code_for(device))).status_code == 302
    device.refresh_from_db()
    assert device.throttling_failure_count == 0


def test_password_is_not_rendered_back_after_an_error(browser, device):
    response = browser.post(ADMIN_LOGIN_URL, login_data(code=wrong_code(device)))
    assert PASSWORD not in response.content.decode()


def test_code_is_not_rendered_back_after_an_error(browser, device):
    typed = wrong_code(device)
    response = browser.post(ADMIN_LOGIN_URL, login_data(password="wrong-password", code=typed))
    assert response.status_code == 200
    assert 'name="otp_token"' in response.content.decode()
    assert f'value="{typed}"' not in response.content.decode()


def test_logout_is_journaled(browser, device):
    browser.post(ADMIN_LOGIN_URL, login_data(code=code_for(device)))
    response = browser.post("/admin/logout/")
    assert response.status_code == 200
    assert not reaches_admin(browser)
    [event] = events(EventTag.ADMIN_LOGOUT)
    assert event.actor == event.subject == "admin:alice"


def test_logout_of_an_anonymous_visitor_is_not_journaled(browser):
    browser.post("/admin/logout/")
    assert events(EventTag.ADMIN_LOGOUT) == []


def test_removing_the_device_ends_admin_access_of_open_sessions(browser, device):
    browser.post(ADMIN_LOGIN_URL, login_data(code=code_for(device)))
    assert reaches_admin(browser)
    device.delete()
    assert not reaches_admin(browser)


def test_a_password_session_without_otp_is_not_enough(browser, alice):
    # A session opened by some other path (here force_login, i.e. password only) is not verified.
    make_device(alice)
    browser.force_login(alice)
    response = browser.get(ADMIN_INDEX_URL)
    assert response.status_code == 302
    assert response["Location"].startswith(ADMIN_LOGIN_URL)


def test_device_admin_never_shows_the_seed(browser, device):
    browser.post(ADMIN_LOGIN_URL, login_data(code=code_for(device)))
    changelist = browser.get("/admin/authn/stafftotpdevice/")
    assert changelist.status_code == 200
    change = browser.get(f"/admin/authn/stafftotpdevice/{device.pk}/change/")
    assert change.status_code == 200
    for response in (changelist, change):
        page = response.content.decode()
        assert device.encrypted_seed not in page
        assert device.bin_key.hex() not in page
    assert browser.get("/admin/authn/stafftotpdevice/add/").status_code == 403


def test_device_removed_in_the_admin_is_journaled(browser, device, alice):
    bob = make_staff("bob")
    bobs = make_device(bob)
    browser.post(ADMIN_LOGIN_URL, login_data(code=code_for(device)))
    response = browser.post(f"/admin/authn/stafftotpdevice/{bobs.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not StaffTOTPDevice.objects.filter(pk=bobs.pk).exists()
    [event] = events(EventTag.ADMIN_TOTP_REMOVED)
    assert event.actor == "admin:alice"
    assert event.subject == "admin:bob"
    assert event.data == {"reason": "admin"}


@pytest.mark.parametrize("through_login_page", [False, True])
def test_verified_admin_client_helper(through_login_page, alice):
    from tests.authn.helpers import verified_admin_client

    client = verified_admin_client(Client(), alice, through_login_page=through_login_page)
    assert reaches_admin(client)
