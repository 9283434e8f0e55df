"""The card app's limits (idp/authn/card/limits.py): refusals as CardError, hit_all."""

from __future__ import annotations

import pytest

from idp.authn.card import limits
from idp.authn.card.errors import CardError
from tests.redis_round_trips import redis_round_trips

ID_NAT = "810000000001"
ADDRESS = "192.0.2.7"
PUSH = ((limits.CHALLENGES_PER_ID_NAT, ID_NAT), (limits.CHALLENGES_PER_ADDRESS, ADDRESS))


@pytest.fixture(autouse=True)
def _clock(ratelimit_clock):
    return ratelimit_clock


def _fill(limiter, key):
    for _ in range(limiter.limit):
        limiter.register_failure(key)


def test_hit_all_counts_every_attempt_until_a_limit_then_refuses():
    for _ in range(limits.CHALLENGES_PER_ID_NAT.limit):
        limits.hit_all(*PUSH)
    with pytest.raises(CardError) as refused:
        limits.hit_all(*PUSH)
    assert refused.value.code == "rate_limited"
    assert refused.value.status == 429
    wait = limits.CHALLENGES_PER_ID_NAT.retry_after(ID_NAT)
    assert refused.value.extra == {"retry_after": wait}
    assert refused.value.detail == f"card-challenge-idnat {ID_NAT}"
    # the refused attempt was counted nowhere: the address still has room for 50 more
    for _ in range(limits.CHALLENGES_PER_ADDRESS.limit - limits.CHALLENGES_PER_ID_NAT.limit):
        limits.hit(limits.CHALLENGES_PER_ADDRESS, ADDRESS)
    assert limits.CHALLENGES_PER_ADDRESS.is_blocked(ADDRESS)


def test_hit_all_refuses_like_check_then_hit_with_the_longest_wait():
    _fill(limits.CHALLENGES_PER_ADDRESS, ADDRESS)
    with pytest.raises(CardError) as by_check:
        limits.check(limits.CHALLENGES_PER_ADDRESS, ADDRESS)
    with pytest.raises(CardError) as by_hit_all:
        limits.hit_all(*PUSH)
    assert by_hit_all.value.as_json() == by_check.value.as_json()
    assert by_hit_all.value.detail == by_check.value.detail
    assert not limits.CHALLENGES_PER_ID_NAT.retry_after(ID_NAT)  # not counted on the idNat
    _fill(limits.CHALLENGES_PER_ID_NAT, ID_NAT)
    with pytest.raises(CardError) as both:
        limits.hit_all(*PUSH)
    longest = max(
        limits.CHALLENGES_PER_ID_NAT.retry_after(ID_NAT),
        limits.CHALLENGES_PER_ADDRESS.retry_after(ADDRESS),
    )
    assert both.value.extra == {"retry_after": longest}


def test_hit_all_is_one_round_trip():
    limits.hit_all(*PUSH)  # loads the script
    with redis_round_trips() as trips:
        limits.hit_all(*PUSH)
    assert trips.names == [["EVALSHA"]]
