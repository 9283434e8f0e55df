"""Django's Redis cache backend, keeping one client per connection pool.

Django's ``RedisCacheClient.get_client`` builds a new ``redis.Redis`` object on every cache call;
on the provider's hot paths (revocation markers, cached UserInfo documents) that construction was
about half the cost of each Redis round trip (docs/benchmarks.md). A ``redis.Redis`` client is
thread-safe (each command borrows a connection from the pool), so one per pool is enough.
"""

from __future__ import annotations

from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient


class _PersistentClientCacheClient(RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients.setdefault(id(pool), self._client(connection_pool=pool))
        return client


class PersistentRedisCache(RedisCache):
    """``django.core.cache.backends.redis.RedisCache`` with a persistent client per pool."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = _PersistentClientCacheClient

    def get_and_set(self, get_key: str, set_key: str, value: Any, timeout: int) -> Any:
        """``get(get_key)`` and ``set(set_key, value, timeout)`` in ONE round trip: both commands
        in one non-transactional pipeline (the write does not depend on what is read).

        For a hot path that reads one entry and writes another whatever it reads (the token
        endpoint's code exchange). ``timeout`` in seconds, at least 1.
        """
        if timeout < 1:
            raise ValueError("get_and_set needs a timeout of at least one second")
        client = self._cache.get_client(None, write=True)
        serializer = self._cache._serializer
        pipeline = client.pipeline(transaction=False)
        pipeline.get(self.make_and_validate_key(get_key))
        pipeline.set(self.make_and_validate_key(set_key), serializer.dumps(value), ex=int(timeout))
        found, _ = pipeline.execute()
        return None if found is None else serializer.loads(found)
