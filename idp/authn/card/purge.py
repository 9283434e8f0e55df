"""Deleting card app records that can no longer matter (run by ``manage.py purge_expired``).

Challenges and activations are short-lived (minutes; an administrator's code a week): once
expired for ``KEEP_EXPIRED`` they only take space, and the journal keeps what happened to them.
Devices are never purged here: a revoked or expired device stays listed for its holder and the
administrators.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from idp.authn.card.models import CardActivation, CardChallenge

KEEP_EXPIRED = timedelta(days=1)


def purge_expired(now: datetime | None = None) -> dict[str, int]:
    old = (now or timezone.now()) - KEEP_EXPIRED
    return {
        "card_challenges": CardChallenge.objects.filter(expires_at__lt=old).delete()[0],
        "card_activations": CardActivation.objects.filter(expires_at__lt=old).delete()[0],
    }
