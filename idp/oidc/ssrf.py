"""Outgoing requests to addresses a relying party chose: checked, pinned, never redirected.

A client registers its ``backchannel_logout_uri`` (OpenID Connect Back-Channel Logout 1.0 §2.2);
the provider then POSTs to it from inside its own network. Without care that is a server-side
request forgery primitive (OWASP SSRF Prevention Cheat Sheet): a URI naming ``127.0.0.1``, a
private range, a cloud metadata address (``169.254.169.254``) or a host name that resolves to one.

The rules here:

* ``https`` only (Back-Channel Logout §2.2 recommends TLS; the token carries a session id),
  unless ``IDP_BACKCHANNEL_ALLOW_PRIVATE`` (tests, closed networks), which also allows ``http``;
* no user information in the URL, a host name is required;
* the host name is resolved once, and *every* address it resolves to must be globally routable
  (``ipaddress``' ``is_global``, which excludes loopback, RFC 1918, link-local, CGNAT, ULA,
  documentation, reserved and IPv4-mapped forms of those; multicast refused too);
* the connection goes to the address that was checked, with the original host name in the
  ``Host`` header and in TLS SNI and certificate verification, so a second DNS answer
  (DNS rebinding) cannot move the request elsewhere;
* redirects are never followed (``http.client`` does not follow them; a 3xx is a failure),
  the response body is not read beyond a few kilobytes.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import socket
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

# A logout endpoint answers 200 or 204 with an (almost) empty body; read no more than this.
MAX_RESPONSE_BYTES = 4096


class UnsafeDestination(ValueError):
    """The URL may not be contacted (scheme, syntax, or an address that is not public)."""


@dataclass(frozen=True)
class Destination:
    """A URL whose host has been resolved to ``ip`` and checked."""

    scheme: str
    host: str
    port: int
    ip: str
    target: str  # path and query, what goes on the request line


# IPv6 ranges that carry an IPv4 address a translator or tunnel may deliver to, so that
# 64:ff9b::7f00:1 reaches 127.0.0.1 on a network with NAT64, though Python calls it global:
# NAT64 (RFC 6052, RFC 8215), 6to4 (RFC 3056) and the deprecated IPv4-compatible addresses.
_TRANSLATED_IPV6 = tuple(
    ipaddress.ip_network(net) for net in ("64:ff9b::/96", "64:ff9b:1::/48", "2002::/16", "::/96")
)


def is_public_address(address: str) -> bool:
    """Whether ``address`` is a globally routable unicast address (IANA special registries)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone index
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is loopback, whatever its spelling
        elif any(ip in net for net in _TRANSLATED_IPV6):
            return False
    return ip.is_global and not ip.is_multicast


def resolve(url: str, *, allow_private: bool) -> Destination:
    """Parse ``url``, resolve its host and check every address; raise UnsafeDestination."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeDestination(f"malformed URL: {exc}") from None
    allowed_schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in allowed_schemes:
        raise UnsafeDestination(f"scheme {parts.scheme!r} not allowed")
    if parts.username is not None or parts.password is not None:
        raise UnsafeDestination("credentials in the URL")
    host = parts.hostname
    if not host:
        raise UnsafeDestination("no host")
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeDestination(f"cannot resolve {host}: {exc}") from None
    addresses = [str(info[4][0]) for info in infos]
    if not addresses:
        raise UnsafeDestination(f"{host} has no address")
    if not allow_private:
        # All of them: a name answering one public and one private address is refused, since
        # which one a retry would use is not ours to decide.
        refused = [a for a in addresses if not is_public_address(a)]
        if refused:
            raise UnsafeDestination(f"{host} resolves to a non-public address {refused[0]}")
    target = parts.path or "/"
    if parts.query:
        target = f"{target}?{parts.query}"
    return Destination(parts.scheme, host, port, addresses[0], target)


def _connection(destination: Destination, timeout: float) -> http.client.HTTPConnection:
    conn: http.client.HTTPConnection
    if destination.scheme == "https":
        conn = http.client.HTTPSConnection(
            destination.host,
            destination.port,
            timeout=timeout,
            context=ssl.create_default_context(),
        )
    else:
        conn = http.client.HTTPConnection(destination.host, destination.port, timeout=timeout)

    def pinned(address: Any, timeout: Any = None, source_address: Any = None) -> socket.socket:
        # http.client connects through this hook; the host name stays for Host and SNI.
        return socket.create_connection((destination.ip, destination.port), timeout, source_address)

    conn._create_connection = pinned  # type: ignore[attr-defined]
    return conn


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    timeout: float,
    allow_private: bool,
    answer_headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    """POST ``body`` to a checked, pinned address; return (status, start of the answer).

    ``answer_headers``, if given, receives the answer's headers (names in lower case).

    The host is resolved once and checked (:func:`resolve`), and the connection goes to that
    address (no second resolution: no DNS rebinding), with the host name kept for Host and TLS
    SNI/verification; a redirect is never followed (it is just the status). Raises
    UnsafeDestination before any connection when the URL is refused, OSError (including
    timeouts) and http.client.HTTPException on network failures.
    """
    destination = resolve(url, allow_private=allow_private)
    conn = _connection(destination, timeout)
    try:
        conn.request("POST", destination.target, body=body, headers=headers)
        response = conn.getresponse()
        if answer_headers is not None:
            answer_headers.update((k.lower(), v) for k, v in response.getheaders())
        return response.status, response.read(MAX_RESPONSE_BYTES)
    finally:
        conn.close()


def post_form(
    url: str, fields: dict[str, str], *, timeout: float, allow_private: bool
) -> tuple[int, bytes]:
    """POST ``fields`` as application/x-www-form-urlencoded (back-channel logout), see
    :func:`post`."""
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Accept": "application/json",
        "User-Agent": "Caducee-OP/1 (backchannel-logout)",
        "Cache-Control": "no-store",
    }
    body = urlencode(fields).encode("ascii")
    return post(url, body, headers, timeout=timeout, allow_private=allow_private)


def post_json(
    url: str,
    payload: dict[str, Any],
    *,
    bearer: str,
    timeout: float,
    allow_private: bool,
) -> tuple[int, bytes]:
    """POST ``payload`` as JSON with ``Authorization: Bearer <bearer>`` (the CIBA ping, OpenID
    CIBA Core 1.0 §10.2), see :func:`post`."""
    headers = {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {bearer}",
        "User-Agent": "Caducee-OP/1 (ciba-ping)",
        "Cache-Control": "no-store",
    }
    body = json.dumps(payload).encode("utf-8")
    return post(url, body, headers, timeout=timeout, allow_private=allow_private)
