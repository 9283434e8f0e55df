"""Enrolled devices: registration, the PIN attempt counter, revocation, unblocking.

Rules from docs/design/card-app.md: a professional has at most ``IDP_CARD_MAX_DEVICES`` usable
devices; a credential expires ``IDP_CARD_CREDENTIAL_DAYS`` after activation; ``
IDP_CARD_MAX_PIN_FAILURES`` consecutive wrong PINs block the device until re-activation or an
administrator unblocks it. Counters move with conditional UPDATEs and F() expressions so that
concurrent requests all count (architecture habit 4).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from idp.accounts.models import Professional
from idp.audit import journal
from idp.audit.tags import EventTag
from idp.authn.card import pin as pins
from idp.authn.card.errors import CardError
from idp.authn.card.models import CardDevice

NAME_MAX = 64


def usable(professional: Professional) -> list[CardDevice]:
    """The professional's devices that can approve now (not revoked, blocked or expired)."""
    return list(
        CardDevice.objects.filter(
            professional=professional,
            revoked_at__isnull=True,
            blocked_at__isnull=True,
            expires_at__gt=timezone.now(),
        ).order_by("created_at")
    )


def clean_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > NAME_MAX:
        raise CardError("invalid_request", "device name of 1 to 64 characters required")
    return " ".join(name.split())


def register(
    professional: Professional,
    *,
    jwk: dict[str, Any],
    kid: str,
    name: str,
    pin: str,
    method: str,
    push: dict[str, Any] | None = None,
    request: Any = None,
) -> CardDevice:
    """Enrol a new device (called inside the activation's transaction).

    Raises ``weak_pin``, ``too_many_devices`` or ``invalid_request`` (a key already enrolled).
    """
    name = clean_name(name)
    try:
        pins.check_policy(pin)
    except pins.WeakPin as exc:
        raise CardError("weak_pin", exc.reason) from exc
    if CardDevice.objects.filter(kid=kid).exists():
        raise CardError("invalid_request", "this key is already enrolled")
    # Serialise enrolments of one professional so the maximum holds under concurrency.
    Professional.objects.select_for_update().filter(pk=professional.pk).first()
    if len(usable(professional)) >= settings.IDP_CARD_MAX_DEVICES:
        raise CardError("too_many_devices", f"max {settings.IDP_CARD_MAX_DEVICES}")
    salt = pins.new_salt()
    now = timezone.now()
    try:
        # A savepoint: the same key registered by a concurrent activation (the exists() check
        # above raced) breaks the unique kid, which must be a clear refusal, not a 500.
        with transaction.atomic():
            device = CardDevice.objects.create(
                professional=professional,
                name=name,
                kid=kid,
                public_jwk=jwk,
                pin_salt=salt,
                pin_hash=pins.hash_pin(pin, salt),
                expires_at=now + timedelta(days=settings.IDP_CARD_CREDENTIAL_DAYS),
                push=push,
                activated_by=method,
                last_used_at=now,
            )
    except IntegrityError as exc:
        raise CardError("invalid_request", "this key is already enrolled") from exc
    journal.record(
        EventTag.AUTHN_CARD_ACTIVATED,
        actor=f"professional:{professional.sub}",
        subject=f"card_device:{device.kid}",
        request=request,
        data={"method": method, "name": name, "expires_at": device.expires_at},
    )
    return device


