"""Scopes the provider knows, and how a requested scope is narrowed (RFC 6749 §3.3).

PSC behaviour (psc-compat.md § Requests): unknown scopes are dropped, not refused; scopes the
client may not obtain are dropped too. RFC 6749 §3.3 allows this ("The authorization server MAY
fully or partially ignore the scope requested by the client") as long as the granted scope is
returned, which the token endpoint does.
"""

from __future__ import annotations

from collections.abc import Iterable

OPENID = "openid"
#: Scopes the provider can grant: OIDC Core §5.4 plus PSC's scope_all.
KNOWN_SCOPES = frozenset({"openid", "profile", "email", "scope_all", "offline_access"})


def narrow(requested: str, allowed: Iterable[str]) -> tuple[str, ...]:
    """The requested scopes that are known and allowed for the client, in request order, once."""
    allowed = frozenset(allowed)
    granted: list[str] = []
    for scope in requested.split():
        if scope in KNOWN_SCOPES and scope in allowed and scope not in granted:
            granted.append(scope)
    return tuple(granted)
