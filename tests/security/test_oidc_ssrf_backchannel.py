"""Attack: use the back-channel logout URI to make the provider call internal addresses (SSRF).

A client registers a ``backchannel_logout_uri`` naming loopback, a private range, the cloud
metadata address, a host name resolving to one of those, or a public endpoint that redirects
inward. The provider must refuse before connecting (or not follow the redirect), record the
failure, and change nothing else.
"""

from __future__ import annotations

import socket

import pytest

from idp.audit.models import AuditEvent
from idp.oidc import backchannel, ssrf
from idp.oidc.models import LogoutDelivery
from relying_parties import registry
from tests.oidc.factories import make_client, make_professional, rpps
from tests.oidc.issued import issue, open_session
from tests.oidc.logout_receiver import LogoutReceiver


@pytest.fixture(scope="module")
def _module_key_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("signing-keys")


@pytest.fixture(autouse=True)
def _provider(settings, _module_key_dir):
    """Signing keys and a fresh client cache, as the provider's own tests have."""
    settings.IDP_KEY_DIR = _module_key_dir
    settings.IDP_AUTOGENERATE_KEYS = True
    registry.forget()
    yield
    registry.forget()


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",  # noqa: S104 (an address refused, not bound)
        "224.0.0.1",
        "::1",
        "fd00::1",
        "fe80::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "192.0.2.10",  # documentation range
        "64:ff9b::7f00:1",  # NAT64 to 127.0.0.1
        "64:ff9b:1::a00:1",  # local-use NAT64 to 10.0.0.1
        "2002:7f00:1::1",  # 6to4 around 127.0.0.1
        "::7f00:1",  # IPv4-compatible 127.0.0.1
    ],
)
def test_non_public_addresses_are_refused(address):
    assert ssrf.is_public_address(address) is False


@pytest.mark.parametrize("address", ["8.8.8.8", "2001:4860:4860::8888", "193.51.24.1"])
def test_public_addresses_are_allowed(address):
    assert ssrf.is_public_address(address) is True


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/logout",
        "https://[::1]/logout",
        "https://10.0.0.5/logout",
        "https://169.254.169.254/latest/meta-data/",
        "https://localhost/logout",  # a name resolving to loopback
        "https://2130706433/logout",  # 127.0.0.1 as one decimal number
        "http://8.8.8.8/logout",  # plain http refused outside tests
        "ftp://8.8.8.8/logout",
        "https://user:pw@8.8.8.8/logout",
        "https:///logout",
    ],
)
def test_unsafe_urls_are_refused_before_connecting(url):
    with pytest.raises(ssrf.UnsafeDestination):
        ssrf.resolve(url, allow_private=False)


def test_the_checked_address_is_the_one_connected_to(monkeypatch):
    """DNS rebinding: the host name is resolved once; the socket goes to that address."""
    server = LogoutReceiver()
    try:
        calls = []
        real = socket.getaddrinfo

        def rebinding(host, *args, **kwargs):
            if host != "rp.example.test":
                return real(host, *args, **kwargs)
            calls.append(host)
            # The first answer passes the check; any later lookup would lead elsewhere.
            return real("127.0.0.1" if len(calls) == 1 else "192.0.2.1", *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", rebinding)
        status, _ = ssrf.post_form(
            f"http://rp.example.test:{server.port}/bc",
            {"logout_token": "x"},
            timeout=2,
            allow_private=True,
        )
        assert status == 200
        assert calls == ["rp.example.test"]
        [request] = server.received
        assert request.headers["Host"] == f"rp.example.test:{server.port}"
    finally:
        server.close()


def test_name_resolving_to_a_private_address_is_refused(monkeypatch):
    real = socket.getaddrinfo
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda host, *a, **k: real(
            "10.0.0.7" if host == "intranet.example.test" else host, *a, **k
        ),
    )
    with pytest.raises(ssrf.UnsafeDestination, match="non-public"):
        ssrf.resolve("https://intranet.example.test/logout", allow_private=False)


@pytest.mark.django_db
def test_delivery_to_loopback_is_refused_and_nothing_is_sent(settings):
    settings.IDP_BACKCHANNEL_ALLOW_PRIVATE = False
    server = LogoutReceiver()
    try:
        professional = make_professional("8" + rpps(51))
        client, _ = make_client(
            client_id="rp", backchannel_logout_uri=f"https://127.0.0.1:{server.port}/bc"
        )
        session = open_session(professional)
        issue(client, professional, session=session)
        backchannel.schedule_logout(session)
        delivery = LogoutDelivery.objects.get()
        before = AuditEvent.objects.count()

        assert backchannel.attempt(delivery.pk) is False

        assert server.received == []
        delivery.refresh_from_db()
        assert delivery.last_error.startswith("refused destination")
        assert delivery.delivered_at is None
        assert list(AuditEvent.objects.values_list("tag", flat=True)[before:]) == [
            "oidc:backchannel:failed"
        ]
    finally:
        server.close()


@pytest.mark.django_db
def test_redirects_are_not_followed(settings):
    settings.IDP_BACKCHANNEL_ALLOW_PRIVATE = True
    inner = LogoutReceiver()
    outer = LogoutReceiver()
    outer.script.append((307, 0, {"Location": inner.url("/internal-admin")}))
    try:
        professional = make_professional("8" + rpps(52))
        client, _ = make_client(client_id="rp", backchannel_logout_uri=outer.url())
        session = open_session(professional)
        issue(client, professional, session=session)
        backchannel.schedule_logout(session)
        delivery = LogoutDelivery.objects.get()

        assert backchannel.attempt(delivery.pk) is False

        assert len(outer.received) == 1
        assert inner.received == []
        delivery.refresh_from_db()
        assert delivery.last_error == "HTTP 307"
    finally:
        inner.close()
        outer.close()
