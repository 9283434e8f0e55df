"""Fixtures shared by the whole suite."""

from __future__ import annotations

import time

import pytest

# The audit journal is append-only (database triggers): transactional tests on SQLite need this
# fixture to empty it before pytest-django flushes the tables.
from tests.audit.tampering import _audit_journal_flushable  # noqa: F401


@pytest.fixture(autouse=True)
def _plain_http_test_client(settings):
    """The test client speaks plain HTTP.

    In production TLS ends at the reverse proxy and SECURE_SSL_REDIRECT sends stray plain-HTTP
    requests to https; tests that exercise that redirect turn it back on themselves.
    """
    settings.SECURE_SSL_REDIRECT = False


@pytest.fixture(autouse=True)
def _isolated_cache():
    """Each test starts with an empty cache (Redis is shared between runs under CI)."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


class RatelimitClock:
    """The clock django-ratelimit reads, stopped; tests move it by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def ratelimit_clock(monkeypatch) -> RatelimitClock:
    """Stop django-ratelimit's clock (idp.core.ratelimit counts failures in fixed time buckets).

    A test that counts failures must not cross a bucket boundary by chance, which would restart the
    count halfway. Only ``django_ratelimit.core``'s ``time`` is replaced: TOTP codes, sessions and
    the journal keep the real clock.
    """
    from django_ratelimit import core

    clock = RatelimitClock(float(int(time.time())))
    monkeypatch.setattr(core, "time", clock)
    return clock
