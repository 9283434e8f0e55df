"""The client's address behind a trusted reverse proxy.

Behind nginx every request reaches the application from the proxy's address, so rate limits and the
audit journal would see one client for the whole internet. The proxy appends the address it saw to
``X-Forwarded-For``; this middleware believes that header only when the request comes from a
configured trusted proxy, and then takes the right-most address that is not itself a trusted proxy
(the left part of the header is whatever the client chose to send, RFC 7239 §8.3).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest, HttpResponse

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Where the address the request really came from (the proxy's) is kept.
PROXY_ADDRESS_META_KEY = "IDP_PROXY_ADDR"


@lru_cache(maxsize=4)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


# The same few addresses come back on every request (the proxy's own, each client's for the
# requests of its login): parsed once. Bounded, so a client varying its header costs only misses.
@lru_cache(maxsize=1024)
def _parse(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        parsed = ipaddress.ip_address(address.strip())
    except ValueError:
        return None
    mapped = getattr(parsed, "ipv4_mapped", None)
    return mapped or parsed


def _trusted(address: object, networks: Iterable[Network]) -> bool:
    return address is not None and any(address in network for network in networks)


def client_address(remote_addr: str, forwarded_for: str, trusted: tuple[str, ...]) -> str:
    """The client's address given the socket peer and the X-Forwarded-For header."""
    networks = _networks(trusted)
    if not forwarded_for or not _trusted(_parse(remote_addr), networks):
        return remote_addr
    for hop in reversed(forwarded_for.split(",")):
        parsed = _parse(hop)
        if parsed is None:
            # A malformed hop: nothing to its left can be trusted either.
            return remote_addr
        if not _trusted(parsed, networks):
            return str(parsed)
    return remote_addr


class TrustedProxyMiddleware:
    """Set REMOTE_ADDR to the client's address when a trusted proxy forwarded the request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        trusted = tuple(settings.IDP_TRUSTED_PROXIES)
        forwarded_for = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if trusted and forwarded_for:
            remote = request.META.get("REMOTE_ADDR", "")
            request.META[PROXY_ADDRESS_META_KEY] = remote
            request.META["REMOTE_ADDR"] = client_address(remote, forwarded_for, trusted)
        return self.get_response(request)
