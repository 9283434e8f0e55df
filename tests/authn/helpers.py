"""Shared helpers for the administrators' second-factor tests (also used by tests/core and
tests/security). Codes are computed for real from the decrypted seed, never mocked."""

from __future__ import annotations

import time

from django.contrib.auth import get_user_model
from django_otp.oath import TOTP

from idp.audit.tags import EventTag
from idp.authn.models import StaffTOTPDevice

PASSWORD = "correct horse battery staple 42"
ADMIN_LOGIN_URL = "/admin/login/"
ADMIN_INDEX_URL = "/admin/"


def make_staff(username: str = "alice", *, superuser: bool = True, **extra):
    User = get_user_model()
    if superuser:
        return User.objects.create_superuser(username, f"{username}@example.org", PASSWORD, **extra)
    return User.objects.create_user(username, f"{username}@example.org", PASSWORD, **extra)


def make_device(user, *, confirmed: bool = True) -> StaffTOTPDevice:
    return StaffTOTPDevice.objects.create(user=user, name="phone", confirmed=confirmed)


def code_for(device: StaffTOTPDevice, *, steps: int = 0, now: float | None = None) -> str:
    """The code the authenticator app shows, ``steps`` time steps from now (RFC 6238 §4)."""
    device.refresh_from_db()
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift + steps)
    totp.time = time.time() if now is None else now
    return f"{totp.token():0{device.digits}d}"


def wrong_code(device: StaffTOTPDevice) -> str:
    """A well-formed code that matches none of the steps the device accepts right now."""
    valid = {code_for(device, steps=s) for s in range(-device.tolerance, device.tolerance + 1)}
    return next(c for c in (f"{n:06d}" for n in range(1_000_000)) if c not in valid)


def login_data(username: str = "alice", *, password: str = PASSWORD, code: str | None = None):
    data = {"username": username, "password": password, "next": ADMIN_INDEX_URL}
    if code is not None:
        data["otp_token"] = code
    return data


def events(tag: EventTag):
    from idp.audit.models import AuditEvent

    return list(AuditEvent.objects.filter(tag=tag).order_by("sequence"))


def all_events():
    from idp.audit.models import AuditEvent

    return list(AuditEvent.objects.order_by("sequence"))


def verified_admin_client(client, user, *, through_login_page: bool = False):
    """``client`` logged in as ``user`` with a session verified by a confirmed TOTP device.

    By default the session is set up directly (fast, for tests about what the admin shows); with
    ``through_login_page`` it goes through the real password + code form.
    """
    device = StaffTOTPDevice.objects.filter(user=user, confirmed=True).first() or make_device(user)
    if through_login_page:
        response = client.post(
            ADMIN_LOGIN_URL, login_data(user.get_username(), code=code_for(device))
        )
        assert response.status_code == 302, "admin login failed"
        return client
    from django_otp import DEVICE_ID_SESSION_KEY

    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client
