"""Rate limits of the card app (anti push-bombing, code guessing), on :mod:`idp.core.ratelimit`.

Each limiter counts attempts (or failures, where said) per key in fixed windows; :func:`hit`
refuses with ``rate_limited`` (and ``retry_after``) once a key is over, then counts the attempt;
:func:`hit_all` does the same for an attempt limited several ways (all counted, or none).
"""

from __future__ import annotations

from django.http import HttpRequest

from idp.authn.card.errors import CardError
from idp.core import ratelimit
from idp.core.ratelimit import FailureLimiter, address_key

# Self-service activation: codes are sent to the registry's contacts; bound both per idNat (the
# holder's mailbox and phone) and per address (enumeration, SMS cost).
ACTIVATION_PER_ID_NAT = FailureLimiter("card-activation-idnat", limit=5, window=3600)
ACTIVATION_PER_ADDRESS = FailureLimiter("card-activation-ip", limit=20, window=3600)
# Wrong activation codes per address (each activation also has its own attempt counter).
ACTIVATION_FAILURES_PER_ADDRESS = FailureLimiter("card-activation-fail-ip", limit=20, window=3600)
# Login challenges (push): per idNat against push-bombing, per address against a spraying browser.
CHALLENGES_PER_ID_NAT = FailureLimiter("card-challenge-idnat", limit=10, window=600)
CHALLENGES_PER_ADDRESS = FailureLimiter("card-challenge-ip", limit=60, window=600)
# Offline codes: failures per idNat and per address.
OFFLINE_FAILURES_PER_ID_NAT = FailureLimiter("card-offline-idnat", limit=5, window=900)
OFFLINE_FAILURES_PER_ADDRESS = FailureLimiter("card-offline-ip", limit=30, window=900)
# Refused signed requests per address (forged, replayed, unknown device).
BAD_REQUESTS_PER_ADDRESS = FailureLimiter("card-api-bad-ip", limit=50, window=600)


def rate_limited(limiter: FailureLimiter, key: str, retry_after: int) -> CardError:
    """The refusal of a blocked key: ``rate_limited``, public ``retry_after``, private detail."""
    return CardError("rate_limited", f"{limiter.group} {key[:24]}", retry_after=retry_after)


def check(limiter: FailureLimiter, key: str) -> None:
    """Refuse if ``key`` is over its limit (without counting)."""
    retry = limiter.retry_after(key)
    if retry:
        raise rate_limited(limiter, key, retry)


def hit(limiter: FailureLimiter, key: str) -> None:
    """Refuse if over, else count this attempt (one Redis round trip: FailureLimiter.hit)."""
    retry = limiter.hit(key)
    if retry:
        raise rate_limited(limiter, key, retry)


def hit_all(*hits: tuple[FailureLimiter, str]) -> None:
    """Refuse if any key is over (nothing counted on any), else count this attempt on every key.

    Replaces ``check`` of each key then ``hit`` of each (two Redis round trips per limiter): one
    atomic script, one round trip (:func:`idp.core.ratelimit.hit_all`). The refusal is
    :func:`hit`'s: ``rate_limited`` with the longest ``retry_after`` of the blocked keys (the
    attempt is refused until all of them reopen), its limiter and key in the private detail.
    """
    retries = ratelimit.hit_all(hits)
    retry = max(retries, default=0)
    if retry:
        limiter, key = hits[retries.index(retry)]
        raise rate_limited(limiter, key, retry)


def address(request: HttpRequest) -> str:
    return address_key(request)
