"""Attack: a stolen phone (its device key) fires many PIN guesses at once, hoping that more of
them are compared than the attempt counter allows (the counter used to move after the
comparison). No PIN is compared without its attempt counted, like a smart card (one statement
counts and compares): however many guesses race, at most IDP_CARD_MAX_PIN_FAILURES are
compared, then the device is blocked.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from idp.audit.models import AuditEvent
from idp.authn.card import devices
from idp.authn.card.models import CardDevice
from tests.accounts.factories import make_professional
from tests.authn.card.helpers import PIN, enrol

GUESSES = 12


def _burst(device_pk: int, guesses: list[str]) -> list[bool]:
    barrier = threading.Barrier(len(guesses))
    results: list[bool] = []
    lock = threading.Lock()

    def guess(pin: str) -> None:
        try:
            device = CardDevice.objects.select_related("professional").get(pk=device_pk)
            barrier.wait()
            matched = devices.check_pin(device, pin)
            with lock:
                results.append(matched)
        finally:
            connection.close()

    threads = [threading.Thread(target=guess, args=(pin,)) for pin in guesses]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs concurrent connections to one database: run with DATABASE_URL=postgres://…; "
    "SQLite serialises writers with BEGIN IMMEDIATE, there is no race to observe",
)
def test_a_burst_of_wrong_pins_is_counted_up_to_the_limit_and_blocks(settings):
    settings.IDP_CARD_MAX_PIN_FAILURES = 3
    device, _phone = enrol(make_professional())
    wrong = [f"{n:04d}" for n in range(5190, 5190 + GUESSES)]

    results = _burst(device.pk, wrong)

    assert results == [False] * GUESSES
    device.refresh_from_db()
    assert device.pin_failures == 3  # never more attempts than the card allows
    assert device.blocked_at is not None
    assert AuditEvent.objects.filter(tag="authn:card:device_blocked").count() == 1
    # Blocked means blocked: the right PIN is not even compared now.
    assert devices.check_pin(device, PIN) is False
    device.refresh_from_db()
    assert device.pin_failures == 3


@pytest.mark.django_db
def test_one_at_a_time_the_right_pin_resets_the_counter():
    device, _phone = enrol(make_professional())
    assert devices.check_pin(device, "5190") is False
    assert devices.check_pin(device, "5191") is False
    assert devices.check_pin(device, PIN) is True
    device.refresh_from_db()
    assert (device.pin_failures, device.blocked_at) == (0, None)
