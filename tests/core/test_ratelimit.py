"""idp.core.ratelimit: failure counters on django-ratelimit (the cache of the run: LocMemCache, or
Redis when REDIS_URL is set), with django-ratelimit's clock stopped (tests/conftest.py)."""

from __future__ import annotations

import warnings

import pytest
from django.test import RequestFactory

from idp.core.ratelimit import FailureLimiter, address_key

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