def check_pin(device: CardDevice, pin: Any, *, request: Any = None) -> bool:
    """Compare the PIN as a smart card does: no comparison without the attempt counted.

    One conditional UPDATE, atomic under the row's lock, both counts and compares: while the
    device is not blocked and under ``IDP_CARD_MAX_PIN_FAILURES``, a right PIN restarts the
    counter at 0, a wrong one adds 1 and, if that was the last attempt, blocks the device; a
    device without an attempt left is not compared at all. So concurrent guesses can never test
    more PINs than the limit (tests/security/test_card_pin_burst.py), and no failure can come
    between a comparison and its count. What the database compares is the keyed hash of the
    presented PIN (:func:`pin.hash_pin`): without the server's key its timing tells nothing
    about other PINs. Returns whether the PIN matched.
    """
    limit = settings.IDP_CARD_MAX_PIN_FAILURES
    presented = pins.presented_hash(pin, device.pin_salt)
    now = timezone.now()
    blocked_at = connection.ops.adapt_datetimefield_value(now)
    # A raw statement on this path (every card login): the ORM's UPDATE compilation cost more
    # than the statement itself, and one statement is one round trip and one commit.
    with connection.cursor() as cursor:
        cursor.execute(_ATTEMPT_SQL, [presented, presented, limit, blocked_at, device.pk, limit])
        counted = cursor.fetchall()
    if not counted:  # blocked, or no attempt left: nothing compared
        device.refresh_from_db(fields=["pin_failures", "blocked_at"])
        return False
    ((failures, blocked),) = counted
    # The row as the statement left it (it was unblocked: the WHERE), not as it was loaded.
    device.pin_failures, device.blocked_at = failures, (None if blocked is None else now)
    if failures == 0:  # a wrong PIN always leaves at least 1
        return True
    if blocked is None:
        return False
    journal.record(
        EventTag.AUTHN_CARD_DEVICE_BLOCKED,
        actor=f"professional:{device.professional.sub}",
        subject=f"card_device:{device.kid}",
        request=request,
        data={"pin_failures": failures},
    )
    return False


_TABLE = CardDevice._meta.db_table
# In SET, the right-hand sides read the row as it was (SQL-92): ``pin_failures + 1`` is the
# count this attempt makes. blocked_at is NULL before (the WHERE), and stays so unless this
# wrong PIN used the last attempt.
_ATTEMPT_SQL = (
    f"UPDATE {_TABLE} SET"  # noqa: S608 (model metadata only)
    " pin_failures = CASE WHEN pin_hash = %s THEN 0 ELSE pin_failures + 1 END,"
    " blocked_at = CASE WHEN pin_hash <> %s AND pin_failures + 1 >= %s THEN %s END"
    " WHERE id = %s AND blocked_at IS NULL AND pin_failures < %s"
    " RETURNING pin_failures, blocked_at"
)


def revoke(device: CardDevice, *, actor: str, reason: str, request: Any = None) -> bool:
    """Revoke a device for good (it can no longer sign anything); False if it already was."""
    done = (
        CardDevice.objects.filter(pk=device.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now(), revoked_reason=reason[:40]
        )
        == 1
    )
    if done:
        journal.record(
            EventTag.AUTHN_CARD_DEVICE_REVOKED,
            actor=actor,
            subject=f"card_device:{device.kid}",
            request=request,
            data={"reason": reason, "professional": device.professional.sub},
        )
    device.refresh_from_db(fields=["revoked_at", "revoked_reason"])
    return done


def rename(device: CardDevice, name: Any, *, actor: str, request: Any = None) -> CardDevice:
    """The holder names the device (``invalid_request`` unless 1 to 64 characters)."""
    name = clean_name(name)
    if name != device.name:
        old = device.name
        CardDevice.objects.filter(pk=device.pk).update(name=name)
        device.name = name
        journal.record(
            EventTag.AUTHN_CARD_DEVICE_RENAMED,
            actor=actor,
            subject=f"card_device:{device.kid}",
            request=request,
            data={"old_name": old, "name": name},
        )
    return device


def set_push(device: CardDevice, subscription: dict[str, Any] | None) -> CardDevice:
    """Store the device's Web Push subscription (already validated), or None to stop push."""
    CardDevice.objects.filter(pk=device.pk).update(push=subscription)
    device.push = subscription
    return device


def unblock(device: CardDevice, *, actor: str, request: Any = None) -> bool:
    """An administrator lifts a PIN block (after checking who the holder is)."""
    done = (
        CardDevice.objects.filter(
            pk=device.pk, blocked_at__isnull=False, revoked_at__isnull=True
        ).update(blocked_at=None, pin_failures=0)
        == 1
    )
    if done:
        journal.record(
            EventTag.AUTHN_CARD_DEVICE_UNBLOCKED,
            actor=actor,
            subject=f"card_device:{device.kid}",
            request=request,
            data={"professional": device.professional.sub},
        )
    device.refresh_from_db(fields=["blocked_at", "pin_failures"])
    return done


def revoke_all(professional: Professional, *, actor: str, reason: str) -> int:
    """Revoke every device of a professional (deactivation by the registry, for instance)."""
    count = 0
    for device in CardDevice.objects.filter(professional=professional, revoked_at__isnull=True):
        count += revoke(device, actor=actor, reason=reason)
    return count
