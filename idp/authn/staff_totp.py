"""Enrolment and removal of administrators' TOTP authenticators.

The ceremony has two steps, because the operator must see the seed before a code exists:

1. :func:`begin_enrolment` creates an *unconfirmed* device with a fresh seed, to be shown once
   (``config_url``) and scanned by the administrator's authenticator app;
2. :func:`confirm_enrolment` checks a first code from the app (RFC 6238 §4) and only then marks the
   device confirmed, the only state in which the admin login accepts it.

Both :func:`confirm_enrolment` and :func:`remove_devices` write to the security journal in the
transaction that makes the change.
"""

from __future__ import annotations

import math

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from idp.audit.journal import record
from idp.audit.tags import EventTag
from idp.authn.models import StaffTOTPDevice

DEFAULT_DEVICE_NAME = "Authenticator app"


class EnrolmentError(Exception):
    """The enrolment step cannot be done; the message says why and what to do instead."""


class CodeRefused(EnrolmentError):
    """The confirmation code did not verify (wrong, reused, or the device is throttled)."""

    def __init__(self, message: str, *, retry_after: int = 0) -> None:
        super().__init__(message)
        #: Seconds before the device accepts another attempt (django-otp throttling).
        self.retry_after = retry_after


def retry_after(device: StaffTOTPDevice) -> int:
    """Seconds until ``device`` accepts a verification attempt again (0: now)."""
    allowed, extra = device.verify_is_allowed()
    if allowed or not extra or extra.get("locked_until") is None:
        return 0
    return max(1, math.ceil((extra["locked_until"] - timezone.now()).total_seconds()))


def begin_enrolment(
    user: AbstractBaseUser, *, actor: str, reset: bool = False, name: str = DEFAULT_DEVICE_NAME
) -> StaffTOTPDevice:
    """Create an unconfirmed device with a fresh seed for ``user``.

    A pending (unconfirmed) device is replaced silently: it was never usable. A confirmed one is
    replaced only with ``reset=True`` (lost phone, suspected compromise); it stops working at once
    and its removal is journaled.
    """
    with transaction.atomic():
        existing = StaffTOTPDevice.objects.select_for_update().filter(user=user).first()
        if existing is not None:
            if existing.confirmed and not reset:
                raise EnrolmentError(
                    f"{user.get_username()} already has a confirmed authenticator; "
                    "use --reset to replace it."
                )
            existing.delete()
            if existing.confirmed:
                record(
                    EventTag.ADMIN_TOTP_REMOVED,
                    actor=actor,
                    subject=f"admin:{user.get_username()}",
                    data={"reason": "reset"},
                )
        return StaffTOTPDevice.objects.create(user=user, name=name, confirmed=False)


def pending_device(user: AbstractBaseUser) -> StaffTOTPDevice | None:
    """The user's unconfirmed device, if an enrolment is waiting for its first code."""
    return StaffTOTPDevice.objects.filter(user=user, confirmed=False).first()


def confirm_enrolment(user: AbstractBaseUser, code: str, *, actor: str) -> StaffTOTPDevice:
    """Confirm the pending device with a first code from the authenticator app.

    Raises :class:`EnrolmentError` when nothing is pending, :class:`CodeRefused` when the code does
    not verify (the failure counts towards the device's throttling, as at login).
    """
    with transaction.atomic():
        device = (
            StaffTOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).first()
        )
        if device is None:
            raise EnrolmentError(
                f"{user.get_username()} has no enrolment waiting for confirmation; "
                f"run `manage.py admin_totp {user.get_username()}` first."
            )
        verified = device.verify_token(code)
        if verified:
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            record(
                EventTag.ADMIN_TOTP_ENROLLED,
                actor=actor,
                subject=f"admin:{user.get_username()}",
                data={"device": device.persistent_id},
            )
    # Raised outside the transaction: the failure counter written by verify_token must persist.
    if not verified:
        wait = retry_after(device)
        hint = f" Next attempt possible in {wait} s." if wait else ""
        raise CodeRefused(f"The code was refused (wrong, or already used).{hint}", retry_after=wait)
    return device


def remove_devices(user: AbstractBaseUser, *, actor: str, reason: str = "removed") -> int:
    """Delete every TOTP device of ``user`` (confirmed or pending); returns how many."""
    with transaction.atomic():
        devices = list(StaffTOTPDevice.objects.select_for_update().filter(user=user))
        for device in devices:
            device.delete()
        if devices:
            record(
                EventTag.ADMIN_TOTP_REMOVED,
                actor=actor,
                subject=f"admin:{user.get_username()}",
                data={"reason": reason, "count": len(devices)},
            )
    return len(devices)
