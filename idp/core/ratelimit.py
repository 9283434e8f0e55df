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
  :func:`hit_all` does it for several limiters at once (all counted, or none), in one script too;
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
  and so are :meth:`~FailureLimiter.hit` and :func:`hit_all` on Redis (check and count in one
  script).
* **The cache** is ``RATELIMIT_USE_CACHE`` (default ``"default"``). Redis (``REDIS_URL``) is shared
  by every worker; LocMemCache counts per process and forgets on restart (fine for a single-process
  development server and for tests; ``check --deploy`` warns about it: caducee.W004). A cache error
  propagates (the page fails rather than letting attempts through unchecked).
* ``RATELIMIT_ENABLE = False`` switches every limiter off (nothing is ever blocked).
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Sequence
from functools import lru_cache

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.http import HttpRequest
from django_ratelimit import ALL
from django_ratelimit import core as ratelimit_core
from django_ratelimit.core import is_ratelimited
from redis.commands.core import Script


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
        :meth:`register_failure`. :func:`hit_all` does the same for several keys at once.
        """
        return hit_all([(self, key)])[0]

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


def hit_all(hits: Sequence[tuple[FailureLimiter, str]]) -> list[int]:
    """One attempt counted on every ``(limiter, key)`` of ``hits``, or on none of them.

    If any key is blocked, nothing is counted anywhere and the answer holds the
    :meth:`~FailureLimiter.retry_after` of each hit (0 for the keys that are not blocked; the
    caller waits for the largest); else one is counted on every key and the answer is all zeros.
    This is what "check every key, then hit every key" means, without its gaps: a key counted
    although a later one refused the attempt, or a burst passing all the checks before any count.

    Why one call: an attempt limited several ways (per idNat and per address, say) cost two
    round trips per limiter (read, then count); on Redis this is one script over all the counters,
    atomic (concurrent attempts cannot exceed any limit), in ONE round trip. The counters are
    django-ratelimit's own (same keys, values and expiry as :meth:`FailureLimiter.register_failure`
    writes), so :meth:`~FailureLimiter.retry_after` and ``reset`` read them as before. On another
    cache the same steps run one after the other (not atomic: LocMemCache is per process anyway).
    """
    if not hits or not _enabled():
        return [0] * len(hits)
    cache = _cache()
    if not isinstance(cache, RedisCache):
        retries = [limiter.retry_after(key) for limiter, key in hits]
        if not any(retries):
            for limiter, key in hits:
                limiter.register_failure(key)
        return retries
    buckets: list[int] = []
    keys: list[str] = []
    args: list[int] = []
    for limiter, key in hits:
        bucket, cache_key = limiter._bucket(key)
        buckets.append(bucket)
        keys.append(cache.make_and_validate_key(cache_key))
        args += [limiter.limit, limiter.window + ratelimit_core.EXPIRATION_FUDGE]
    blocked = _HIT_ALL_SCRIPT(keys=keys, args=args, client=cache._cache.get_client(write=True))
    refused = {int(index) - 1 for index in blocked}  # Lua counts from 1
    return [
        FailureLimiter._until(bucket) if index in refused else 0
        for index, bucket in enumerate(buckets)
    ]


def _script(text: str) -> Script:
    """A Lua script run through redis-py's :class:`~redis.commands.core.Script`: EVALSHA, and
    on the first use on a server (or after SCRIPT FLUSH, a restart) SCRIPT LOAD then EVALSHA."""
    return Script(None, text.encode("ascii"))


# django-ratelimit's increment (cache.add of 1 with the window plus its fudge as expiry, else an
# atomic incr) on every counter, preceded by the check of every counter, in one script: KEYS are
# the counters, ARGV the limit and expiry of each in turn. Returns the (1-based) positions of the
# blocked counters, an empty list when all were counted. A script runs alone on the server: no
# other hit comes between the checks and the counts. Values are plain integers in Django's Redis
# cache (its serializer leaves ints unpickled), as INCR needs.
_HIT_ALL_SCRIPT = _script("""
local blocked = {}
for i, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') >= tonumber(ARGV[2 * i - 1]) then
    blocked[#blocked + 1] = i
  end
end
if #blocked > 0 then return blocked end
for i, key in ipairs(KEYS) do
  if not redis.call('SET', key, 1, 'EX', ARGV[2 * i], 'NX') then redis.call('INCR', key) end
end
return blocked
""")


def add_unless_blocked(
    limiter: FailureLimiter, key: str, single_use_key: str, timeout: int
) -> tuple[int, bool]:
    """``limiter.retry_after(key)``, and when it is 0 ``cache.add(single_use_key, 1, timeout)``.

    Returns ``(retry_after, added)``: ``(n, False)`` when ``key`` is blocked (nothing added),
    else ``(0, whether single_use_key was new)``. ``single_use_key`` lives in Django's default
    cache (``django.core.cache.cache``), like any ``cache.add``.

    Why: the card app API reads the bad-request counter of the client's address and records the
    request's ``jti`` (single use) on every request; on Redis, with the limiters in the default
    cache, both are one script (one round trip instead of two). Nothing is recorded for a blocked
    key. Otherwise (another cache, or limiters in another cache than the default one) the same two
    steps run one after the other.
    """
    cache = caches["default"]
    timeout = int(timeout)
    if timeout < 1:
        raise ValueError("a single-use key needs a timeout of at least one second")
    if not _enabled():
        return 0, cache.add(single_use_key, 1, timeout)
    if not isinstance(cache, RedisCache) or _cache() is not cache:
        retry = limiter.retry_after(key)
        return (retry, False) if retry else (0, cache.add(single_use_key, 1, timeout))
    bucket, counter_key = limiter._bucket(key)
    keys = (cache.make_and_validate_key(counter_key), cache.make_and_validate_key(single_use_key))
    outcome = _ADD_UNLESS_BLOCKED_SCRIPT(
        keys=keys, args=(limiter.limit, timeout), client=cache._cache.get_client(write=True)
    )
    if outcome < 0:
        return FailureLimiter._until(bucket), False
    return 0, bool(outcome)


# KEYS[1] a django-ratelimit counter, KEYS[2] the single-use key; ARGV the limit and the timeout.
# -1: blocked (nothing written); 1: added (SET NX EX, as Django's cache.add of the integer 1);
# 0: already there.
_ADD_UNLESS_BLOCKED_SCRIPT = _script("""
if tonumber(redis.call('GET', KEYS[1]) or '0') >= tonumber(ARGV[1]) then return -1 end
if redis.call('SET', KEYS[2], 1, 'EX', ARGV[2], 'NX') then return 1 end
return 0
""")


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
