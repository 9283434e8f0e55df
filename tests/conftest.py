"""Fixtures shared by the whole suite."""

from __future__ import annotations

import time

import pytest

# The audit journal is append-only (database triggers): transactional tests on SQLite need this
# fixture to empty it before pytest-django flushes the tables.
from tests.audit.tampering import _audit_journal_flushable  # noqa: F401


@pytest.fixture(autouse=True, scope="session")
def _plain_http_test_client():
    """The test client and the live test server speak plain HTTP.

    In production TLS ends at the reverse proxy and SECURE_SSL_REDIRECT sends stray plain-HTTP
    requests to https; tests that exercise that redirect turn it back on themselves. Session-wide
    because the live server's middleware reads the setting once, when the server starts.
    """
    from django.conf import settings

    original = settings.SECURE_SSL_REDIRECT
    settings.SECURE_SSL_REDIRECT = False
    yield
    settings.SECURE_SSL_REDIRECT = original


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


@pytest.fixture(scope="session")
def _session_key_dir(tmp_path_factory):
    """One key directory for the whole run, created as an operator would: RSA keys cost tens of
    milliseconds to generate, and IDP_AUTOGENERATE_KEYS stays off (the checks refuse it)."""
    from idp.oidc.keys import load_directory

    directory = tmp_path_factory.mktemp("signing-keys")
    load_directory(directory, autogenerate=True)
    return directory


@pytest.fixture(autouse=True)
def oidc_keys(settings, _session_key_dir):
    """The provider's signing keys, from the session's key directory."""
    settings.IDP_KEY_DIR = _session_key_dir
    return _session_key_dir


@pytest.fixture(autouse=True)
def _fresh_client_cache():
    """Each test sees the client registry as the database holds it."""
    from relying_parties import registry

    registry.forget()
    yield
    registry.forget()
