"""Matching a requested redirect URI against a client's registered ones.

Exact string comparison (RFC 6749 §3.1.2.3, OAuth 2.0 Security BCP RFC 9700 §4.1.3: "exact string
matching"): no prefix, suffix, case folding or normalisation. The one exception is RFC 8252 §7.3
for native applications: a loopback redirect URI may use any port, because the operating system
picks a free port at run time.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

# RFC 8252 §7.3 names the IP literals; "localhost" is NOT RECOMMENDED (§8.3) and gets no leeway.
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "[::1]"})


def _without_port(uri: str) -> str | None:
    """``uri`` with its port removed, if it is a plain http loopback IP URI (else None)."""
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 (raises ValueError on a malformed or out-of-range port)
    except ValueError:
        return None
    if parts.scheme != "http" or "@" in parts.netloc:
        return None
    host = parts.netloc.rsplit(":", 1)[0] if parts.port is not None else parts.netloc
    if host not in _LOOPBACK_HOSTS:
        return None
    return parts._replace(netloc=host).geturl()


def is_registered(requested: str, registered: Iterable[str], *, native: bool = False) -> bool:
    """Is ``requested`` one of ``registered``?

    RFC 6749 §3.1.2.3 / RFC 9700 §4.1.3: exact match. For ``native`` clients only, RFC 8252 §7.3:
    "The authorization server MUST allow any port to be specified at the time of the request for
    loopback IP redirect URIs", compared with the registered URI without its port.
    """
    registered = tuple(registered)
    if requested in registered:
        return True
    if not native:
        return False
    bare = _without_port(requested)
    if bare is None:
        return False
    return any(_without_port(uri) == bare for uri in registered)
