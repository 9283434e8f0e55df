"""idp.core.ratelimit: failure counters on django-ratelimit (the cache of the run: LocMemCache, or
Redis when REDIS_URL is set), with django-ratelimit's clock stopped (tests/conftest.py)."""

from __future__ import annotations

import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections
from django.test import RequestFactory
from django_ratelimit import ALL
from django_ratelimit import core as ratelimit_core

from idp.core.ratelimit import FailureLimiter, _value, add_unless_blocked, address_key, hit_all
from tests.redis_round_trips import redis_round_trips, require_redis

WINDOW = 15 * 60


@pytest.fixture
def limiter(ratelimit_clock) -> FailureLimiter:
    return FailureLimiter("tests.ratelimit", limit=3, window=WINDOW)


def fail(limiter: FailureLimiter, key: str, times: int) -> None:
    for _ in range(times):
        limiter.register_failure(key)


def test_a_key_is_blocked_once_it_holds_limit_failures(limiter):
    assert not limiter.is_blocked("alice")
    assert limiter.retry_after("alice") == 0
    fail(limiter, "alice", 2)
    assert not limiter.is_blocked("alice")
    limiter.register_failure("alice")
    assert limiter.is_blocked("alice")
    assert 1 <= limiter.retry_after("alice") <= WINDOW


def test_checking_does_not_count(limiter):
    fail(limiter, "alice", 2)
    for _ in range(10):
        assert not limiter.is_blocked("alice")
        assert limiter.retry_after("alice") == 0


def test_keys_and_groups_are_counted_apart(limiter, ratelimit_clock):
    fail(limiter, "alice", 3)
    other_group = FailureLimiter("tests.ratelimit.other", limit=3, window=WINDOW)
    assert limiter.is_blocked("alice")
    assert not limiter.is_blocked("bob")
    assert not limiter.is_blocked("Alice")  # keys are opaque: normalising them is the caller's job
    assert not other_group.is_blocked("alice")


def test_the_block_lasts_until_the_end_of_the_fixed_window(limiter, ratelimit_clock):
    fail(limiter, "alice", 3)
    wait = limiter.retry_after("alice")
    ratelimit_clock.advance(wait - 1)
    assert limiter.retry_after("alice") == 1
    ratelimit_clock.advance(1)
    assert not limiter.is_blocked("alice")  # a new window: counting starts from zero
    fail(limiter, "alice", 2)
    assert not limiter.is_blocked("alice")


def test_failures_after_the_block_do_not_extend_it(limiter, ratelimit_clock):
    fail(limiter, "alice", 3)
    wait = limiter.retry_after("alice")
    fail(limiter, "alice", 10)
    assert limiter.retry_after("alice") == wait
    ratelimit_clock.advance(wait)
    assert not limiter.is_blocked("alice")


def test_reset_forgets_the_failures_of_one_key(limiter):
    fail(limiter, "alice", 3)
    fail(limiter, "bob", 3)
    limiter.reset("alice")
    assert not limiter.is_blocked("alice")
    assert limiter.is_blocked("bob")
    fail(limiter, "alice", 2)
    assert not limiter.is_blocked("alice")
    limiter.register_failure("alice")
    assert limiter.is_blocked("alice")
    limiter.reset("nobody")  # nothing to forget: no error


def test_changing_the_limit_starts_new_counters(limiter):
    fail(limiter, "alice", 3)
    assert not FailureLimiter("tests.ratelimit", limit=4, window=WINDOW).is_blocked("alice")


