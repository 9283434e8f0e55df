"""Expired card challenges and activations are purged after a day; fresh ones stay."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from idp.authn.card.models import ActivationMethod, CardActivation, CardChallenge
from tests.accounts.factories import make_professional

pytestmark = pytest.mark.django_db


def _challenge(professional, expires_at):
    return CardChallenge.objects.create(
        purpose="login", professional=professional, number="42", expires_at=expires_at
    )


def test_purge_deletes_expired_card_records_and_keeps_recent_ones(capsys):
    professional = make_professional()
    now = timezone.now()
    stale = _challenge(professional, now - timedelta(days=2))
    recent = _challenge(professional, now - timedelta(hours=1))
    pending = _challenge(professional, now + timedelta(minutes=2))
    for days in (2, -1):
        CardActivation.objects.create(
            professional=professional,
            method=ActivationMethod.ADMIN,
            created_by="test",
            expires_at=now - timedelta(days=days),
        )

    call_command("purge_expired")

    out = capsys.readouterr().out
    assert "card_challenges: 1 deleted" in out
    assert "card_activations: 1 deleted" in out
    assert "ciba_requests: 0 deleted" in out
    remaining = set(CardChallenge.objects.values_list("pk", flat=True))
    assert remaining == {recent.pk, pending.pk}
    assert stale.pk not in remaining
    assert CardActivation.objects.count() == 1
