"""Counting failures per key and refusing once there are too many, on top of django-ratelimit.

django-ratelimit's ``is_ratelimited(..., increment=True)`` counts every call and then says whether
the count is over the rate. A login page must count only the attempts that *failed*, and must refuse
the next attempt *before* checking the password (so that a correct password does not give itself
away). :class:`FailureLimiter` therefore splits the two steps:

* :meth:`~FailureLimiter.is_blocked` / :meth:`~FailureLimiter.retry_after` read the counter
  without changing it (one cache ``get`` of django-ratelimit's counter: no counter is a count of
  0, as ``get_usage(increment=False)`` says after adding a 0 counter);
* :meth:`~FailureLimiter.register_failure` adds one (``is_ratelimited(increment=True)``: cache
  ``add`` of the first failure, atomic ``incr`` of the next ones);
* :meth:`~FailureLimiter.hit` is ``retry_after`` then, when not blocked, ``register_failure``
  (for limits on attempts rather than failures); on Redis both in one atomic script;
* :meth:`~FailureLimiter.reset` forgets the failures of a key (after a successful login, say).

A key is blocked once it holds ``limit`` failures: ``limit`` failed attempts per window are checked,
the next ones are refused unchecked until the window ends. Keys are opaque strings (an attempted
username, an idNat, :func:`address_key` of a request); give each use its own ``group``.

Caveats, read in django-ratelimit 4.1's source (``django_ratelimit/core.py``):

* **Fixed windows**, not sliding ones. Counters live in buckets of ``window`` seconds aligned on
  the epoch and shifted per key (``crc32(key) % window``); the bucket number is part of the cache
  key. A key that reaches the limit is blocked until *its bucket* ends (anywhere between one second
  and ``window`` seconds later), then counts from zero. At most ``limit`` failures are checked per
  bucket, so up to twice ``limit`` in a short time around a bucket boundary. Changing ``limit`` or
  ``window`` starts new counters (the rate is part of the cache key too).
* **Check, then count**: requests in flight at the same moment all pass the check before any of
  them is counted, so a burst can exceed the limit by the number of requests the server runs
  concurrently (granian in deploy/: workers times blocking threads). The count itself is atomic,
  and so is :meth:`~FailureLimiter.hit` on Redis (check and count in one script).
* **The cache** is ``RATELIMIT_USE_CACHE`` (default ``"default"``). Redis (``REDIS_URL``) is shared
  by every worker; LocMemCache counts per process and forgets on restart (fine for a single-process
  development server and for tests; ``check --deploy`` warns about it: caducee.W004). A cache error
  propagates (the page fails rather than letting attempts through unchecked).
* ``RATELIMIT_ENABLE = False`` switches every limiter off (nothing is ever blocked).
"""

from __future__ import annotations

import hashlib
import ipaddress
from functools import lru_cache

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.http import HttpRequest
from django_ratelimit import ALL
from django_ratelimit import core as ratelimit_core
from django_ratelimit.core import is_ratelimited
from redis.exceptions import NoScriptError


