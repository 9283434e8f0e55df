"""Attack: guessing the activation codes to enrol a phone in someone else's name.

Self-service codes are 6 digits each (10^12 pairs): each activation allows 5 wrong tries, after
which even the right codes are refused; wrong tries also count per address across activations.
The QR and admin codes carry 100 bits and are only looked up by their keyed hash.
"""

from __future__ import annotations

import pytest

from idp.authn.card import activation
from idp.authn.card.models import ActivationMethod, CardActivation, CardDevice
from tests.authn.card.helpers import FakePhone
from tests.authn.card.test_activation import (
    complete_self_service,
    complete_with_code,
    holder,
    sms_outbox,  # noqa: F401 (fixture)
    started_self_service,
)

pytestmark = pytest.mark.django_db


def snapshot():
    return (
        CardDevice.objects.count(),
        list(CardActivation.objects.order_by("pk").values_list("consumed_at", "device_id")),
    )


def test_five_wrong_guesses_then_even_the_right_codes_fail(client):
    victim = holder()
    activation_id, email_code, sms_code = started_self_service(client, victim)
    before = snapshot()
    attacker = FakePhone()
    guesses = [f"{n:06d}" for n in range(1_000_000) if f"{n:06d}" != sms_code][:8]
    answers = [
        complete_self_service(client, attacker, activation_id, email_code, guess).json()["error"]
        for guess in guesses
    ]
    assert answers[:5] == ["activation_invalid"] * 5
    assert set(answers[5:]) == {"too_many_attempts"}
    # The attacker happens to learn the SMS code now: too late.
    late = complete_self_service(client, attacker, activation_id, email_code, sms_code)
    assert late.status_code == 429 and late.json()["error"] == "too_many_attempts"
    assert snapshot() == before
    assert CardActivation.objects.get(public_id=activation_id).attempts == 5


def test_guessing_across_activations_is_stopped_per_address(client, ratelimit_clock):
    victim = holder()
    issued = activation.issue_code(victim, ActivationMethod.ADMIN, actor="admin:alice")
    before = snapshot()
    attacker = FakePhone()
    errors = [
        complete_with_code(client, attacker, activation.new_activation_code()).json()["error"]
        for _ in range(21)
    ]
    assert errors[:20] == ["activation_invalid"] * 20
    assert errors[20] == "rate_limited"
    # Even a right code is refused from that address now.
    assert complete_with_code(client, attacker, issued.code).json()["error"] == "rate_limited"
    assert snapshot() == before


def test_a_self_service_id_is_not_an_activation_code(client):
    victim = holder()
    activation_id, _email, _sms = started_self_service(client, victim)
    before = snapshot()
    response = complete_with_code(client, FakePhone(), activation_id)
    assert response.json()["error"] == "activation_invalid"
    assert snapshot() == before
