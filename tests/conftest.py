"""Fixtures shared by the whole suite."""

from __future__ import annotations

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
