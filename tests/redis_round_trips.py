"""Counting the round trips to Redis that a piece of code makes, on the wire.

The hot paths promise a number of Redis round trips (one script, one pipeline, one MGET):
:func:`redis_round_trips` records every write to a Redis socket (one write per round trip: a
command, a script call, a whole pipeline) with the commands it carried, decoded from the RESP
bytes actually sent. Connection set-up commands (a new pooled connection's HELLO, AUTH, SELECT,
CLIENT SETINFO) are left out: they happen once per connection, not per request.

Only meaningful with Redis as the cache (``REDIS_URL``): elsewhere the test skips, saying why.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

import pytest
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from redis.connection import AbstractConnection

_SET_UP = {"HELLO", "AUTH", "SELECT", "CLIENT"}


class RoundTrips:
    """What was sent: one list of commands (each a tuple of its arguments) per round trip."""

    def __init__(self) -> None:
        self.sent: list[list[tuple[str, ...]]] = []

    def __len__(self) -> int:
        return len(self.sent)

    @property
    def names(self) -> list[list[str]]:
        """The command names of each round trip, e.g. ``[["EVALSHA"], ["GET", "SET"]]``."""
        return [[command[0].upper() for command in trip] for trip in self.sent]

    def record(self, packed: str | bytes | bytearray | memoryview | list) -> None:
        if isinstance(packed, str):
            packed = packed.encode()
        elif isinstance(packed, list | tuple):
            packed = b"".join(bytes(chunk) for chunk in packed)
        commands = _decode(bytes(packed))
        if commands and not all(command[0].upper() in _SET_UP for command in commands):
            self.sent.append(commands)


def _decode(data: bytes) -> list[tuple[str, ...]]:
    """RESP arrays of bulk strings (what a client sends) into tuples of arguments."""
    commands = []
    position = 0
    while position < len(data):
        assert data[position : position + 1] == b"*", data[position : position + 20]
        end = data.index(b"\r\n", position)
        count = int(data[position + 1 : end])
        position = end + 2
        arguments = []
        for _ in range(count):
            assert data[position : position + 1] == b"$"
            end = data.index(b"\r\n", position)
            length = int(data[position + 1 : end])
            start = end + 2
            arguments.append(data[start : start + length].decode("utf-8", "replace"))
            position = start + length + 2
        commands.append(tuple(arguments))
    return commands


def require_redis() -> RedisCache:
    """The default cache if it is Redis, else skip the test (round trips are Redis's)."""
    cache = caches["default"]
    if not isinstance(cache, RedisCache):
        pytest.skip("counts round trips to Redis: run with REDIS_URL=redis://… (here LocMemCache)")
    return cache


@contextmanager
def redis_round_trips() -> Iterator[RoundTrips]:
    """Record the round trips to Redis made inside the block (by any connection)."""
    require_redis()
    trips = RoundTrips()
    original = AbstractConnection.send_packed_command

    def send_packed_command(self, command, check_health=True):
        trips.record(command)
        return original(self, command, check_health)

    with mock.patch.object(AbstractConnection, "send_packed_command", send_packed_command):
        yield trips
