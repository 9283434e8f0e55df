"""The client's address is taken from X-Forwarded-For only through a trusted proxy."""

import pytest

from idp.core.proxy import client_address

LOOPBACK = ("127.0.0.1/32", "::1/128")


@pytest.mark.parametrize(
    ("remote", "forwarded", "trusted", "expected"),
    [
        # nginx on loopback appended the address it saw: believe it.
        ("127.0.0.1", "203.0.113.7", LOOPBACK, "203.0.113.7"),
        # The client's own X-Forwarded-For entries (left) are ignored: right-most untrusted wins.
        ("127.0.0.1", "198.51.100.1, 203.0.113.7", LOOPBACK, "203.0.113.7"),
        # A chain of trusted proxies is walked through.
        ("127.0.0.1", "203.0.113.7, 10.0.0.2", (*LOOPBACK, "10.0.0.0/8"), "203.0.113.7"),
        # A request straight from the internet cannot choose its address.
        ("203.0.113.9", "127.0.0.1", LOOPBACK, "203.0.113.9"),
        # No trusted proxy configured: the header means nothing.
        ("127.0.0.1", "203.0.113.7", (), "127.0.0.1"),
        # Garbage in the header: keep the socket's address.
        ("127.0.0.1", "not-an-ip", LOOPBACK, "127.0.0.1"),
        # IPv6 and IPv4-mapped addresses.
        ("::1", "2001:db8::5", LOOPBACK, "2001:db8::5"),
        ("::ffff:127.0.0.1", "203.0.113.7", LOOPBACK, "203.0.113.7"),
        # Only trusted hops: nothing better than the socket's address.
        ("127.0.0.1", "127.0.0.1", LOOPBACK, "127.0.0.1"),
    ],
)
def test_client_address(remote, forwarded, trusted, expected):
    assert client_address(remote, forwarded, trusted) == expected


@pytest.mark.django_db
def test_audit_and_limits_see_the_forwarded_address(client, settings):
    from idp.audit.models import AuditEvent
    from idp.audit.tags import EventTag

    settings.IDP_TRUSTED_PROXIES = list(LOOPBACK)
    client.post(
        "/admin/login/",
        {"username": "nobody", "password": "x", "otp_token": "123456"},
        REMOTE_ADDR="127.0.0.1",
        HTTP_X_FORWARDED_FOR="198.51.100.1, 203.0.113.7",
    )
    event = AuditEvent.objects.filter(tag=EventTag.ADMIN_LOGIN_FAILED).latest("sequence")
    assert event.ip == "203.0.113.7"
