"""The Redis cache backend keeps one client per pool and behaves like Django's."""

import os
import socket

import pytest

from idp.core.redis_cache import PersistentRedisCache

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/1")


def _redis_or_skip() -> None:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError:
        if os.environ.get("CI"):
            pytest.fail("CI runs Redis on 127.0.0.1:6379")
        pytest.skip("needs Redis on 127.0.0.1:6379")


@pytest.fixture
def redis_cache():
    _redis_or_skip()
    cache = PersistentRedisCache(REDIS_URL, {"KEY_PREFIX": "caducee-test-persistent"})
    yield cache
    cache.delete_many(["a", "b", "n"])


def test_behaves_like_djangos_cache(redis_cache):
    redis_cache.set("a", {"x": 1}, 30)
    assert redis_cache.get("a") == {"x": 1}
    assert redis_cache.add("a", 2, 30) is False
    assert redis_cache.get_many(["a", "b"]) == {"a": {"x": 1}}
    redis_cache.set("n", 1, 30)
    assert redis_cache.incr("n") == 2
    redis_cache.delete("a")
    assert redis_cache.get("a") is None


def test_one_client_per_pool(redis_cache):
    backend = redis_cache._cache
    assert backend.get_client() is backend.get_client(write=True)
