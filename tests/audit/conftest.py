"""Fixtures for the audit journal's tests."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from tests.audit.tampering import _audit_journal_flushable  # noqa: F401 (autouse fixture)


@pytest.fixture
def http_request():
    """A request as a browser behind the reverse proxy would send it."""
    return RequestFactory().get(
        "/admin/login/",
        REMOTE_ADDR="203.0.113.7",
        HTTP_USER_AGENT="Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
        HTTP_X_FORWARDED_FOR="198.51.100.99",
        HTTP_X_REQUEST_ID="req-42",
    )


@pytest.fixture
def three_events(db):
    """A journal of three events."""
    from idp.audit.journal import record
    from idp.audit.tags import EventTag

    return [
        record(EventTag.ADMIN_LOGIN_SUCCEEDED, actor="admin:alice", subject="admin:alice"),
        record(
            EventTag.ACCOUNTS_PROFESSIONAL_SUSPENDED,
            actor="admin:alice",
            subject="professional:f3c9",
            data={"reason": "licence withdrawn", "idnat": "810001234567"},
        ),
        record(EventTag.ADMIN_LOGOUT, actor="admin:alice"),
    ]