class FailureLimiter:
    """At most ``limit`` failures per key in each (fixed) window of ``window`` seconds."""

    def __init__(self, group: str, *, limit: int, window: int) -> None:
        if limit < 1 or window < 1:
            raise ValueError("a failure limiter needs limit >= 1 and window >= 1 second")
        self.group = group
        self.limit = limit
        self.window = window
        # django-ratelimit's rate syntax: "<count>/<n><unit>". Only the period matters to it here
        # (bucket length, part of the cache key): blocking is decided by comparing with `limit`.
        self._rate = f"{limit}/{window}s"

    def __repr__(self) -> str:
        return f"FailureLimiter({self.group!r}, limit={self.limit}, window={self.window})"

    # --- the operations ------------------------------------------------------------------------
    def is_blocked(self, key: str) -> bool:
        """Whether ``key`` already holds ``limit`` failures in the current window."""
        return self.retry_after(key) > 0

    def retry_after(self, key: str) -> int:
        """Seconds until ``key`` may try again (its window ends); 0 when it is not blocked."""
        if not _enabled():
            return 0
        bucket, cache_key = self._bucket(key)
        count = _cache().get(cache_key)
        if count is not None and count >= self.limit:
            return self._until(bucket)
        return 0

    def register_failure(self, key: str) -> None:
        """Count one failed attempt for ``key`` in the current window."""
        is_ratelimited(
            _NO_REQUEST,
            group=self.group,
            key=self._key_function(key),
            rate=self._rate,
            method=ALL,
            increment=True,
        )

    def hit(self, key: str) -> int:
        """:meth:`retry_after` if ``key`` is blocked (nothing counted), else count one and say 0.

        On Redis the check and the count are one atomic script (one round trip, and concurrent
        hits cannot go over the limit); on another cache, :meth:`retry_after` then
        :meth:`register_failure`.
        """
        if not _enabled():
            return 0
        cache = _cache()
        if not isinstance(cache, RedisCache):
            retry = self.retry_after(key)
            if not retry:
                self.register_failure(key)
            return retry
        bucket, cache_key = self._bucket(key)
        client = cache._cache.get_client(write=True)
        args = (
            1,  # one key
            cache.make_and_validate_key(cache_key),
            self.limit,
            self.window + ratelimit_core.EXPIRATION_FUDGE,
        )
        try:
            counted = client.evalsha(_HIT_SCRIPT_SHA1, *args)
        except NoScriptError:  # first use on this server (or after SCRIPT FLUSH, a restart)
            counted = client.eval(_HIT_SCRIPT, *args)
        return 0 if counted else self._until(bucket)

    def reset(self, key: str) -> None:
        """Forget the failures of ``key`` in the current window."""
        _cache().delete(self._bucket(key)[1])

    # --- django-ratelimit's counters ------------------------------------------------------------
    def _bucket(self, key: str) -> tuple[int, str]:
        """The end of ``key``'s current window and the cache key of its counter.

        django-ratelimit has no public way to read or clear a counter without changing it: the
        cache key is rebuilt with the same (private) helpers ``get_usage`` uses, from the version
        pinned in requirements.lock. tests/core/test_ratelimit.py fails if an upgrade changes them.
        """
        value = _value(key)
        bucket = ratelimit_core._get_window(value, self.window)
        return bucket, ratelimit_core._make_cache_key(self.group, bucket, self._rate, value, ALL)

    @staticmethod
    def _until(bucket: int) -> int:
        # The bucket ending at `bucket` includes that second: counting restarts one second later.
        return max(bucket - int(ratelimit_core.time.time()), 0) + 1

    @staticmethod
    def _key_function(key: str):
        value = _value(key)
        return lambda group, request: value


# django-ratelimit's increment (cache.add of 1 with the window plus its fudge as expiry, else an
# atomic incr) preceded by the check, in one script. Values are plain integers in Django's Redis
# cache (its serializer leaves ints unpickled), as INCR needs.
_HIT_SCRIPT = """
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count >= tonumber(ARGV[1]) then return 0 end
if not redis.call('SET', KEYS[1], 1, 'EX', ARGV[2], 'NX') then redis.call('INCR', KEYS[1]) end
return 1
"""
# Redis names a loaded script by its SHA-1 (EVALSHA): an identifier, not a security measure.
_HIT_SCRIPT_SHA1 = hashlib.sha1(_HIT_SCRIPT.encode("ascii"), usedforsecurity=False).hexdigest()


def _enabled() -> bool:
    return getattr(settings, "RATELIMIT_ENABLE", True)


def _cache():
    return caches[getattr(settings, "RATELIMIT_USE_CACHE", "default")]


# get_usage reads the request only for its built-in keys ("ip", "user", "post:…") and for method
# filters; with a callable key and method=ALL it is never looked at.
_NO_REQUEST = HttpRequest()


def _value(key: str) -> str:
    """A fixed-length stand-in for ``key``.

    django-ratelimit concatenates group, rate, key and bucket number without separators before
    hashing them; a fixed length makes that unambiguous, whatever the key (attempted usernames are
    arbitrary text). It also keeps the key out of the cache in clear.
    """
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def address_key(request: HttpRequest) -> str:
    """The client address as a limiter key: ``REMOTE_ADDR``, IPv6 reduced to its network.

    One IPv6 subscriber usually holds a whole /64, so counting single IPv6 addresses would be
    useless: the prefix length is django-ratelimit's ``RATELIMIT_IPV6_MASK`` (default 64;
    ``RATELIMIT_IPV4_MASK`` likewise, default 32). IPv4-mapped IPv6 addresses count as IPv4.

    Only ``REMOTE_ADDR`` is read, like the audit journal: behind a reverse proxy it is the proxy's
    address unless a trusted-proxy middleware rewrites it, and then every client shares one
    counter. A missing or unparsable address (unix socket) gives the shared key ``"unknown"``.
    """
    return _address_key(
        str(request.META.get("REMOTE_ADDR") or ""),
        getattr(settings, "RATELIMIT_IPV4_MASK", 32),
        getattr(settings, "RATELIMIT_IPV6_MASK", 64),
    )


# Several limiters key on the address of one request, and a client's requests come back with the
# same address: parsed once (bounded, keyed on the masks too, so that settings changes apply).
@lru_cache(maxsize=1024)
def _address_key(raw: str, ipv4_mask: int, ipv6_mask: int) -> str:
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return "unknown"
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefix = ipv6_mask if isinstance(address, ipaddress.IPv6Address) else ipv4_mask
    network = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
    return str(network) if network.prefixlen < network.max_prefixlen else str(address)
