"""``manage.py admin_totp``: enrolment, confirmation with a real code, reset, removal."""

from __future__ import annotations

import io
from base64 import b32encode
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from idp.audit.tags import EventTag
from idp.authn.models import StaffTOTPDevice
from tests.authn.helpers import (
    ADMIN_LOGIN_URL,
    all_events,
    code_for,
    events,
    login_data,
    make_device,
    make_staff,
    wrong_code,
)

pytestmark = pytest.mark.django_db


def run(*args: str, **options) -> str:
    out = io.StringIO()
    call_command("admin_totp", *args, stdout=out, stderr=io.StringIO(), **options)
    return out.getvalue()


@pytest.fixture
def alice():
    return make_staff("alice")


def uri_in(output: str) -> str:
    [uri] = [line for line in output.splitlines() if line.startswith("otpauth://")]
    return uri


def test_enrolment_prints_the_uri_and_a_qr_code_and_waits_for_confirmation(alice):
    output = run("alice")
    device = StaffTOTPDevice.objects.get(user=alice)
    assert not device.confirmed  # no terminal in tests: left pending, and the output says so
    assert "Not confirmed yet" in output
    assert "--confirm CODE" in output

    uri = uri_in(output)
    assert uri == device.config_url
    secret = parse_qs(urlsplit(uri).query)["secret"][0]
    assert secret == b32encode(device.bin_key).decode().rstrip("=")
    assert "█" in output or "▀" in output  # segno's compact terminal rendering

    # Nothing is usable yet, so nothing is journaled as enrolled.
    assert events(EventTag.ADMIN_TOTP_ENROLLED) == []


def test_confirmation_with_a_real_code(alice):
    run("alice")
    device = StaffTOTPDevice.objects.get(user=alice)
    output = run("alice", "--confirm", code_for(device))
    device.refresh_from_db()
    assert device.confirmed
    assert "Authenticator confirmed" in output
    assert device.encrypted_seed not in output
    assert device.bin_key.hex() not in output

    [event] = events(EventTag.ADMIN_TOTP_ENROLLED)
    assert event.subject == "admin:alice"
    assert event.actor.startswith("cli:")
    assert event.data == {"device": device.persistent_id}


def test_enrolled_administrator_can_log_in(alice):
    run("alice", "--no-qr")
    device = StaffTOTPDevice.objects.get(user=alice)
    run("alice", confirm=code_for(device))
    # The confirmation consumed the current time step: the login uses the next one (accepted
    # thanks to the one-step tolerance), as a person waiting for the next code would.
    response = Client().post(ADMIN_LOGIN_URL, login_data(code=code_for(device, steps=1)))
    assert response.status_code == 302


def test_wrong_confirmation_code_leaves_the_device_pending(alice):
    run("alice")
    device = StaffTOTPDevice.objects.get(user=alice)
    with pytest.raises(CommandError, match="refused"):
        run("alice", "--confirm", wrong_code(device))
    device.refresh_from_db()
    assert not device.confirmed
    assert device.throttling_failure_count == 1  # counted, as at login
    assert events(EventTag.ADMIN_TOTP_ENROLLED) == []


def test_confirm_without_a_pending_enrolment(alice):
    with pytest.raises(CommandError, match="no enrolment waiting"):
        run("alice", "--confirm", "123456")


def test_enrolling_again_replaces_a_pending_device(alice):
    run("alice")
    first = StaffTOTPDevice.objects.get(user=alice)
    run("alice")
    second = StaffTOTPDevice.objects.get(user=alice)
    assert second.pk != first.pk
    assert second.bin_key != first.bin_key
    assert events(EventTag.ADMIN_TOTP_REMOVED) == []  # a pending device was never usable


def test_a_confirmed_device_is_replaced_only_with_reset(alice):
    old = make_device(alice)
    old_seed = old.bin_key
    with pytest.raises(CommandError, match="--reset"):
        run("alice")
    assert StaffTOTPDevice.objects.get(user=alice).pk == old.pk

    run("alice", "--reset")
    new = StaffTOTPDevice.objects.get(user=alice)
    assert new.pk != old.pk
    assert not new.confirmed
    assert new.bin_key != old_seed
    [removed] = events(EventTag.ADMIN_TOTP_REMOVED)
    assert removed.subject == "admin:alice"
    assert removed.data == {"reason": "reset"}


def test_remove(alice):
    make_device(alice)
    output = run("alice", "--remove")
    assert "Removed" in output
    assert not StaffTOTPDevice.objects.filter(user=alice).exists()
    [event] = events(EventTag.ADMIN_TOTP_REMOVED)
    assert event.subject == "admin:alice"
    assert event.actor.startswith("cli:")
    assert event.data == {"reason": "removed", "count": 1}

    with pytest.raises(CommandError, match="no authenticator"):
        run("alice", "--remove")
    assert len(events(EventTag.ADMIN_TOTP_REMOVED)) == 1


def test_unknown_user(alice):
    with pytest.raises(CommandError, match="No user named 'nobody'"):
        run("nobody")
    assert not StaffTOTPDevice.objects.exists()


def test_options_exclude_each_other(alice):
    with pytest.raises(CommandError):
        run("alice", "--remove", "--reset")


def test_warns_when_the_user_is_not_staff():
    make_staff("bob", superuser=False)
    err = io.StringIO()
    call_command("admin_totp", "bob", "--no-qr", stdout=io.StringIO(), stderr=err)
    assert "not an active staff user" in err.getvalue()


def test_journal_never_holds_the_seed(alice):
    run("alice")
    device = StaffTOTPDevice.objects.get(user=alice)
    run("alice", "--confirm", code_for(device))
    run("alice", "--reset")
    journal = " ".join(f"{e.actor} {e.subject} {e.data}" for e in all_events())
    seed = device.bin_key
    for encoding in (seed.hex(), b32encode(seed).decode().rstrip("="), device.encrypted_seed):
        assert encoding not in journal
