"""The PIN attempt counter and device states (idp/authn/card/devices.py)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from idp.audit.models import AuditEvent
from idp.authn.card import devices
from idp.authn.card.models import CardDevice
from tests.accounts.factories import make_professional, rpps
from tests.authn.card.helpers import PIN, enrol

pytestmark = pytest.mark.django_db


def test_a_right_pin_resets_the_counter():
    device, _phone = enrol(make_professional())
    assert not devices.check_pin(device, "0000")
    device.refresh_from_db()
    assert device.pin_failures == 1
    assert devices.check_pin(device, PIN)
    device.refresh_from_db()
    assert device.pin_failures == 0
    assert device.status == "active"


def test_three_wrong_pins_in_a_row_block_the_device(settings):
    settings.IDP_CARD_MAX_PIN_FAILURES = 3
    device, _phone = enrol(make_professional())
    for _ in range(3):
        assert not devices.check_pin(device, "9999")
    device.refresh_from_db()
    assert device.status == "blocked"
    assert AuditEvent.objects.filter(tag="authn:card:device_blocked").count() == 1
    # Once blocked, even the right PIN does not match.
    assert not devices.check_pin(device, PIN)


def test_after_a_wrong_pin_the_device_in_memory_is_what_the_database_holds():
    device, _phone = enrol(make_professional())
    device.blocked_at = timezone.now()  # stale: an administrator unblocked it since it was read
    assert not devices.check_pin(device, "9999")
    assert (device.pin_failures, device.blocked_at) == (1, None)


FULLWIDTH_4826 = "\uff14\uff18\uff12\uff16"  # digits, but not ASCII ones


@pytest.mark.parametrize("presented", [None, 4826, "", "9" * 40, "48\ud82626", FULLWIDTH_4826])
def test_what_is_not_a_pin_counts_as_a_wrong_attempt(presented):
    device, _phone = enrol(make_professional())
    assert not devices.check_pin(device, presented)
    device.refresh_from_db()
    assert (device.pin_failures, device.blocked_at) == (1, None)


def test_the_last_wrong_attempt_blocks_and_is_journaled_with_its_count(settings):
    settings.IDP_CARD_MAX_PIN_FAILURES = 2
    device, _phone = enrol(make_professional())
    assert not devices.check_pin(device, "9999")
    assert device.blocked_at is None and device.pin_failures == 1
    assert not devices.check_pin(device, "9998")
    assert device.blocked_at is not None and device.pin_failures == 2
    stored = CardDevice.objects.get(pk=device.pk)
    assert stored.blocked_at is not None and stored.pin_failures == 2
    (event,) = AuditEvent.objects.filter(tag="authn:card:device_blocked")
    assert event.data == {"pin_failures": 2}
    assert event.subject == f"card_device:{device.kid}"


def test_an_administrator_unblocks_and_the_counter_restarts():
    device, _phone = enrol(make_professional())
    for _ in range(3):
        devices.check_pin(device, "9999")
    assert devices.unblock(device, actor="admin:alice")
    assert device.status == "active"
    assert device.pin_failures == 0
    assert devices.check_pin(device, PIN)
    assert AuditEvent.objects.filter(tag="authn:card:device_unblocked").count() == 1


def test_revocation_is_final_and_journaled_once():
    device, _phone = enrol(make_professional())
    assert devices.revoke(device, actor="admin:alice", reason="lost")
    assert not devices.revoke(device, actor="admin:alice", reason="lost")
    assert device.status == "revoked"
    assert device not in devices.usable(device.professional)
    assert AuditEvent.objects.filter(tag="authn:card:device_revoked").count() == 1


def test_expired_credentials_are_not_usable():
    device, _phone = enrol(make_professional(), days=0)
    assert device.status == "expired"
    assert devices.usable(device.professional) == []


def test_a_key_already_enrolled_is_refused_for_another_professional():
    """Refused by the pre-check; a concurrent registration past it meets the unique kid, which
    register() turns into the same refusal inside a savepoint (PostgreSQL race, not staged here)."""
    from django.db import transaction

    from idp.authn.card.errors import CardError
    from idp.authn.card.models import ActivationMethod

    device, phone = enrol(make_professional())
    other = make_professional("8" + rpps(7))
    with transaction.atomic(), pytest.raises(CardError) as caught:
        devices.register(
            other,
            jwk=phone.public_jwk,
            kid=device.kid,
            name="Second",
            pin="4826",
            method=ActivationMethod.ADMIN,
        )
    assert caught.value.code == "invalid_request"
    assert devices.usable(other) == []


def test_decoys_share_the_form_of_a_number_with_a_leading_zero():
    from idp.authn.card.challenges import _numbers

    for _ in range(200):
        number, choices = _numbers("07")
        assert number == "07" and len(set(choices)) == 3 and "07" in choices
    assert any(c.startswith("0") for _ in range(200) for c in _numbers("07")[1] if c != "07")