def test_any_text_is_a_valid_key(limiter):
    awkward = ["x" * 5000, "with space\nand newline", "é\u0301\x00", "\ud800"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # CacheKeyWarning: keys reach the cache hashed
        for key in awkward:
            fail(limiter, key, 3)
            assert limiter.is_blocked(key)
            limiter.reset(key)
            assert not limiter.is_blocked(key)


def test_ratelimit_enable_false_switches_limiters_off(limiter, settings):
    settings.RATELIMIT_ENABLE = False
    fail(limiter, "alice", 10)
    assert not limiter.is_blocked("alice")


@pytest.mark.parametrize(("limit", "window"), [(0, 60), (3, 0), (-1, 60)])
def test_a_limiter_needs_a_positive_limit_and_window(limit, window):
    with pytest.raises(ValueError, match="limit >= 1"):
        FailureLimiter("tests.ratelimit", limit=limit, window=window)


@pytest.mark.parametrize(
    ("remote_addr", "key"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:DB8:1:2::ffff", "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.7", "192.0.2.7"),  # IPv4-mapped: the IPv4 address, not ::/64
        ("", "unknown"),
        ("/run/granian.sock", "unknown"),
    ],
)
def test_address_key(remote_addr, key):
    request = RequestFactory().get("/", REMOTE_ADDR=remote_addr)
    assert address_key(request) == key


def test_address_key_follows_django_ratelimit_masks(settings):
    settings.RATELIMIT_IPV6_MASK = 48
    settings.RATELIMIT_IPV4_MASK = 24
    factory = RequestFactory()
    assert address_key(factory.get("/", REMOTE_ADDR="2001:db8:1:2::1")) == "2001:db8:1::/48"
    assert address_key(factory.get("/", REMOTE_ADDR="192.0.2.7")) == "192.0.2.0/24"


def test_hit_counts_until_the_limit_then_refuses_without_counting(limiter, ratelimit_clock):
    assert [limiter.hit("alice") for _ in range(3)] == [0, 0, 0]
    wait = limiter.hit("alice")
    assert 1 <= wait <= WINDOW
    assert wait == limiter.retry_after("alice")
    assert limiter.hit("alice") == wait  # refused attempts are not counted: the block stays as is
    ratelimit_clock.advance(wait)
    assert limiter.hit("alice") == 0  # a new window
    assert not limiter.is_blocked("alice")


def test_hit_and_register_failure_share_one_counter(limiter):
    limiter.register_failure("alice")
    limiter.hit("alice")
    assert not limiter.is_blocked("alice")
    limiter.hit("alice")
    assert limiter.is_blocked("alice")
    limiter.reset("alice")
    assert limiter.hit("alice") == 0


def test_hit_with_ratelimit_enable_false(limiter, settings):
    settings.RATELIMIT_ENABLE = False
    assert [limiter.hit("alice") for _ in range(10)] == [0] * 10


# --- hit_all: one attempt limited several ways --------------------------------------------------
@pytest.fixture
def per_address(ratelimit_clock) -> FailureLimiter:
    return FailureLimiter("tests.ratelimit.address", limit=5, window=2 * WINDOW)


def test_hit_all_counts_one_on_every_key(limiter, per_address):
    assert hit_all([(limiter, "alice"), (per_address, "192.0.2.7")]) == [0, 0]
    assert hit_all([(limiter, "alice"), (per_address, "192.0.2.7")]) == [0, 0]
    limiter.register_failure("alice")
    assert limiter.is_blocked("alice")  # 2 + 1 = limit
    assert _count(per_address, "192.0.2.7") == 2


def test_hit_all_counts_nothing_when_any_key_is_blocked(limiter, per_address):
    fail(per_address, "192.0.2.7", 5)
    wait = per_address.retry_after("192.0.2.7")
    assert hit_all([(limiter, "alice"), (per_address, "192.0.2.7")]) == [0, wait]
    assert _count(limiter, "alice") == 0  # not counted on the key that was not blocked either
    assert _count(per_address, "192.0.2.7") == 5


def test_hit_all_gives_each_blocked_keys_wait(limiter, per_address, ratelimit_clock):
    fail(limiter, "alice", 3)
    fail(per_address, "192.0.2.7", 5)
    retries = hit_all([(limiter, "alice"), (per_address, "192.0.2.7")])
    assert retries == [limiter.retry_after("alice"), per_address.retry_after("192.0.2.7")]
    assert all(retries)
    ratelimit_clock.advance(min(retries))  # the first block ends, the other still refuses
    assert sorted(hit_all([(limiter, "alice"), (per_address, "192.0.2.7")])) == [
        0,
        max(retries) - min(retries),
    ]
    reopened = [
        (c, k) for c, k in ((limiter, "alice"), (per_address, "192.0.2.7")) if not c.retry_after(k)
    ]
    assert len(reopened) == 1
    assert _count(*reopened[0]) == 0  # its new window counted nothing: the other key refused


def test_hit_all_stops_at_the_first_limit_reached(limiter, per_address):
    results = [hit_all([(limiter, "alice"), (per_address, "192.0.2.7")]) for _ in range(5)]
    assert [any(r) for r in results] == [False, False, False, True, True]
    assert _count(per_address, "192.0.2.7") == 3  # the refused attempts counted nowhere


def test_hit_all_of_one_key_is_hit(limiter):
    assert [hit_all([(limiter, "alice")]) for _ in range(3)] == [[0]] * 3
    assert hit_all([(limiter, "alice")]) == [limiter.hit("alice")] == [limiter.retry_after("alice")]


def test_hit_all_of_nothing_and_switched_off(limiter, settings):
    assert hit_all([]) == []
    settings.RATELIMIT_ENABLE = False
    assert hit_all([(limiter, "alice")] * 10) == [0] * 10
    settings.RATELIMIT_ENABLE = True
    assert _count(limiter, "alice") == 0


def test_hit_all_writes_django_ratelimits_own_counters(limiter, per_address):
    """The counters are django-ratelimit's: its get_usage reads what hit_all counted."""
    hit_all([(limiter, "alice"), (per_address, "192.0.2.7")])
    hit_all([(limiter, "alice")])
    for counter, key, count in ((limiter, "alice", 2), (per_address, "192.0.2.7", 1)):
        usage = ratelimit_core.get_usage(
            RequestFactory().get("/"),
            group=counter.group,
            key=lambda group, request, key=key: _value(key),
            rate=f"{counter.limit}/{counter.window}s",
            method=ALL,
            increment=False,
        )
        assert usage["count"] == count
        assert usage["limit"] == counter.limit


def test_hit_all_expiry_is_django_ratelimits(limiter, per_address):
    """The counter expires when django-ratelimit's would: window + EXPIRATION_FUDGE."""
    cache = require_redis()
    hit_all([(limiter, "alice"), (per_address, "192.0.2.7")])
    client = cache._cache.get_client()
    for counter, key in ((limiter, "alice"), (per_address, "192.0.2.7")):
        ttl = client.ttl(cache.make_and_validate_key(counter._bucket(key)[1]))
        assert counter.window < ttl <= counter.window + ratelimit_core.EXPIRATION_FUDGE


def test_hit_all_is_atomic_under_concurrency(per_address):
    """Concurrent attempts never get past any limit: exactly `limit` of them are counted."""
    require_redis()
    other = FailureLimiter("tests.ratelimit.other", limit=50, window=WINDOW)
    start = threading.Barrier(20)

    def attempt(_):
        start.wait()
        try:
            return [not any(hit_all([(other, "alice"), (per_address, "a")])) for _ in range(5)]
        finally:
            connections.close_all()

    with ThreadPoolExecutor(20) as pool:
        admitted = sum(sum(batch) for batch in pool.map(attempt, range(20)))
    assert admitted == per_address.limit == _count(per_address, "a")
    assert _count(other, "alice") == per_address.limit


def test_hit_all_is_one_round_trip(limiter, per_address):
    hit_all([(limiter, "warm-up"), (per_address, "warm-up")])  # the script is loaded once
    with redis_round_trips() as trips:
        hit_all([(limiter, "alice"), (per_address, "192.0.2.7")])
        fail(per_address, "192.0.2.7", 4)
    assert trips.names[0] == ["EVALSHA"]
    with redis_round_trips() as trips:
        assert hit_all([(limiter, "alice"), (per_address, "192.0.2.7")])[1]
    assert trips.names == [["EVALSHA"]]  # refused: the same single round trip


def test_hit_is_one_round_trip(limiter):
    limiter.hit("warm-up")
    with redis_round_trips() as trips:
        limiter.hit("alice")
    assert trips.names == [["EVALSHA"]]


def _count(limiter: FailureLimiter, key: str) -> int:
    from django.core.cache import caches

    return caches["default"].get(limiter._bucket(key)[1]) or 0


# --- add_unless_blocked: a single-use key, unless a limiter refuses -----------------------------
def test_add_unless_blocked_adds_a_single_use_key_once(limiter):
    assert add_unless_blocked(limiter, "alice", "tests:once:1", 60) == (0, True)
    assert add_unless_blocked(limiter, "alice", "tests:once:1", 60) == (0, False)
    assert add_unless_blocked(limiter, "alice", "tests:once:2", 60) == (0, True)
    assert _count(limiter, "alice") == 0  # reading the limiter counts nothing


def test_add_unless_blocked_adds_nothing_for_a_blocked_key(limiter):
    from django.core.cache import cache

    fail(limiter, "alice", 3)
    assert add_unless_blocked(limiter, "alice", "tests:once:1", 60) == (
        limiter.retry_after("alice"),
        False,
    )
    assert cache.get("tests:once:1") is None
    limiter.reset("alice")
    assert add_unless_blocked(limiter, "alice", "tests:once:1", 60) == (0, True)
    assert cache.get("tests:once:1") == 1  # what cache.add(key, 1, timeout) stores


def test_add_unless_blocked_with_limiters_switched_off(limiter, settings):
    fail(limiter, "alice", 3)
    settings.RATELIMIT_ENABLE = False
    assert add_unless_blocked(limiter, "alice", "tests:once:1", 60) == (0, True)
    assert add_unless_blocked(limiter, "alice", "tests:once:1", 60) == (0, False)


def test_add_unless_blocked_expires_the_key(limiter):
    cache = require_redis()
    add_unless_blocked(limiter, "alice", "tests:once:1", 125)
    assert 120 < cache._cache.get_client().ttl(cache.make_and_validate_key("tests:once:1")) <= 125


def test_add_unless_blocked_is_one_round_trip(limiter):
    add_unless_blocked(limiter, "warm-up", "tests:once:0", 60)
    with redis_round_trips() as trips:
        add_unless_blocked(limiter, "alice", "tests:once:1", 60)
    assert trips.names == [["EVALSHA"]]
